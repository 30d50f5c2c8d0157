// transformers CLIPTextModel (models/clip/modeling_clip.py), the text encoder of SD 1.x / 2.x:
//   x = token_embedding(ids) + position_embedding(0..L-1)
//   per layer (pre-LN):  x = x + out_proj(attention(q_proj, k_proj, v_proj of layer_norm1(x)), causal)
//                        x = x + fc2(act(fc1(layer_norm2(x))))       act = quick_gelu or gelu
//   last_hidden_state = final_layer_norm(x)
// "Clip skip" (penultimate layer, as SD 2.x front ends use it) stops one layer early and applies
// final_layer_norm to hidden_states[-2]. SD pipelines pass no padding mask: only the causal one.
// ComfyUI's CLIPAttentionMultiply (steering/clip-attention-multipliers.ts) scales q/k/v/out_proj of
// every layer; a plan recorded with `multipliers` reads those 4 factors from a buffer at run time, as
// the UNet's attention reads its site table: q·k on the logits, v on the values, out on out_proj.
import type { GpuContext } from '../gpu/gpu-context';
import { Recorder, type Plan } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import { embedding } from '../kernels/embedding';
import { layerNorm } from '../kernels/norm';
import { linear } from '../kernels/linear';
import { attention } from '../kernels/attention';
import { gelu, quickGelu } from '../kernels/activation';
import { loadWeights } from '../weights/gpu-weights';
import { ConfigReader, type ConfigFields } from './config-fields';
import { subFolder, type ModelFolder } from '../weights/model-folder';
import type { WeightStore } from '../weights/weight-store';
import type { AttentionMultipliers } from '../api';

/** config.json of a CLIPTextModel (or a CLIPModel, whose `text_config` holds these), Hugging Face field names. */
export interface ClipTextConfig {
  vocab_size?: number;
  hidden_size?: number;
  intermediate_size?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  max_position_embeddings?: number;
  hidden_act?: string;
  layer_norm_eps?: number;
  text_config?: ClipTextConfig;
}

export type ClipActivation = 'quick_gelu' | 'gelu';

export interface ClipTextSpec {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  maxPositions: number;
  activation: ClipActivation;
  layerNormEps: number;
}

export interface ClipEncodeOptions {
  /** Output final_layer_norm(hidden_states[-2]) instead of last_hidden_state. */
  clipSkip?: boolean;
  /** Every self-attention's q, k, v, out factors (ComfyUI CLIPAttentionMultiply); absent or all
   * ones: the plain encoder, whose plan reads no factors. */
  multipliers?: AttentionMultipliers;
}

const WEIGHT_FILES = ['model.safetensors', 'model.fp16.safetensors'];

/** Reads a config with transformers' CLIPTextConfig defaults, refusing what this encoder cannot run. */
export function parseClipTextConfig(raw: ClipTextConfig, where = 'config.json'): ClipTextSpec {
  const config = raw.text_config ?? raw;
  const read = new ConfigReader(config as ConfigFields, where);
  const activation = config.hidden_act ?? 'quick_gelu';
  if (activation !== 'quick_gelu' && activation !== 'gelu') throw read.refuse('hidden_act', activation, '"quick_gelu" or "gelu"');
  // Bounds far above every CLIP text model (ViT-bigG: 1280 wide, 32 layers, 20 heads, 5120 hidden).
  const hiddenSize = read.int('hidden_size', 512, 16384);
  const heads = read.int('num_attention_heads', 8, 256);
  if (hiddenSize % heads !== 0) throw read.refuse('num_attention_heads', heads, `must divide hidden_size ${hiddenSize}`);
  return {
    vocabSize: read.int('vocab_size', 49408, 1_000_000),
    hiddenSize,
    intermediateSize: read.int('intermediate_size', 2048, 65536),
    layers: read.int('num_hidden_layers', 12, 128),
    heads,
    maxPositions: read.int('max_position_embeddings', 77, 4096, 2),
    activation,
    layerNormEps: read.number('layer_norm_eps', 1e-5, 0, 1),
  };
}

/**
 * Records the encoder on token ids read from `ids` (batch * length u32) -> [batch, length, hidden].
 * Weights are keyed without the `text_model.` prefix. Runs `layers` encoder layers (all of them, or
 * one fewer for clip skip), then final_layer_norm.
 */
export function clipTextEncode(rec: Recorder, ids: GPUBuffer, batch: number, length: number, weights: WeightStore, spec: ClipTextSpec, layers = spec.layers, multipliers?: GPUBuffer): Tensor {
  const w = (name: string) => weights.get(name);
  const eps = spec.layerNormEps;
  let x = embedding(rec, ids, batch * length, w('embeddings.token_embedding.weight'), {
    positions: w('embeddings.position_embedding.weight'),
    length,
    label: 'embeddings',
  });
  for (let i = 0; i < layers; i++) {
    const p = `encoder.layers.${i}`;
    const project = (input: Tensor, name: string, residual?: Tensor, outputScale?: { buffer: GPUBuffer; index: number }) =>
      linear(rec, input, w(`${p}.${name}.weight`), w(`${p}.${name}.bias`), { residual, outputScale, label: `${p}.${name}` });

    const h1 = layerNorm(rec, x, w(`${p}.layer_norm1.weight`), w(`${p}.layer_norm1.bias`), { eps, label: `${p}.layer_norm1` });
    const q = project(h1, 'self_attn.q_proj');
    const k = project(h1, 'self_attn.k_proj');
    const v = project(h1, 'self_attn.v_proj');
    rec.release(h1);
    // One set of factors for every layer: site 0 of the buffer (q, k, v, out).
    const attended = attention(rec, q, k, v, { heads: spec.heads, causal: true, multipliers: multipliers && { buffer: multipliers, site: 0 } });
    rec.release(q, k, v);
    const afterAttention = project(attended, 'self_attn.out_proj', x, multipliers && { buffer: multipliers, index: 3 });
    rec.release(attended, x);

    const h2 = layerNorm(rec, afterAttention, w(`${p}.layer_norm2.weight`), w(`${p}.layer_norm2.bias`), { eps, label: `${p}.layer_norm2` });
    const hidden = project(h2, 'mlp.fc1');
    rec.release(h2);
    const activated = spec.activation === 'quick_gelu' ? quickGelu(rec, hidden) : gelu(rec, hidden);
    rec.release(hidden);
    x = project(activated, 'mlp.fc2', afterAttention);
    rec.release(activated, afterAttention);
  }
  const out = layerNorm(rec, x, w('final_layer_norm.weight'), w('final_layer_norm.bias'), { eps, label: 'final_layer_norm' });
  rec.release(x);
  return out;
}

interface EncodePlan {
  plan: Plan;
  ids: GPUBuffer;
  output: Tensor;
}

/** A CLIP text encoder with its weights on the GPU; one recorded Plan per (batch, length, output). */
export class ClipTextEncoder {
  private readonly plans = new Map<string, EncodePlan>();
  /** The attention factors (q, k, v, out) that plans recorded with multipliers read. */
  private multipliers?: GPUBuffer;

  private constructor(
    private readonly gpu: GpuContext,
    readonly spec: ClipTextSpec,
    private readonly weights: WeightStore,
  ) {}

  /** Tokens per prompt the position embeddings allow (77 for SD). */
  get maxLength(): number {
    return this.spec.maxPositions;
  }

  get hiddenSize(): number {
    return this.spec.hiddenSize;
  }

  /** Reads `subdir`/config.json and model.safetensors (keys `text_model.*`). */
  /** Reads config.json and model.safetensors, or its fp16 variant when that is the only one or `preferFp16`. */
  static async load(gpu: GpuContext, folder: ModelFolder, subdir = 'text_encoder', opts: { onProgress?: (loaded: number, total: number) => void; preferFp16?: boolean } = {}): Promise<ClipTextEncoder> {
    const dir = subdir ? subFolder(folder, subdir) : folder;
    const spec = parseClipTextConfig(await dir.readJson<ClipTextConfig>('config.json'), `${dir.name}/config.json`);
    let file: string | undefined;
    for (const name of opts.preferFp16 ? [...WEIGHT_FILES].reverse() : WEIGHT_FILES) if (!file && (await dir.has(name))) file = name;
    if (!file) throw new Error(`${dir.name}: none of ${WEIGHT_FILES.join(', ')} found`);
    const weights = await loadWeights(gpu, await dir.open(file), {
      prefix: 'text_model.',
      // Older checkpoints store the position_ids buffer (int64 0..76); the encoder makes positions itself.
      filter: (name) => name !== 'embeddings.position_ids',
      onProgress: opts.onProgress,
    });
    return new ClipTextEncoder(gpu, spec, weights);
  }

  /**
   * Encodes `batch` prompts of tokenIds.length / batch ids each (at most maxLength), as the tokenizer
   * made them. Returns [batch, length, hidden] on the GPU; it stays valid until the next encode of
   * the same batch, length and clip skip, with or without multipliers as this one.
   */
  async encode(tokenIds: Int32Array, batch: number, opts: ClipEncodeOptions = {}): Promise<Tensor> {
    const length = tokenIds.length / batch;
    if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(length) || length < 1) {
      throw new Error(`ClipTextEncoder.encode: ${tokenIds.length} ids do not split into ${batch} prompts`);
    }
    if (length > this.maxLength) throw new Error(`ClipTextEncoder.encode: ${length} tokens per prompt, but the model has ${this.maxLength} positions`);
    const bad = tokenIds.findIndex((id) => id < 0 || id >= this.spec.vocabSize);
    if (bad >= 0) throw new Error(`ClipTextEncoder.encode: token id ${tokenIds[bad]} at ${bad} is outside the vocabulary of ${this.spec.vocabSize}`);

    const layers = opts.clipSkip ? this.spec.layers - 1 : this.spec.layers;
    if (layers < 1) throw new Error('ClipTextEncoder.encode: clip skip needs at least 2 layers');
    const m = opts.multipliers;
    const steered = !!m && (m.q !== 1 || m.k !== 1 || m.v !== 1 || m.out !== 1);
    if (steered && ![m.q, m.k, m.v, m.out].every(Number.isFinite)) throw new Error(`ClipTextEncoder.encode: attention multipliers must be finite, got ${JSON.stringify(m)}`);
    // The plain plan reads no factors; the steered one is recorded once and reads them at run time.
    const key = `${batch}x${length}|${layers}${steered ? '|multipliers' : ''}`;
    let entry = this.plans.get(key);
    if (!entry) {
      if (steered) this.multipliers ??= this.gpu.createBuffer('clip-text:attention-multipliers', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      const rec = new Recorder(this.gpu, `clip-text:${key}`);
      const ids = this.gpu.createBuffer(`clip-text:ids:${key}`, tokenIds.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      const output = rec.keep(clipTextEncode(rec, ids, batch, length, this.weights, this.spec, layers, steered ? this.multipliers : undefined));
      entry = { plan: rec.finish(), ids, output };
      this.plans.set(key, entry);
    }
    if (steered) this.gpu.write(this.multipliers!, Float32Array.of(m.q, m.k, m.v, m.out));
    this.gpu.write(entry.ids, tokenIds);
    entry.plan.run();
    return entry.output;
  }

  /** Reads an encode result back (tests, debugging). */
  readF32(t: Tensor): Promise<Float32Array> {
    return this.gpu.readF32(t.buffer, t.shape.reduce((a, b) => a * b, 1), t.byteOffset / 4);
  }

  destroy(): void {
    for (const { plan, ids } of this.plans.values()) {
      plan.destroy();
      ids.destroy();
    }
    this.plans.clear();
    this.multipliers?.destroy();
    this.weights.destroy();
  }
}
