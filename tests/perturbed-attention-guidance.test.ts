// Perturbed-attention guidance: the identity attention of the perturbed batch items against its CPU
// reference (randomized), the guidance formula of both sampling loops, and the UNet's perturbed call.
// The golden fixture (tests/fixtures/steering-tiny, scripts/golden/steering-pag.ts) holds the whole
// UNet and the sampler to diffusers' PAG.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attention, splitColumns, type AttentionInput } from '../src/engine/kernels/attention';
import { attentionIdentity, reference } from '../src/engine/kernels/attention-identity';
import { scale } from '../src/engine/kernels/elementwise';
import { Recorder } from '../src/engine/gpu/recorder';
import type { Tensor } from '../src/engine/gpu/tensor';
import { UNet } from '../src/engine/nn/unet';
import { denoise, type NoisePredictor, type PreparedPrediction } from '../src/engine/sampling/denoise';
import { SamplingBuffers } from '../src/engine/sampling/gpu-denoise';
import { createScheduler, parseSchedulerConfig, type SchedulerKind } from '../src/engine/sampling/schedulers';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

describe('identity attention for the perturbed items', () => {
  for (let trial = 0; trial < 6; trial++) {
    it(`overwrites items from fromItem on with v · mv, and keeps the others (random case ${trial})`, async () => {
      const gpu = await testGpu();
      const random = rng(700 + trial);
      const [batch, tokens, heads, headDim] = [randInt(random, 1, 3), randInt(random, 1, 40), randInt(random, 1, 3), 8 * randInt(random, 1, 3)];
      const fromItem = randInt(random, 0, batch - 1);
      const width = heads * headDim;
      const fused = trial % 2 === 0; // v as a column slice of a fused to_qkv output, or a tensor of its own
      const mv = trial % 3 === 0 ? undefined : Math.fround(0.5 + 2 * random());
      const qkv = randn(batch * tokens * 3 * width, random);
      const table = new Float32Array([1.5, 0.75, mv ?? 1, 2]);
      const split = (data: Float32Array, part: number) => {
        const out = new Float32Array(batch * tokens * width);
        for (let row = 0; row < batch * tokens; row++) out.set(data.subarray(row * 3 * width + part * width, row * 3 * width + (part + 1) * width), row * width);
        return out;
      };
      const [q, k, v] = [0, 1, 2].map((part) => split(qkv, part));
      const got = await runOnce(gpu, (rec) => {
        let inputs: AttentionInput[];
        if (fused) inputs = splitColumns(tensorFrom(gpu, [batch, tokens, 3 * width], qkv, 'qkv'), 3);
        else inputs = [q, k, v].map((data, i) => tensorFrom(gpu, [batch, tokens, width], data, 'qkv'[i]));
        const multipliers = mv === undefined ? undefined : { buffer: gpu.upload('multipliers', table), site: 0 };
        const attended = attention(rec, inputs[0], inputs[1], inputs[2], { heads, multipliers, label: 'attn1' });
        attentionIdentity(rec, inputs[2], attended, { fromItem, multipliers, label: 'attn1' });
        return attended;
      });
      const plain = await runOnce(gpu, (rec) => attention(rec, tensorFrom(gpu, [batch, tokens, width], q), tensorFrom(gpu, [batch, tokens, width], k), tensorFrom(gpu, [batch, tokens, width], v), { heads, multipliers: mv === undefined ? undefined : { buffer: gpu.upload('m', table), site: 0 }, label: 'plain' }));
      const expected = reference.attentionIdentity(plain, v, { batch, fromItem, mv });
      // The perturbed items are copies times one factor (exact in f32); the others untouched.
      expect(relError(got, expected)).toBeLessThan(1e-6);
      const perItem = tokens * width;
      expect(Array.from(got.subarray(fromItem * perItem))).toEqual(Array.from(expected.subarray(fromItem * perItem)));
    });
  }
});

const SD = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', clip_sample: false, set_alpha_to_one: false, steps_offset: 1 };
const CHANNELS = 2;
const SIDE = 8;
/** The stand-in model's output factor per batch part: uncond, cond, perturbed (or cond, perturbed). */
const FACTORS = [0.5, 0.7, 0.9];

/** A "UNet" whose output is a factor times its input, one factor per batch part (FACTORS from the
 * last part backwards, so cond and perturbed keep theirs at guidance 1): guidance has something to
 * mix. One kernel per item on the GPU, a map on the CPU. */
async function standInModel(): Promise<{ model: NoisePredictor; batches: number[]; destroy: () => void }> {
  const gpu = await testGpu();
  const made: { destroy(): void }[] = [];
  const batches: number[] = [];
  const model: NoisePredictor = {
    inChannels: CHANNELS,
    prepare(batch, height, width, _contexts, perturbed) {
      batches.push(batch);
      const images = perturbed ? batch - perturbed.fromItem : 1;
      const parts = batch / images;
      const factorOf = (item: number) => FACTORS[FACTORS.length - parts + Math.floor(item / images)];
      const perItem = CHANNELS * height * width;
      const tensor = (label: string, shape: number[]): Tensor => {
        const buffer = gpu.createBuffer(label, shape.reduce((a, b) => a * b, 1) * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
        made.push(buffer);
        return { buffer, shape, dtype: 'f32', byteOffset: 0, label };
      };
      const sample = tensor('sample', [batch, CHANNELS, height, width]);
      const output = tensor('output', [batch, CHANNELS, height, width]);
      const timesteps = tensor('timesteps', [batch]);
      const rec = new Recorder(gpu, 'stand-in model');
      const item = (t: Tensor, b: number): Tensor => ({ ...t, shape: [1, CHANNELS, height, width], byteOffset: b * perItem * 4 });
      for (let b = 0; b < batch; b++) scale(rec, item(sample, b), factorOf(b), item(output, b));
      const plan = rec.finish();
      const sampling = new SamplingBuffers(gpu);
      made.push(plan, sampling);
      const prepared: PreparedPrediction = {
        predict: async (x) => x.map((v, i) => Math.fround(v * factorOf(Math.floor(i / perItem)))),
        onGpu: { gpu, sample, timesteps, output, encode: (encoder, range) => plan.encode(encoder, range), dispatches: plan.steps.length, sampling },
      };
      return prepared;
    },
  };
  return { model, batches, destroy: () => made.forEach((m) => m.destroy()) };
}

describe('both sampling loops add s · (cond − perturbed) to the guidance', () => {
  const cases: { kind: SchedulerKind; guidance: number; scales: number[] }[] = [
    { kind: 'euler', guidance: 5, scales: [3, 3, 3, 3, 3] },
    { kind: 'dpmpp2m', guidance: 1, scales: [2, 2, 2, 2, 2] },
    { kind: 'ddim', guidance: 7.5, scales: [0, 0, 1.5, 1.5, 0] },
  ];
  for (const c of cases) {
    it(`${c.kind}, CFG ${c.guidance}, scales ${c.scales.join(',')}`, async () => {
      const { model, batches, destroy } = await standInModel();
      const random = rng(c.guidance * 10);
      const noise = randn(CHANNELS * SIDE * SIDE, random);
      const cond = new Float32Array(4);
      const scheduler = () => createScheduler(c.kind, parseSchedulerConfig(SD), c.scales.length);
      const run = (loop: 'gpu' | 'cpu', perturbedAttention?: { sites: string[]; scales: number[] }) =>
        denoise({ model, scheduler: scheduler(), noise, height: SIDE, width: SIDE, cond, uncond: cond, guidance: c.guidance, loop, perturbedAttention });
      try {
        const pag = { sites: ['mid'], scales: c.scales };
        const gpu = await run('gpu', pag);
        const cpu = await run('cpu', pag);
        expect(batches).toEqual([c.guidance === 1 ? 2 : 3, c.guidance === 1 ? 2 : 3]);
        expect(relError(gpu.latents, cpu.latents)).toBeLessThan(1e-5);
        // By hand: eps = u + g(c − u) + s(c − p) with the stand-in's factors, through the scheduler.
        const expected = scheduler();
        let x: Float32Array = noise.map((v) => v * expected.initNoiseSigma);
        expected.timesteps.forEach((_, i) => {
          const input = expected.scaleModelInput(x, i);
          const [u, cc, p] = c.guidance === 1 ? [0, FACTORS[1], FACTORS[2]] : FACTORS;
          const eps = input.map((v) => {
            const [eu, ec, ep] = [Math.fround(v * u), Math.fround(v * cc), Math.fround(v * p)];
            return (c.guidance === 1 ? ec : eu + c.guidance * (ec - eu)) + c.scales[i] * (ec - ep);
          });
          x = expected.step(eps, i, x).prevSample;
        });
        expect(relError(cpu.latents, x)).toBeLessThan(1e-5);
        // Off: the batch of before.
        batches.length = 0;
        await run('gpu');
        expect(batches).toEqual([c.guidance === 1 ? 1 : 2]);
      } finally {
        destroy();
      }
    });
  }
});

describe("the UNet's perturbed call", () => {
  const folder = nodeModelFolder(join(fixturesDir(), 'unet-sd15-tiny'));
  const MID = 'mid_block.attentions.0.transformer_blocks.0.attn1';

  async function run(unet: UNet, batch: number, side: number, perturbed?: { sites: string[]; fromItem: number }): Promise<Float32Array> {
    const random = rng(5);
    const call = unet.prepare(batch, side, side, 7, perturbed);
    const one = randn(unet.config.inChannels * side * side, random);
    const context = randn(7 * unet.config.crossAttentionDim, random);
    for (let b = 0; b < batch; b++) {
      unet.gpu.write(call.sample.buffer, one, b * one.length * 4);
      unet.gpu.write(call.context.buffer, context, b * context.length * 4);
    }
    unet.gpu.write(call.timesteps.buffer, new Float32Array(batch).fill(500));
    call.contextPlan.run();
    call.plan.run();
    return unet.gpu.readF32(call.output.buffer, batch * one.length);
  }

  it('changes only the perturbed items, and at one token (a 1×1 middle block) changes nothing: softmax over one key is already the identity', async () => {
    const gpu = await testGpu();
    const unet = await UNet.load(gpu, folder);
    try {
      const plain = await run(unet, 2, 16);
      const perturbed = await run(unet, 3, 16, { sites: [MID], fromItem: 2 });
      const half = plain.length / 2;
      expect(relError(perturbed.subarray(0, 2 * half), plain)).toBeLessThan(1e-6);
      expect(relError(perturbed.subarray(2 * half), plain.subarray(half))).toBeGreaterThan(1e-3);
      // 4×4 latents: the middle block works at 1×1.
      const tiny = await run(unet, 1, 4);
      const tinyPerturbed = await run(unet, 1, 4, { sites: [MID], fromItem: 0 });
      expect(relError(tinyPerturbed, tiny)).toBeLessThan(1e-6);
      expect(() => unet.prepare(3, 16, 16, 7, { sites: ['mid_block.attentions.0.transformer_blocks.0.attn2'], fromItem: 2 })).toThrow(/no self-attention site/);
    } finally {
      unet.destroy();
    }
  });
});
