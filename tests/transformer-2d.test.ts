// A self-attention's to_q, to_k, to_v as one stacked projection: the same transformer output as three
// projections, in two fewer dispatches, and three projections wherever the stack cannot be made.
// A cross-attention's keys and values computed once per context: the same output as projecting the
// context in every call, also as column slices of one product for several modules (their to_k and
// to_v stacked). proj_in and proj_out stored as linear layers (SD 2.x's use_linear_projection)
// give the same output as the same numbers stored as 1x1 convolutions.
// Weights: one Transformer2DModel of the golden UNet fixture (diffusers, random weights).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../src/engine/gpu/gpu-context';
import { Recorder } from '../src/engine/gpu/recorder';
import type { Tensor } from '../src/engine/gpu/tensor';
import { crossAttentionKeyValues, fuseCrossAttentionKeyValues, fuseSelfAttentionProjections, transformer2d, type KeyValues } from '../src/engine/nn/transformer-2d';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { loadWeights, uploadTensor, type WeightStorage } from '../src/engine/weights/gpu-weights';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import type { WeightStore } from '../src/engine/weights/weight-store';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { randn, relError, rng, tensorFrom, testGpu } from './support/gpu';

const FIXTURE = join(fixturesDir(), 'unet-sd15-tiny');
const PREFIX = 'down_blocks.0.attentions.0';
const SELF_ATTENTION = `${PREFIX}.transformer_blocks.0.attn1`;
const [BATCH, SIDE, TEXT_TOKENS] = [2, 16, 7];
/** The stacked projection sums each output in the same order as the separate ones; SwiftShader
 * gives identical bits. The bound leaves room for a linear tiling that sums in another order. */
const TOLERANCE = 1e-6;

async function fixtureWeights(gpu: GpuContext, storage: WeightStorage): Promise<WeightStore> {
  const source = await nodeModelFolder(FIXTURE).open('diffusion_pytorch_model.safetensors');
  // PREFIX and its neighbour (OTHER_CROSS_ATTENTION), the UNet's next transformer.
  return loadWeights(gpu, source, { storage, filter: (name) => name.startsWith(PREFIX) || name.startsWith(OTHER_CROSS_ATTENTION) });
}

/** `weights` with extra tensors, as a checkpoint that has them would give. */
function withExtra(weights: WeightStore, extra: Map<string, Tensor>): WeightStore {
  return {
    get: (name) => extra.get(name) ?? weights.get(name),
    has: (name) => extra.has(name) || weights.has(name),
    names: () => [...weights.names(), ...extra.keys()],
    byteSize: weights.byteSize,
    destroy: () => weights.destroy(),
  };
}

const CROSS_ATTENTION = `${PREFIX}.transformer_blocks.0.attn2`;
const OTHER_CROSS_ATTENTION = 'down_blocks.0.attentions.1.transformer_blocks.0.attn2';

/** One transformer call on fixed random inputs, with multipliers on both attention sites. With
 * `contextModules` (CROSS_ATTENTION among them), the keys and values of those cross-attentions come
 * from a plan of their own, run first, as the UNet's context plan computes them once per prompt. */
async function runTransformer(gpu: GpuContext, weights: WeightStore, contextModules?: string[]): Promise<{ out: Float32Array; dispatches: number; contextDispatches: number }> {
  const config = parseUNetConfig(await nodeModelFolder(FIXTURE).readJson('config.json'));
  const block = config.down[0];
  const random = rng(21);
  const x = tensorFrom(gpu, [BATCH, block.outChannels, SIDE, SIDE], randn(BATCH * block.outChannels * SIDE * SIDE, random), 'x');
  const context = tensorFrom(gpu, [BATCH, TEXT_TOKENS, config.crossAttentionDim], randn(BATCH * TEXT_TOKENS * config.crossAttentionDim, random), 'context');
  const multipliers = gpu.upload('multipliers', new Float32Array([2, 0.5, 3, 1.5, 0.5, 2, 1, 0.75]));
  const contextRec = new Recorder(gpu, 'context');
  let keyValues: KeyValues | undefined;
  if (contextModules) keyValues = crossAttentionKeyValues(contextRec, context, weights, contextModules).get(CROSS_ATTENTION);
  const contextPlan = contextRec.finish();
  contextPlan.run();
  const rec = new Recorder(gpu, 'transformer');
  const output = rec.keep(
    transformer2d(rec, x, weights, PREFIX, {
      heads: block.heads,
      groups: config.normGroups,
      layers: block.transformerLayers,
      context,
      site: (path) => ({ site: path.endsWith('attn1') ? 0 : 1, buffer: multipliers }),
      crossKeyValues: (path) => (path === CROSS_ATTENTION ? keyValues : undefined),
    }),
  );
  const plan = rec.finish();
  plan.run();
  const out = await gpu.readF32(output.buffer, x.shape.reduce((a, b) => a * b, 1));
  plan.destroy();
  contextPlan.destroy();
  for (const t of [x, context, output]) t.buffer.destroy();
  multipliers.destroy();
  return { out, dispatches: plan.steps.length, contextDispatches: contextPlan.steps.length };
}

describe('self-attention projects q, k and v in one dispatch', () => {
  for (const storage of ['f32', 'f16'] as const) {
    it(`gives the output of three projections, in two fewer dispatches (${storage} weights)`, async () => {
      const gpu = await testGpu();
      const weights = await fixtureWeights(gpu, storage);
      const separate = await runTransformer(gpu, weights);
      const fused = fuseSelfAttentionProjections(gpu, weights, [SELF_ATTENTION]);
      expect(fused.has(`${SELF_ATTENTION}.to_qkv.weight`)).toBe(true);
      expect(fused.get(`${SELF_ATTENTION}.to_qkv.weight`)).toMatchObject({ shape: [96, 32], dtype: storage });
      const stacked = await runTransformer(gpu, fused);
      expect(stacked.dispatches).toBe(separate.dispatches - 2);
      expect(relError(stacked.out, separate.out)).toBeLessThan(TOLERANCE);
      fused.destroy();
    });
  }

  it('keeps three projections where one of them has a bias, and applies the bias', async () => {
    const gpu = await testGpu();
    const weights = await fixtureWeights(gpu, 'f32');
    const plain = await runTransformer(gpu, weights);
    // On to_v: a bias on to_k adds q·b to every logit of a row, which softmax cancels.
    const bias = uploadTensor(gpu, 'to_v.bias', [32], randn(32, rng(4)));
    const biased = fuseSelfAttentionProjections(gpu, withExtra(weights, new Map([[`${SELF_ATTENTION}.to_v.bias`, bias]])), [SELF_ATTENTION]);
    expect(biased.has(`${SELF_ATTENTION}.to_qkv.weight`)).toBe(false);
    const separate = await runTransformer(gpu, biased);
    expect(separate.dispatches).toBe(plain.dispatches);
    expect(relError(separate.out, plain.out)).toBeGreaterThan(1e-3);
    biased.destroy();
    bias.buffer.destroy();
  });
});

describe("cross-attention's keys and values, computed once per context", () => {
  it('give the same output as projecting the context in every call, in two fewer dispatches per call', async () => {
    const gpu = await testGpu();
    const weights = await fixtureWeights(gpu, 'f16');
    const everyCall = await runTransformer(gpu, weights);
    const once = await runTransformer(gpu, weights, [CROSS_ATTENTION]);
    expect(once.dispatches).toBe(everyCall.dispatches - 2);
    expect(once.contextDispatches).toBe(2);
    expect(relError(once.out, everyCall.out)).toBeLessThan(TOLERANCE);
    weights.destroy();
  });

  it("come from one product for several modules when their to_k and to_v are stacked, read as column slices", async () => {
    const gpu = await testGpu();
    const weights = await fixtureWeights(gpu, 'f16');
    const modules = [OTHER_CROSS_ATTENTION, CROSS_ATTENTION]; // CROSS_ATTENTION's slices start past the other's
    const separate = await runTransformer(gpu, weights, modules);
    expect(separate.contextDispatches).toBe(4);
    const fused = fuseCrossAttentionKeyValues(gpu, weights, modules);
    const stacked = await runTransformer(gpu, fused, modules);
    expect(stacked.contextDispatches).toBe(1);
    expect(stacked.dispatches).toBe(separate.dispatches);
    expect(relError(stacked.out, separate.out)).toBeLessThan(TOLERANCE);
    // Another order than the stack's is refused, not misread.
    expect(() => crossAttentionKeyValues(new Recorder(gpu, 'wrong order'), tensorFrom(gpu, [1, 2, 32], new Float32Array(64)), fused, [CROSS_ATTENTION])).toThrow(/not the .* stacked/);
    fused.destroy();
  });
});

describe('proj_in and proj_out', () => {
  it('stored as linear layers [C, C] (use_linear_projection) give the output of the same 1x1 convolutions', async () => {
    const gpu = await testGpu();
    const weights = await fixtureWeights(gpu, 'f16');
    const asConvolutions = await runTransformer(gpu, weights);
    const linearForms = new Map<string, Tensor>();
    for (const name of ['proj_in.weight', 'proj_out.weight']) {
      const conv = weights.get(`${PREFIX}.${name}`);
      expect(conv.shape.slice(2)).toEqual([1, 1]);
      linearForms.set(`${PREFIX}.${name}`, { ...conv, shape: conv.shape.slice(0, 2) });
    }
    const asLinear = await runTransformer(gpu, withExtra(weights, linearForms));
    expect(relError(asLinear.out, asConvolutions.out)).toBeLessThan(TOLERANCE);
    expect(asLinear.dispatches).toBe(asConvolutions.dispatches);
    weights.destroy();
  });
});
