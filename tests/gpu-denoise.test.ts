// The GPU sampling loop (gpu-denoise.ts: guidance and scheduler steps in shaders/scheduler-step.wgsl)
// against the CPU loop (the schedulers' step(), checked against diffusers in schedulers.test.ts), on
// a stand-in model small enough for SwiftShader: out = 0.7·sample, the same on both sides. The golden
// tests run both loops with a real UNet against diffusers' sampler runs.
import { describe, expect, it } from 'vitest';
import { scale } from '../src/engine/kernels/elementwise';
import { Recorder } from '../src/engine/gpu/recorder';
import type { Tensor } from '../src/engine/gpu/tensor';
import { denoise, type NoisePredictor, type PreparedPrediction } from '../src/engine/sampling/denoise';
import { SamplingBuffers } from '../src/engine/sampling/gpu-denoise';
import { createScheduler, parseSchedulerConfig, type SchedulerKind } from '../src/engine/sampling/schedulers';
import { randn, relError, rng, testGpu } from './support/gpu';

const SD = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', clip_sample: false, set_alpha_to_one: false, steps_offset: 1 };
const FACTOR = 0.7;
const CHANNELS = 2;
const SIDE = 8;

/** A "UNet" whose output is FACTOR times its input: a plan of one kernel on the GPU, a map on the CPU.
 * With `keepCalls`, one call per size serves every run (the buffers it keeps between runs too), as
 * the WGSL UNet's recorded calls do. */
async function standInModel(keepCalls = false, dispatches = 1): Promise<{ model: NoisePredictor; destroy: () => void }> {
  const gpu = await testGpu();
  const made: { destroy(): void }[] = [];
  const calls = new Map<string, PreparedPrediction>();
  const model: NoisePredictor = {
    inChannels: CHANNELS,
    prepare(batch, height, width) {
      const key = `${batch}x${height}x${width}`;
      const kept = calls.get(key);
      if (kept && keepCalls) return kept;
      const tensor = (label: string, shape: number[]): Tensor => {
        const buffer = gpu.createBuffer(label, shape.reduce((a, b) => a * b, 1) * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
        made.push(buffer);
        return { buffer, shape, dtype: 'f32', byteOffset: 0, label };
      };
      const sample = tensor('sample', [batch, CHANNELS, height, width]);
      const output = tensor('output', [batch, CHANNELS, height, width]);
      const timesteps = tensor('timesteps', [batch]);
      const rec = new Recorder(gpu, 'stand-in model');
      // More than one dispatch (the same one again) lets a slow step be split into chunks.
      for (let d = 0; d < dispatches; d++) scale(rec, sample, FACTOR, output);
      const plan = rec.finish();
      const sampling = new SamplingBuffers(gpu);
      made.push(plan, sampling);
      const prepared: PreparedPrediction = {
        predict: async (x) => x.map((v) => Math.fround(v * FACTOR)),
        onGpu: { gpu, sample, timesteps, output, encode: (encoder, range) => plan.encode(encoder, range), dispatches: plan.steps.length, sampling },
      };
      calls.set(key, prepared);
      return prepared;
    },
  };
  return { model, destroy: () => made.forEach((m) => m.destroy()) };
}

interface Case {
  kind: SchedulerKind;
  prediction: 'epsilon' | 'v_prediction';
  guidance: number;
  images: number;
  config?: Record<string, unknown>;
}

const CASES: Case[] = [
  { kind: 'dpmpp2m', prediction: 'v_prediction', guidance: 2, images: 1 },
  { kind: 'dpmpp2m', prediction: 'epsilon', guidance: 5, images: 2, config: { solver_type: 'heun', lower_order_final: false } },
  { kind: 'euler', prediction: 'epsilon', guidance: 7.5, images: 1 },
  { kind: 'euler', prediction: 'v_prediction', guidance: 1, images: 3, config: { timestep_spacing: 'trailing' } },
  { kind: 'euler_a', prediction: 'epsilon', guidance: 3, images: 2 },
  { kind: 'ddim', prediction: 'epsilon', guidance: 1, images: 1, config: { clip_sample: true, clip_sample_range: 1 } },
  { kind: 'ddim', prediction: 'v_prediction', guidance: 4, images: 2 },
];

describe('the GPU sampling loop matches the CPU loop', () => {
  for (const c of CASES) {
    it(`${c.kind}, ${c.prediction}, CFG ${c.guidance}, ${c.images} image(s)${c.config ? ` ${JSON.stringify(c.config)}` : ''}`, async () => {
      const { model, destroy } = await standInModel();
      const random = rng(c.kind.length * 31 + c.images);
      const size = c.images * CHANNELS * SIDE * SIDE;
      const noise = randn(size, random);
      const stepNoise = Array.from({ length: 10 }, () => randn(size, random));
      const cond = new Float32Array(4);
      const config = parseSchedulerConfig({ ...SD, prediction_type: c.prediction, ...c.config });
      const run = async (loop: 'gpu' | 'cpu') => {
        const steps: { latents: Float32Array; predOriginal: Float32Array }[] = [];
        const { latents } = await denoise({
          model,
          scheduler: createScheduler(c.kind, config, 6),
          noise,
          height: SIDE,
          width: SIDE,
          cond,
          uncond: cond,
          guidance: c.guidance,
          stepNoise: (i) => stepNoise[i],
          stepReadback: { latents: true, predOriginal: true },
          onStep: (_, l, p) => void steps.push({ latents: l!, predOriginal: p! }),
          loop,
        });
        return { latents, steps };
      };
      try {
        const gpu = await run('gpu');
        const cpu = await run('cpu');
        expect(gpu.steps.length).toBe(cpu.steps.length);
        gpu.steps.forEach((s, i) => {
          expect(relError(s.latents, cpu.steps[i].latents), `step ${i} latents`).toBeLessThan(1e-5);
          expect(relError(s.predOriginal, cpu.steps[i].predOriginal), `step ${i} x0`).toBeLessThan(1e-5);
        });
        expect(relError(gpu.latents, cpu.latents)).toBeLessThan(1e-5);
      } finally {
        destroy();
      }
    });
  }

  it('runs one after another on one model call (its kept buffers and step plans) as if each were the first', async () => {
    const { model, destroy } = await standInModel(true);
    const random = rng(11);
    const size = CHANNELS * SIDE * SIDE;
    const [noiseA, noiseB] = [randn(size, random), randn(size, random)];
    const stepNoise = Array.from({ length: 6 }, () => randn(size, random));
    const cond = new Float32Array(4);
    const run = async (kind: SchedulerKind, noise: Float32Array, guidance: number, loop: 'gpu' | 'cpu') => {
      const steps: Float32Array[] = [];
      const { latents } = await denoise({
        model,
        scheduler: createScheduler(kind, parseSchedulerConfig({ ...SD, prediction_type: 'v_prediction' }), 5),
        noise,
        height: SIDE,
        width: SIDE,
        cond,
        uncond: cond,
        guidance,
        stepNoise: (i) => stepNoise[i],
        stepReadback: { latents: guidance === 4 },
        onStep: (_, l) => void (l && steps.push(l)),
        loop,
      });
      return { latents, steps };
    };
    try {
      // Another sampler (a new plan, and the ancestral noise buffer), the first settings with new
      // noise (the kept plan and the first step encoded ahead), the first run again, which must give
      // its bits exactly, then settings with step read-backs twice (the second from a first step
      // encoded ahead, with its read-back copy).
      const runs: [SchedulerKind, Float32Array, number][] = [
        ['dpmpp2m', noiseA, 2], ['euler_a', noiseB, 3], ['dpmpp2m', noiseB, 2], ['dpmpp2m', noiseA, 2], ['euler', noiseA, 4], ['euler', noiseB, 4],
      ];
      const results: Float32Array[] = [];
      for (const [kind, noise, guidance] of runs) {
        const gpu = await run(kind, noise, guidance, 'gpu');
        const cpu = await run(kind, noise, guidance, 'cpu');
        expect(relError(gpu.latents, cpu.latents), kind).toBeLessThan(1e-5);
        expect(gpu.steps.length).toBe(guidance === 4 ? 5 : 0);
        gpu.steps.forEach((latents, i) => expect(relError(latents, cpu.steps[i]), `${kind} step ${i}`).toBeLessThan(1e-5));
        results.push(gpu.latents);
      }
      expect(results[3]).toEqual(results[0]);
    } finally {
      destroy();
    }
  });

  it('reads nothing back between steps unless asked, and still reports every step', async () => {
    const { model, destroy } = await standInModel();
    const seen: [number, boolean, boolean][] = [];
    const random = rng(5);
    try {
      await denoise({
        model,
        scheduler: createScheduler('dpmpp2m', parseSchedulerConfig(SD), 4),
        noise: randn(CHANNELS * SIDE * SIDE, random),
        height: SIDE,
        width: SIDE,
        cond: new Float32Array(4),
        uncond: new Float32Array(4),
        guidance: 3,
        onStep: (i, l, p) => void seen.push([i, !!l, !!p]),
      });
    } finally {
      destroy();
    }
    expect(seen).toEqual([0, 1, 2, 3].map((i) => [i, false, false]));
  });

  it('names the first step whose values are NaN or Infinity, on both loops, and nothing on a clean run', async () => {
    const { model, destroy } = await standInModel(true);
    const random = rng(7);
    const run = async (noise: Float32Array, loop: 'gpu' | 'cpu', kind: SchedulerKind) =>
      (await denoise({ model, scheduler: createScheduler(kind, parseSchedulerConfig(SD), 4), noise, height: SIDE, width: SIDE, cond: new Float32Array(4), uncond: new Float32Array(4), guidance: 3, loop })).nonFiniteStep;
    try {
      for (const kind of ['dpmpp2m', 'euler', 'ddim'] as const) {
        const clean = randn(CHANNELS * SIDE * SIDE, random);
        const broken = clean.slice();
        broken[17] = NaN;
        for (const loop of ['gpu', 'cpu'] as const) {
          expect(await run(broken, loop, kind), `${kind} ${loop}`).toBe(0);
          // The flag starts afresh with each run on the same model call.
          expect(await run(clean, loop, kind), `${kind} ${loop}`).toBeUndefined();
        }
        // Values that overflow float32 partway: 1e38 stays finite until a step scales it past 3.4e38.
        const huge = clean.map((v) => v * 1e37);
        expect(await run(huge, 'gpu', kind)).toBe(await run(huge, 'cpu', kind));
      }
    } finally {
      destroy();
    }
  });

  it('waits for each slow step before queuing the next, reads its preview back, and gives the same bits as fast steps', async () => {
    const { model, destroy } = await standInModel(true);
    const random = rng(7);
    const size = CHANNELS * SIDE * SIDE;
    const noise = randn(size, random);
    // Counts the UNet calls encoded, to see how far ahead of a reported step the loop has queued.
    let encoded = 0;
    const counting: NoisePredictor = {
      inChannels: model.inChannels,
      prepare(...args) {
        const prepared = model.prepare(...args);
        const onGpu = prepared.onGpu!;
        return { ...prepared, onGpu: { ...onGpu, encode: (encoder: GPUCommandEncoder) => void (encoded++, onGpu.encode(encoder)) } };
      },
    };
    const run = async (slowStepMs: number, loop: 'gpu' | 'cpu' = 'gpu') => {
      const seen: { step: number; ahead: number; x0?: Float32Array }[] = [];
      encoded = 0;
      const { latents } = await denoise({
        model: counting,
        scheduler: createScheduler('dpmpp2m', parseSchedulerConfig(SD), 5),
        noise,
        height: SIDE,
        width: SIDE,
        cond: new Float32Array(4),
        uncond: new Float32Array(4),
        guidance: 3,
        stepReadback: { predOriginal: true, onlySlowSteps: true },
        slowStepMs,
        onStep: (step, _, x0) => void seen.push({ step, ahead: encoded - (step + 1), x0 }),
        loop,
      });
      return { latents, seen };
    };
    try {
      // Every step slow: each is reported with its x0 before the next one is encoded (after the
      // last, the next run's first step is encoded ahead, as always).
      const slow = await run(0);
      expect(slow.seen.map((s) => s.step)).toEqual([0, 1, 2, 3, 4]);
      expect(slow.seen.slice(0, 4).map((s) => s.ahead)).toEqual([0, 0, 0, 0]);
      const cpu = await run(0, 'cpu');
      slow.seen.forEach((s, i) => expect(relError(s.x0!, cpu.seen[i].x0!), `step ${i} x0`).toBeLessThan(1e-5));
      // Every step fast, as the last run measured them: two in flight, nothing read back, every step reported.
      const fast = await run(Infinity);
      expect(fast.seen.map((s) => s.step)).toEqual([0, 1, 2, 3, 4]);
      expect(fast.seen.every((s) => s.x0 === undefined)).toBe(true);
      expect(fast.seen.slice(0, 4).some((s) => s.ahead > 0)).toBe(true);
      expect(fast.latents).toEqual(slow.latents);
      expect(relError(fast.latents, cpu.latents)).toBeLessThan(1e-5);
    } finally {
      destroy();
    }
  });

  it('submits slow steps in chunks of the UNet, hears a cancel between them, and gives the same bits', async () => {
    const { model, destroy } = await standInModel(true, 6);
    const size = CHANNELS * SIDE * SIDE;
    const noise = randn(size, rng(9));
    // The UNet's dispatch ranges as encoded; `onRange` may cancel partway.
    let ranges: ({ from: number; to: number } | undefined)[] = [];
    let onRange = () => {};
    const counting: NoisePredictor = {
      inChannels: model.inChannels,
      prepare(...args) {
        const prepared = model.prepare(...args);
        const onGpu = prepared.onGpu!;
        return { ...prepared, onGpu: { ...onGpu, encode: (encoder: GPUCommandEncoder, range?: { from: number; to: number }) => (ranges.push(range), onRange(), onGpu.encode(encoder, range)) } };
      },
    };
    const run = (opts: { slowStepMs: number; chunkStepMs?: number; noise?: Float32Array; signal?: AbortSignal; onStep?: (step: number, bad?: number) => void }) => {
      ranges = [];
      return denoise({
        model: counting,
        scheduler: createScheduler('dpmpp2m', parseSchedulerConfig(SD), 4),
        noise: opts.noise ?? noise,
        height: SIDE,
        width: SIDE,
        cond: new Float32Array(4),
        uncond: new Float32Array(4),
        guidance: 3,
        stepReadback: { predOriginal: true, onlySlowSteps: true },
        slowStepMs: opts.slowStepMs,
        chunkStepMs: opts.chunkStepMs,
        signal: opts.signal,
        onStep: (step, _latents, _x0, bad) => opts.onStep?.(step, bad),
      });
    };
    try {
      // The first run's steps are of unknown length: the first is split into every dispatch; the
      // others, slower than chunkStepMs 0, into at least two. Every dispatch is encoded once per step.
      const chunked = await run({ slowStepMs: 0, chunkStepMs: 0 });
      const perStep = ranges.slice(0, -1); // the last is the next run's first step, encoded ahead whole
      expect(perStep.slice(0, 6)).toEqual([0, 1, 2, 3, 4, 5].map((from) => ({ from, to: from + 1 })));
      expect(perStep.every((r) => r !== undefined)).toBe(true);
      expect(perStep.reduce((sum, r) => sum + r!.to - r!.from, 0)).toBe(4 * 6);
      const fast = await run({ slowStepMs: Infinity });
      expect(ranges.every((r) => r === undefined)).toBe(true);
      expect(chunked.latents).toEqual(fast.latents);
      // A first step of unknown length whose first chunk is fast: the rest go in one submit, same bits.
      model.prepare(2, SIDE, SIDE, []).onGpu!.sampling.stepMs = undefined;
      expect((await run({ slowStepMs: 0, chunkStepMs: Infinity })).latents).toEqual(fast.latents);

      // A slow step's preview carries the non-finite flag as it stands after that step.
      const broken = noise.slice();
      broken[3] = Infinity;
      const flags: (number | undefined)[] = [];
      expect((await run({ slowStepMs: 0, chunkStepMs: 0, noise: broken, onStep: (_, bad) => void flags.push(bad) })).nonFiniteStep).toBe(0);
      expect(flags).toEqual([0, 0, 0, 0]);

      // A cancel during a chunk stops the step before its next chunk and before it is reported.
      const controller = new AbortController();
      const reported: number[] = [];
      onRange = () => void (ranges.length === 2 && controller.abort());
      await expect(run({ slowStepMs: 0, chunkStepMs: 0, signal: controller.signal, onStep: (step) => void reported.push(step) })).rejects.toThrow(/cancelled/);
      expect(ranges.length).toBe(2);
      expect(reported).toEqual([]);
    } finally {
      destroy();
    }
  });

  it('stops a cancelled sampling at the next step', async () => {
    const { model, destroy } = await standInModel();
    const controller = new AbortController();
    const random = rng(6);
    let last = -1;
    try {
      await expect(
        denoise({
          model,
          scheduler: createScheduler('euler', parseSchedulerConfig(SD), 8),
          noise: randn(CHANNELS * SIDE * SIDE, random),
          height: SIDE,
          width: SIDE,
          cond: new Float32Array(4),
          guidance: 1,
          signal: controller.signal,
          onStep: (i) => {
            last = i;
            if (i === 1) controller.abort();
          },
        }),
      ).rejects.toThrow(/cancelled/);
    } finally {
      destroy();
    }
    expect(last).toBeLessThan(4);
  });
});
