// diffusers UNet2DConditionModel (unets/unet_2d_condition.py) on the engine's kernels.
//
// A call for one (batch, height, width, text length) is recorded once into a Plan and replayed:
// the caller writes the sample, timesteps and text embeddings into the call's input tensors, runs
// the plan and reads the output. The steering controls' per-site table (4 floats per attention site)
// lives in one small GPU buffer that `setSiteTable` rewrites; nothing is re-recorded when a slider moves.
// FreeU's factors likewise (`setSkipScaling`); only turning FreeU on or off picks another recording.
import type { GpuContext } from '../gpu/gpu-context';
import { Plan, Recorder } from '../gpu/recorder';
import { numel, type Tensor } from '../gpu/tensor';
import type { WeightStore } from '../weights/weight-store';
import type { ModelFolder } from '../weights/model-folder';
import type { ProgressCallback } from '../weights/byte-source';
import { loadWeights } from '../weights/gpu-weights';
import { parseSafetensorsHeader } from '../weights/safetensors';
import { firstPresent } from './image-output';
import { checkUNetWeights, expectedUNetWeights } from './unet-weights';
import type { AttentionSite } from '../api';
import { conv2d } from '../kernels/conv2d';
import { concatChannels, upsampleNearest2x } from '../kernels/layout';
import { freeuConcat, freeuLevel, NEUTRAL_FREEU_FACTORS, packFreeUFactors, type FreeUFactors } from '../kernels/freeu';
import { linear } from '../kernels/linear';
import { groupNorm } from '../kernels/norm';
import { timestepEmbedding } from '../kernels/timestep-embedding';
import { resnetBlock, stackTimeProjections, type TimeProjectionStack } from './resnet-block';
import { crossAttentionKeyValues, fuseCrossAttentionKeyValues, fuseSelfAttentionProjections, transformer2d, type AttentionProbeCallback, type AttentionSiteRef, type KeyValues } from './transformer-2d';
import { parseUNetConfig, type UNetConfig } from './unet-config';
import { CallProbes, type ProbeSpec } from './unet-probes';
import { enumerateSites, neutralSiteTable, type SiteTable } from './unet-sites';

/** Perturbed-attention guidance's change to a call: the self-attention modules (…attn1 paths) whose
 * attention is the identity for batch items `fromItem`.. (the perturbed items). */
export interface PerturbedSelfAttention {
  sites: readonly string[];
  fromItem: number;
}

/** One recorded UNet call and its input/output tensors. */
export interface UNetCall {
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly contextLength: number;
  readonly perturbed?: PerturbedSelfAttention;
  /** [B, in_channels, H, W] */
  readonly sample: Tensor;
  /** [B] */
  readonly timesteps: Tensor;
  /** [B, L, cross_attention_dim] */
  readonly context: Tensor;
  /** [B, out_channels, H, W] */
  readonly output: Tensor;
  readonly plan: Plan;
  /** Run after writing `context` (before `plan`): every cross-attention's keys and values of the
   * context, which `plan` reads; they depend on the text alone, so they are not recomputed per call. */
  readonly contextPlan: Plan;
  /** The attention probes recorded into `plan` (UNet.setProbes), if any. */
  readonly probes?: CallProbes;
}

export class UNet {
  readonly sites: AttentionSite[];
  /** The cross-attention modules (…attn2) in site order: the order of their stacked keys and values. */
  private readonly crossAttention: string[];
  private readonly siteIndex: Map<string, number>;
  private readonly multipliers: GPUBuffer;
  /** FreeU's factors (kernels/freeu.ts packFreeUFactors), and whether calls record FreeU at all. */
  private readonly freeuFactors: GPUBuffer;
  private freeuOn = false;
  private readonly calls = new Map<string, UNetCall>();
  /** What the calls prepared from now on probe (attention maps); none: no probe is recorded. */
  private probeSpec?: ProbeSpec;
  private lastCall?: UNetCall;
  /** The checkpoint's weights, plus each self-attention's stacked to_q, to_k, to_v (transformer-2d.ts)
   * and the ResNet blocks' stacked time-embedding projections (resnet-block.ts). */
  readonly weights: WeightStore;
  private readonly timeProjections?: TimeProjectionStack;

  constructor(
    readonly gpu: GpuContext,
    readonly config: UNetConfig,
    weights: WeightStore,
  ) {
    this.sites = enumerateSites(config);
    const selfAttention = this.sites.filter((s) => s.kind === 'attn1').map((s) => s.path);
    this.crossAttention = this.sites.filter((s) => s.kind === 'attn2').map((s) => s.path);
    const fused = fuseCrossAttentionKeyValues(gpu, fuseSelfAttentionProjections(gpu, weights, selfAttention), this.crossAttention);
    const stacked = stackTimeProjections(gpu, fused, resnetPrefixes(config));
    this.weights = stacked.weights;
    this.timeProjections = stacked.stack;
    this.siteIndex = new Map(this.sites.map((s) => [s.path, s.index]));
    this.multipliers = gpu.upload('unet:attention-multipliers', neutralSiteTable(this.sites));
    this.freeuFactors = gpu.upload('unet:freeu-factors', packFreeUFactors(NEUTRAL_FREEU_FACTORS));
  }

  /** Loads `config.json` and `diffusion_pytorch_model.safetensors` (or the hub's f16 variant,
   * `diffusion_pytorch_model.fp16.safetensors`, when the plain file is absent or `preferFp16`) from a
   * diffusers UNet folder. The config, and the checkpoint's tensor names and shapes against it, are
   * checked before any weight is read. */
  static async load(gpu: GpuContext, folder: ModelFolder, onProgress?: ProgressCallback, opts: { preferFp16?: boolean } = {}): Promise<UNet> {
    const config = parseUNetConfig(await folder.readJson('config.json'));
    const files = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'];
    const source = await folder.open(await firstPresent(folder, opts.preferFp16 ? files.reverse() : files));
    const header = await parseSafetensorsHeader(source);
    const expected = expectedUNetWeights(config);
    const problems = checkUNetWeights(expected, new Map(header.tensors.map((t) => [t.name, t.shape])));
    if (problems.length) {
      const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
      throw new Error(`${source.name} does not match its config.json: ${problems.slice(0, 5).join('; ')}${more}`);
    }
    const weights = await loadWeights(gpu, source, { onProgress, filter: (name) => expected.has(name) });
    return new UNet(gpu, config, weights);
  }

  /** Writes the per-site table (steering's buildSiteTable: q, k, v, out per site); takes effect on
   * the next call. */
  setSiteTable(table: SiteTable): void {
    if (table.length !== neutralSiteTable(this.sites).length) throw new Error(`UNet: a site table of ${table.length} floats for ${this.sites.length} attention sites`);
    this.gpu.write(this.multipliers, table);
  }

  /** FreeU's factors for the calls that follow, or undefined for none. Off records no FreeU dispatch;
   * while on, new factors are a buffer write and the recorded calls stay. */
  setSkipScaling(factors: Readonly<FreeUFactors> | undefined): void {
    this.freeuOn = factors !== undefined;
    if (factors) this.gpu.write(this.freeuFactors, packFreeUFactors(factors));
  }

  /** Attention probes for the calls prepared from now on (a call per spec is recorded once);
   * undefined: calls without any. */
  setProbes(spec: ProbeSpec | undefined): void {
    const site = spec?.selfAttentionSite;
    if (site !== undefined && !this.sites.some((s) => s.kind === 'attn1' && s.path === site)) throw new Error(`UNet: no self-attention site ${site} to probe`);
    this.probeSpec = spec && { ...spec };
  }

  /** The probes of the call prepared last (what a generation's beforeStep writes and reads back). */
  get activeProbes(): CallProbes | undefined {
    return this.lastCall?.probes;
  }

  /** The recorded call for these sizes (with FreeU on or off, and the probes of setProbes), made on
   * first use; with `perturbed`, PAG's identity attention is recorded at its sites (one such call
   * per size is kept: another set of sites replaces it, so moving PAG's target does not pile up plans). */
  prepare(batch: number, height: number, width: number, contextLength: number, perturbed?: PerturbedSelfAttention): UNetCall {
    const levels = this.config.down.filter((b) => b.resample).length;
    const multiple = 2 ** levels;
    if (height % multiple || width % multiple) throw new Error(`UNet: height and width must be multiples of ${multiple}, got ${height}×${width}`);
    const spec = this.probeSpec;
    if (spec && (spec.batchIndex < 0 || spec.batchIndex >= batch)) throw new Error(`UNet: probing batch item ${spec.batchIndex} of ${batch}`);
    const size = `${batch}x${height}x${width}x${contextLength}${this.freeuOn ? '+freeu' : ''}${spec ? `|probes ${JSON.stringify(spec)}` : ''}`;
    if (perturbed) this.checkPerturbed(perturbed, batch);
    const key = perturbed ? `${size}|perturbed ${perturbed.fromItem}: ${[...perturbed.sites].sort().join(',')}` : size;
    let call = this.calls.get(key);
    if (!call) {
      if (perturbed) {
        for (const [other, old] of this.calls) {
          if (old.perturbed && other.startsWith(`${size}|perturbed `)) (this.destroyCall(old), this.calls.delete(other));
        }
      }
      call = this.record(batch, height, width, contextLength, perturbed, spec);
      this.calls.set(key, call);
    }
    this.lastCall = call;
    return call;
  }

  /** Whether `call` is one of this UNet's live calls (not replaced or destroyed). */
  hasCall(call: UNetCall): boolean {
    return [...this.calls.values()].includes(call);
  }

  private checkPerturbed(perturbed: PerturbedSelfAttention, batch: number): void {
    for (const path of perturbed.sites) {
      if (!this.sites.some((s) => s.kind === 'attn1' && s.path === path)) throw new Error(`UNet: no self-attention site ${path} to perturb`);
    }
    if (!perturbed.sites.length) throw new Error('UNet: perturbed attention needs at least one self-attention site');
    if (!Number.isInteger(perturbed.fromItem) || perturbed.fromItem < 0 || perturbed.fromItem >= batch) throw new Error(`UNet: perturbed items from ${perturbed.fromItem} of a batch of ${batch}`);
  }

  private input(shape: number[], label: string): Tensor {
    const buffer = this.gpu.createBuffer(`unet:${label}`, numel(shape) * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    return { buffer, shape, dtype: 'f32', byteOffset: 0, label };
  }

  private record(batch: number, height: number, width: number, contextLength: number, perturbed?: PerturbedSelfAttention, spec?: ProbeSpec): UNetCall {
    const c = this.config;
    const sample = this.input([batch, c.inChannels, height, width], 'sample');
    const timesteps = this.input([batch], 'timesteps');
    const context = this.input([batch, contextLength, c.crossAttentionDim], 'context');
    const contextRec = new Recorder(this.gpu, `unet context ${batch}x${contextLength}`);
    const crossKeyValues = crossAttentionKeyValues(contextRec, context, this.weights, this.crossAttention);
    const contextPlan = contextRec.finish();
    const rec = new Recorder(this.gpu, `unet ${batch}x${height}x${width}`);
    const probes = spec && new CallProbes(this.gpu, spec, (path) => ({ buffer: this.multipliers, site: this.siteIndex.get(path)! }));
    const output = rec.keep(this.forward(rec, sample, timesteps, context, crossKeyValues, perturbed, probes?.callback(rec)));
    return { batch, height, width, contextLength, perturbed, sample, timesteps, context, output, plan: rec.finish(), contextPlan, probes };
  }

  private forward(rec: Recorder, sample: Tensor, timesteps: Tensor, context: Tensor, crossKeyValues: ReadonlyMap<string, KeyValues>, perturbed?: PerturbedSelfAttention, probe?: AttentionProbeCallback): Tensor {
    const c = this.config;
    const W = (name: string) => this.weights.get(name);
    const norm = { groups: c.normGroups, eps: c.normEps };
    const site = (path: string): AttentionSiteRef => {
      const index = this.siteIndex.get(path);
      if (index === undefined) throw new Error(`UNet: no attention site ${path}`);
      return { site: index, buffer: this.multipliers };
    };
    const transformer = (x: Tensor, prefix: string, heads: number, layers: number) =>
      transformer2d(rec, x, this.weights, prefix, {
        heads,
        groups: c.normGroups,
        layers,
        context,
        site,
        crossKeyValues: (path) => crossKeyValues.get(path),
        perturbedFrom: (path) => (perturbed?.sites.includes(path) ? perturbed.fromItem : undefined),
        probe,
      });

    // Time embedding: sinusoidal projection, linear_1, SiLU, linear_2. Every resnet applies SiLU to
    // the embedding before its own projection, so that SiLU is computed once here; both SiLUs run
    // in the epilogues of the linears before them.
    const projected = timestepEmbedding(rec, timesteps, { dim: c.blockOutChannels[0], flipSinToCos: c.flipSinToCos, freqShift: c.freqShift });
    const hiddenAct = linear(rec, projected, W('time_embedding.linear_1.weight'), W('time_embedding.linear_1.bias'), { silu: true, label: 'time_embedding.linear_1' });
    const temb = linear(rec, hiddenAct, W('time_embedding.linear_2.weight'), W('time_embedding.linear_2.bias'), { silu: true, label: 'time_embedding.linear_2' });
    rec.release(projected, hiddenAct);
    // Every ResNet block's time_emb_proj(temb) in one linear, where their weights stack.
    const stack = this.timeProjections;
    const timeAll = stack && linear(rec, temb, W(stack.weight), W(stack.bias), { label: 'time_emb_proj.stacked' });
    const time = (prefix: string) => {
      const offset = stack?.offsets.get(prefix);
      return timeAll && offset !== undefined ? { timeProjection: { tensor: timeAll, stride: timeAll.shape[1], offset } } : { temb };
    };

    let h = conv2d(rec, sample, { weight: W('conv_in.weight'), bias: W('conv_in.bias') }, { label: 'conv_in' });
    const skips: Tensor[] = [h];

    c.down.forEach((block, i) => {
      for (let j = 0; j < block.layers; j++) {
        const r = resnetBlock(rec, h, this.weights, `down_blocks.${i}.resnets.${j}`, { ...norm, ...time(`down_blocks.${i}.resnets.${j}`) });
        if (block.hasCrossAttention) {
          h = transformer(r, `down_blocks.${i}.attentions.${j}`, block.heads, block.transformerLayers);
          rec.release(r);
        } else {
          h = r;
        }
        skips.push(h);
      }
      if (block.resample) {
        const p = `down_blocks.${i}.downsamplers.0.conv`;
        h = conv2d(rec, h, { weight: W(`${p}.weight`), bias: W(`${p}.bias`) }, { stride: 2, padding: 1, label: p });
        skips.push(h);
      }
    });

    if (c.mid) {
      const mid = c.mid;
      const resnet = (x: Tensor, j: number) =>
        resnetBlock(rec, x, this.weights, `mid_block.resnets.${j}`, { ...norm, ...time(`mid_block.resnets.${j}`), outputScaleFactor: mid.outputScaleFactor });
      let m = resnet(h, 0); // h is the last skip: the up blocks still need it
      const a = transformer(m, 'mid_block.attentions.0', mid.heads, mid.transformerLayers);
      rec.release(m);
      m = resnet(a, 1);
      rec.release(a);
      h = m;
    }

    c.up.forEach((block, i) => {
      for (let j = 0; j < block.layers; j++) {
        const skip = skips.pop();
        if (!skip) throw new Error('UNet: the up blocks need more skip connections than the down blocks made (check layers_per_block)');
        // FreeU picks its level by the hidden state's channel count, as ComfyUI's scale_dict does
        // (diffusers' enable_freeu picks by up-block index, which differs on SD 1.5's two 1280s).
        const level = this.freeuOn ? freeuLevel(h.shape[1], c.blockOutChannels[0]) : undefined;
        const joined = level === undefined ? concatChannels(rec, h, skip) : freeuConcat(rec, h, skip, { level, factors: this.freeuFactors });
        rec.release(h, skip);
        const r = resnetBlock(rec, joined, this.weights, `up_blocks.${i}.resnets.${j}`, { ...norm, ...time(`up_blocks.${i}.resnets.${j}`) });
        rec.release(joined);
        if (block.hasCrossAttention) {
          h = transformer(r, `up_blocks.${i}.attentions.${j}`, block.heads, block.transformerLayers);
          rec.release(r);
        } else {
          h = r;
        }
      }
      if (block.resample) {
        const p = `up_blocks.${i}.upsamplers.0.conv`;
        const up = upsampleNearest2x(rec, h);
        rec.release(h);
        h = conv2d(rec, up, { weight: W(`${p}.weight`), bias: W(`${p}.bias`) }, { label: p });
        rec.release(up);
      }
    });
    rec.release(temb);
    if (timeAll) rec.release(timeAll);

    const normed = groupNorm(rec, h, W('conv_norm_out.weight'), W('conv_norm_out.bias'), { ...norm, silu: true, label: 'conv_norm_out' });
    rec.release(h);
    const out = conv2d(rec, normed, { weight: W('conv_out.weight'), bias: W('conv_out.bias') }, { label: 'conv_out' });
    rec.release(normed);
    return out;
  }

  private destroyCall(call: UNetCall): void {
    call.plan.destroy();
    call.contextPlan.destroy();
    call.probes?.destroy();
    for (const t of [call.sample, call.timesteps, call.context]) t.buffer.destroy();
  }

  destroy(): void {
    for (const call of this.calls.values()) this.destroyCall(call);
    this.calls.clear();
    this.lastCall = undefined;
    this.multipliers.destroy();
    this.freeuFactors.destroy();
    this.weights.destroy();
  }
}

/** The ResNet blocks of a UNet config, by weight prefix, in the order the forward pass runs them. */
function resnetPrefixes(config: UNetConfig): string[] {
  const prefixes: string[] = [];
  config.down.forEach((block, i) => {
    for (let j = 0; j < block.layers; j++) prefixes.push(`down_blocks.${i}.resnets.${j}`);
  });
  if (config.mid) prefixes.push('mid_block.resnets.0', 'mid_block.resnets.1');
  config.up.forEach((block, i) => {
    for (let j = 0; j < block.layers; j++) prefixes.push(`up_blocks.${i}.resnets.${j}`);
  });
  return prefixes;
}
