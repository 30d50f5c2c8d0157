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
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import { PAG_AXIS, perturbedAttentionGuidance, perturbedAttentionPass, perturbedPass, supportedSteering, identityAttentionModule, pagGuidance, scaleAttentionWeights } from '../src/engine/steering';
import type { GenerateRequest, RgbaImage } from '../src/engine';
import { reference as linearReference } from '../src/engine/kernels/linear';
import { enumerateSites } from '../src/engine/nn/unet-sites';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { fixturePipelineFolder } from './support/fixture-pipeline';
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

describe('the PAG control', () => {
  const SD15 = enumerateSites(
    parseUNetConfig({
      _class_name: 'UNet2DConditionModel',
      block_out_channels: [320, 640, 1280, 1280],
      down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
      layers_per_block: 2,
      attention_head_dim: 8,
      cross_attention_dim: 768,
      sample_size: 64,
    }),
  );
  const base = { pag: 3, pagTarget: 'middle', pagRange: { start: 0, end: 1 } };

  it('perturbs the middle block’s self-attention by default, at its scale inside the step range and 0 outside', () => {
    const request = perturbedAttentionGuidance.toRequest({ ...base, pagRange: { start: 0.25, end: 0.75 } }, [], SD15);
    expect(request.pag).toEqual({ scale: 3, target: { part: 'middle' }, range: { start: 0.25, end: 0.75 } });
    expect(perturbedAttentionPass(request.pag, SD15, 8)).toEqual({ sites: ['mid_block.attentions.0.transformer_blocks.0.attn1'], scales: [0, 0, 3, 3, 3, 3, 0, 0] });
    // A ComfyUI block: its self-attention only.
    const output = perturbedAttentionGuidance.toRequest({ ...base, pagTarget: 'output_blocks.3' }, [], SD15);
    expect(perturbedPass(SD15, { rules: [], ...output }, 4)?.sites).toEqual(['up_blocks.1.attentions.0.transformer_blocks.0.attn1']);
  });

  it('is off at scale 0, where no step is in range, and where its blocks have no self-attention', () => {
    expect(perturbedAttentionGuidance.toRequest({ ...base, pag: 0 }, [], SD15).pag).toBeUndefined();
    expect(perturbedAttentionPass({ scale: 3, target: { part: 'middle' }, range: { start: 0.9, end: 0.95 } }, SD15, 4)).toBeUndefined();
    expect(perturbedAttentionPass({ scale: 3, target: { path: 'input_blocks.3' } }, SD15, 4)).toBeUndefined();
  });

  it('takes an XY cell’s scale on its own blocks', () => {
    const request = perturbedAttentionGuidance.toRequest({ ...base, pag: 0 }, [{ axis: PAG_AXIS, target: 'all', value: 12 }], SD15);
    expect(request.pag).toEqual({ scale: 10, target: { part: 'middle' } });
  });

  it('is left out, with a notice, on a backend that cannot change the network’s insides', () => {
    const request = { rules: [], pag: { scale: 3, target: { part: 'middle' as const } } };
    expect(supportedSteering(request, 'webgpu')).toEqual({ request, notices: [] });
    const ort = supportedSteering(request, 'onnxruntime');
    expect(ort.request.pag).toBeUndefined();
    expect(ort.notices).toEqual(['Perturbed-Attention Guidance needs the WebGPU engine: the ONNX Runtime backend rendered this image without it (choose WebGPU in the Backend menu).']);
  });

  it('its reference module is ComfyUI’s: v returned by attention, then to_out, with the v and out weight patches', () => {
    const random = rng(3);
    const [tokens, width] = [5, 6];
    const linearOf = () => ({ weight: randn(width * width, random), bias: randn(width, random) });
    const module = { toQ: linearOf(), toK: linearOf(), toV: linearOf(), toOut: linearOf() };
    const x = randn(tokens * width, random);
    const factors = { q: 2, k: 0.5, v: 1.5, out: 0.25 };
    const patched = scaleAttentionWeights(module, factors);
    const comfy = linearReference.linear(linearReference.linear(x, patched.toV.weight, patched.toV.bias, width, width), patched.toOut.weight, patched.toOut.bias, width, width);
    expect(relError(identityAttentionModule(x, module, width, factors), comfy)).toBeLessThan(1e-5);
    const [u, c, p] = [new Float32Array([1, 2]), new Float32Array([3, 5]), new Float32Array([2, 7])];
    expect(Array.from(pagGuidance(c, p, 2, u, 4))).toEqual([1 + 4 * 2 + 2 * 1, 2 + 4 * 3 + 2 * -2]);
    expect(Array.from(pagGuidance(c, p, 2))).toEqual([3 + 2, 5 - 4]);
  });
});

describe('PAG through the pipeline', () => {
  const base: GenerateRequest = { prompt: 'a photo of a red cat', negativePrompt: 'blurry', seed: 42, steps: 2, sampler: 'euler', cfg: 5, rules: [] };
  const differs = (a: RgbaImage, b: RgbaImage) => a.data.filter((v, i) => v !== b.data[i]).length;

  it('scale 0 is off to the bit; a scale changes the image, with CFG and at guidance 1', async () => {
    const pipeline = await DiffusionPipeline.load(await testGpu(), fixturePipelineFolder());
    try {
      const pag = (scale: number) => ({ scale, target: { part: 'middle' as const } });
      const off = await pipeline.sample(base);
      const zero = await pipeline.sample({ ...base, pag: pag(0) });
      expect(Array.from(zero.latents)).toEqual(Array.from(off.latents));
      const on = await pipeline.generate({ ...base, pag: pag(3) });
      expect(on.notices).toBeUndefined();
      expect(differs(on.image, (await pipeline.generate(base)).image)).toBeGreaterThan(100);
      const single = await pipeline.generate({ ...base, cfg: 1 });
      expect(differs(single.image, (await pipeline.generate({ ...base, cfg: 1, pag: pag(3) })).image)).toBeGreaterThan(100);
      // Blocks without self-attention on this model: rendered without PAG, and said so.
      const none = await pipeline.generate({ ...base, pag: { scale: 3, target: { path: 'input_blocks.11' } } });
      expect(none.notices?.[0]).toMatch(/Perturbed-Attention Guidance was left out/);
    } finally {
      pipeline.destroy();
    }
  }, 20 * 60_000);
});
