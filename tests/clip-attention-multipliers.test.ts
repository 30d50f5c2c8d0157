import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reference as activation } from '../src/engine/kernels/activation';
import { reference as attentionReference } from '../src/engine/kernels/attention';
import { reference as embeddingReference } from '../src/engine/kernels/embedding';
import { reference as linearReference } from '../src/engine/kernels/linear';
import { reference as normReference } from '../src/engine/kernels/norm';
import { ClipTextEncoder, parseClipTextConfig, type ClipTextSpec } from '../src/engine/nn/clip-text';
import { nodeFileSource, nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { readAllF32 } from '../src/engine/weights/safetensors';
import { clipAttentionMultipliers, scaleAttentionWeights, type AttentionMultipliers } from '../src/engine';
import { relError, rng, testGpu } from './support/gpu';

const FIXTURES = process.env.FIXTURES_DIR ?? join(fileURLToPath(new URL('..', import.meta.url)), '../shared/fixtures');
const CLIP = join(FIXTURES, 'clip-text-tiny');

type Weights = Map<string, Float32Array>;

/** transformers CLIPTextModel on the CPU, with every self_attn.{q,k,v,out}_proj patched as ComfyUI's
 * CLIPAttentionMultiply patches them (the control's reference): what the GPU's run-time factors must give. */
function clipReference(weights: Weights, spec: ClipTextSpec, ids: ArrayLike<number>, batch: number, factors: AttentionMultipliers, layers = spec.layers): Float32Array {
  const w = (name: string) => {
    const t = weights.get(`text_model.${name}`);
    if (!t) throw new Error(`no ${name}`);
    return t;
  };
  const width = spec.hiddenSize;
  const length = ids.length / batch;
  const layerNorm = (x: Float32Array, name: string) => Float32Array.from(normReference.layerNorm(x, width, w(`${name}.weight`), w(`${name}.bias`), spec.layerNormEps));
  let x = embeddingReference.embedding(ids, w('embeddings.token_embedding.weight'), width, w('embeddings.position_embedding.weight'), length);
  for (let i = 0; i < layers; i++) {
    const p = `encoder.layers.${i}`;
    const lin = (name: string) => ({ weight: w(`${p}.self_attn.${name}.weight`), bias: w(`${p}.self_attn.${name}.bias`) });
    const patched = scaleAttentionWeights({ toQ: lin('q_proj'), toK: lin('k_proj'), toV: lin('v_proj'), toOut: lin('out_proj') }, factors);
    const h = layerNorm(x, `${p}.layer_norm1`);
    const project = (input: Float32Array, l: { weight: Float32Array; bias?: Float32Array }) => linearReference.linear(input, l.weight, l.bias, width, width);
    const attended = attentionReference.attention(project(h, patched.toQ), project(h, patched.toK), project(h, patched.toV), { batch, seqQ: length, seqK: length, heads: spec.heads, causal: true });
    const afterAttention = linearReference.linear(attended, patched.toOut.weight, patched.toOut.bias, width, width, { residual: x });
    const h2 = layerNorm(afterAttention, `${p}.layer_norm2`);
    const hidden = linearReference.linear(h2, w(`${p}.mlp.fc1.weight`), w(`${p}.mlp.fc1.bias`), width, spec.intermediateSize);
    const activated = Float32Array.from(spec.activation === 'quick_gelu' ? activation.quickGelu(hidden) : activation.gelu(hidden));
    x = linearReference.linear(activated, w(`${p}.mlp.fc2.weight`), w(`${p}.mlp.fc2.bias`), spec.intermediateSize, width, { residual: afterAttention });
  }
  return layerNorm(x, 'final_layer_norm');
}

async function load() {
  const gpu = await testGpu();
  const encoder = await ClipTextEncoder.load(gpu, nodeModelFolder(CLIP), '');
  const spec = parseClipTextConfig(JSON.parse(await (await import('node:fs/promises')).readFile(join(CLIP, 'config.json'), 'utf8')));
  const weights = new Map([...(await readAllF32(await nodeFileSource(join(CLIP, 'model.safetensors'))))].map(([name, t]) => [name, t.data]));
  const io = await readAllF32(await nodeFileSource(join(CLIP, 'io.safetensors')));
  const inputIds = io.get('input_ids')!;
  return { encoder, spec, weights, io, batch: inputIds.shape[0], ids: Int32Array.from(inputIds.data, Math.round) };
}

describe('CLIP attention multipliers (ComfyUI CLIPAttentionMultiply)', () => {
  it('the CPU reference with all factors 1 is transformers’ CLIPTextModel', async () => {
    const { spec, weights, io, batch, ids } = await load();
    const plain = clipReference(weights, spec, ids, batch, { q: 1, k: 1, v: 1, out: 1 });
    expect(relError(plain, io.get('last_hidden_state')!.data)).toBeLessThanOrEqual(1e-4);
  });

  it('the encoder’s run-time factors give the patched weights’ embeddings, for random factors, with and without clip skip', async () => {
    const { encoder, spec, weights, batch, ids } = await load();
    const random = rng(16);
    const sets: AttentionMultipliers[] = [
      { q: 1.7, k: 0.4, v: 2.5, out: 0.3 },
      { q: 0, k: 1, v: 1, out: 1 },
      { q: 1, k: 1, v: 1, out: 0 },
      ...Array.from({ length: 3 }, () => ({ q: random() * 3, k: random() * 3, v: random() * 3, out: random() * 3 })),
    ];
    let buffer: GPUBuffer | undefined;
    for (const factors of sets) {
      for (const clipSkip of [false, true]) {
        const out = await encoder.encode(ids, batch, { clipSkip, multipliers: factors });
        // One plan per clip skip, whatever the factors: moving a slider records nothing.
        if (!clipSkip) expect((buffer ??= out.buffer)).toBe(out.buffer);
        const expected = clipReference(weights, spec, ids, batch, factors, clipSkip ? spec.layers - 1 : spec.layers);
        const error = relError(await encoder.readF32(out), expected);
        expect(error, `${JSON.stringify(factors)} clip skip ${clipSkip}`).toBeLessThanOrEqual(1e-3);
      }
    }
  });

  it('all ones is the plain encoder, bit for bit, and the plain plan is not the steered one', async () => {
    const { encoder, batch, ids } = await load();
    const plain = await encoder.encode(ids, batch);
    const plainValues = await encoder.readF32(plain);
    const ones = await encoder.encode(ids, batch, { multipliers: { q: 1, k: 1, v: 1, out: 1 } });
    expect(ones.buffer).toBe(plain.buffer);
    const steered = await encoder.encode(ids, batch, { multipliers: { q: 2, k: 1, v: 1, out: 1 } });
    expect(steered.buffer).not.toBe(plain.buffer);
    // The plain encoding is still there after a steered one (the pipeline keeps both for a step range).
    expect(await encoder.readF32(plain)).toEqual(plainValues);
    await expect(encoder.encode(ids, batch, { multipliers: { q: NaN, k: 1, v: 1, out: 1 } })).rejects.toThrow(/finite/);
  });

  it('asks the request for nothing while all four are 1, and carries a partial range only', () => {
    const full = { start: 0, end: 1 };
    expect(clipAttentionMultipliers.toRequest({ clip: { q: 1, k: 1, v: 1, out: 1 }, clipRange: { start: 0.2, end: 0.5 } }, [], [])).toEqual({ clip: undefined });
    expect(clipAttentionMultipliers.toRequest({ clip: { q: 2, k: 1, v: 1, out: 1 }, clipRange: full }, [], [])).toEqual({ clip: { multipliers: { q: 2, k: 1, v: 1, out: 1 } } });
    const axis = clipAttentionMultipliers.axes.find((a) => a.id === 'clip.end')!;
    expect(clipAttentionMultipliers.toRequest({ clip: { q: 2, k: 1, v: 1, out: 1 }, clipRange: full }, [{ axis, target: 'all', value: 0.5 }], [])).toEqual({
      clip: { multipliers: { q: 2, k: 1, v: 1, out: 1 }, range: { start: 0, end: 0.5 } },
    });
  });
});
