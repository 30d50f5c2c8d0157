// The denoising loop of denoise.ts with the latents kept on the GPU: the guidance and the
// scheduler's step run as a small kernel after each UNet call (shaders/scheduler-step.wgsl), with
// the step's coefficients computed ahead on the CPU (Scheduler.stepFormula). Nothing is read back
// between steps unless onStep asks for it, and while steps are fast the next step is queued before
// the previous one ends, so the GPU never waits for the CPU. A slow step (slowStepMs, a CPU adapter
// or a big model on a small GPU) is waited for before the next is queued: its progress and preview
// arrive when it ends, not a step later. A step of a second or more (or of unknown length) is
// submitted in chunks of its UNet's dispatches, each waited for, so a cancel takes effect within a
// fraction of a second rather than at the step's end; the dispatches and their order are the same.
//
// A run's buffers and its plan of step dispatches stay with the model call (SamplingBuffers) for
// the next run, and while its last steps run on the GPU it encodes the first step of a next run
// with the same settings: such a run (a slider drag, a new seed) writes its initial latents and
// submits, without making a buffer or a plan or encoding a UNet call first. Runs on one model call
// follow each other, as they must anyway: they share its input and output.
import wgsl from '../../../shaders/scheduler-step.wgsl?raw';
import type { GpuContext } from '../gpu/gpu-context';
import { params } from '../gpu/params';
import { grid1d, Recorder, type Plan } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import type { DenoiseOptions, DenoiseResult } from './denoise';
import { SLOW_STEP_MS, throwIfAborted } from './denoise';
import type { StepFormula } from './scheduler-interface';

/** A prepared model whose input and output stay on the GPU (our UNet's call). */
export interface GpuModelCall {
  readonly gpu: GpuContext;
  /** [batch, C, H, W] */
  readonly sample: Tensor;
  /** [batch] */
  readonly timesteps: Tensor;
  /** [batch, C, H, W] */
  readonly output: Tensor;
  /** Encodes the call's dispatches, or those of `range` (from, from + 1, ... < to). */
  encode(encoder: GPUCommandEncoder, range?: { from: number; to: number }): void;
  /** How many dispatches one call has, for encoding it in chunks. */
  readonly dispatches?: number;
  /** What sampling runs on this call keep between them; destroyed with the call. */
  readonly sampling: SamplingBuffers;
}

/** The latents, the scheduler's x0 prediction, the ancestral noise and the step read-back buffers of
 * sampling runs on one model call, and the plan of the last run's step dispatches with the
 * uniforms it was recorded for. */
export class SamplingBuffers {
  private buffers?: { size: number; latents: Tensor; predOriginal: Tensor; noise: Tensor; staging: GPUBuffer[] };
  /** The first step with a non-finite value (scheduler-step.wgsl's first_bad_step), and its read-back. */
  private status?: { flag: Tensor; staging: GPUBuffer };
  private plan?: { key: string; plan: Plan };
  private firstStep?: { key: string; commands: GPUCommandBuffer };
  /** How long the last step of the last run took on the GPU: the next run starts at the right pace. */
  stepMs?: number;

  constructor(private readonly gpu: GpuContext) {}

  /** The buffers for samples of `size` floats (made on first use, or when the size changes). */
  forSize(size: number): { latents: Tensor; predOriginal: Tensor; noise: Tensor; staging: GPUBuffer[] } {
    if (this.buffers?.size !== size) {
      this.destroy();
      const tensor = (label: string): Tensor => ({ buffer: this.gpu.createBuffer(`sampling:${label}`, size * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC), shape: [size], dtype: 'f32', byteOffset: 0, label });
      // The latents, the x0 prediction and the first-bad-step flag of a step.
      const staging = Array.from({ length: STEPS_IN_FLIGHT }, (_, s) => this.gpu.device.createBuffer({ label: `sampling:step-readback ${s}`, size: 2 * size * 4 + 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
      this.buffers = { size, latents: tensor('latents'), predOriginal: tensor('pred-original'), noise: tensor('step-noise'), staging };
    }
    return this.buffers;
  }

  /** The first-non-finite-step flag and its read-back buffer (made once per model call). */
  nonFiniteFlag(): { flag: Tensor; staging: GPUBuffer } {
    if (!this.status) {
      const buffer = this.gpu.createBuffer('sampling:first-bad-step', 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
      const staging = this.gpu.device.createBuffer({ label: 'sampling:first-bad-step readback', size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      this.status = { flag: { buffer, shape: [1], dtype: 'f32', byteOffset: 0, label: 'first-bad-step' }, staging };
    }
    return this.status;
  }

  /** The plan `record` makes, reused while `key` (the uniforms it records) stays the same. */
  stepPlan(key: string, record: () => Plan): Plan {
    if (this.plan?.key !== key) {
      this.plan?.plan.destroy();
      this.plan = { key, plan: record() };
    }
    return this.plan.plan;
  }

  /** The first step of a run with settings `key`, encoded ahead by the run before (at most once). */
  takeFirstStep(key: string): GPUCommandBuffer | undefined {
    const kept = this.firstStep;
    this.firstStep = undefined;
    return kept?.key === key ? kept.commands : undefined;
  }

  keepFirstStep(key: string, commands: GPUCommandBuffer): void {
    this.firstStep = { key, commands };
  }

  destroy(): void {
    this.firstStep = undefined;
    this.plan?.plan.destroy();
    this.plan = undefined;
    this.status?.flag.buffer.destroy();
    this.status?.staging.destroy();
    this.status = undefined;
    if (!this.buffers) return;
    const { latents, predOriginal, noise, staging } = this.buffers;
    for (const buffer of [latents.buffer, predOriginal.buffer, noise.buffer, ...staging]) buffer.destroy();
    this.buffers = undefined;
  }
}

const WORKGROUP = 256;
const STEPS_IN_FLIGHT = 2;
/** Slow steps at least this long are submitted in chunks of about CHUNK_MS of GPU work. */
const CHUNKED_STEP_MS = 1000;
const CHUNK_MS = 250;
/** Chunks for a step of unknown length (a first run): its cancel waits a sixteenth of a step. */
const UNKNOWN_STEP_CHUNKS = 16;
/** The clamp bound for "no clipping": float32's largest finite value, not Infinity. */
const F32_MAX = 3.4028234663852886e38;

/** first_bad_step's value while every step's values are finite. */
const ALL_FINITE = 0xffffffff;

const FORMULA_INDEX: Record<StepFormula['formula'], number> = { dpmpp2m: 0, euler: 1, ddim: 2 };

/** The formula's flags and coefficients in scheduler-step.wgsl's order. */
function formulaWords(f: StepFormula): { flags: number; coefficients: number[] } {
  const vBit = f.vPrediction ? 1 : 0;
  switch (f.formula) {
    case 'dpmpp2m':
      return { flags: vBit | (f.secondOrder ? 2 : 0), coefficients: [f.alpha, f.sigma, f.sampleScale, f.x0Scale, f.inverseRatio, f.correctionScale] };
    case 'euler':
      return { flags: vBit | (f.ancestral ? 2 : 0), coefficients: [f.sigma, f.vOutScale, f.vDenominator, f.dt, f.sigmaUp, 0] };
    case 'ddim':
      return { flags: vBit, coefficients: [f.sqrtAlpha, f.sqrtBeta, f.sqrtAlphaPrev, f.direction, Math.min(f.clipRange, F32_MAX), 0] };
  }
}

interface InFlight {
  step: number;
  submitted: number;
  /** When the step was seen finished (performance.now()). */
  done: Promise<number>;
  staging?: GPUBuffer;
}

export async function denoiseOnGpu(opts: DenoiseOptions, model: GpuModelCall): Promise<DenoiseResult> {
  const { gpu } = model;
  const { scheduler, guidance } = opts;
  const guided = guidance !== 1;
  const pag = opts.perturbedAttention;
  const size = opts.noise.length;
  const bytes = size * 4;
  const steps = scheduler.timesteps.length;
  const readLatents = !!opts.stepReadback?.latents;
  const readPrediction = !!opts.stepReadback?.predOriginal;
  const batch = model.timesteps.shape[0];

  const formulas = Array.from({ length: steps }, (_, i) => scheduler.stepFormula(i));
  const ancestral = formulas.some((f) => f.formula === 'euler' && f.ancestral);
  if (ancestral && !opts.stepNoise) throw new Error('euler_a: the ancestral step needs a noise source');
  const { latents, predOriginal, noise: stepNoise, staging: stagingBuffers } = model.sampling.forSize(size);
  const noise = ancestral ? stepNoise : undefined;
  const staging = readLatents || readPrediction ? stagingBuffers : [];
  // The initial latents: scaled only where init_noise_sigma is not 1 (Euler's), since the CPU's
  // work here is in front of the first step (a scaled copy per run cost 0.5-0.7 ms of it on the GPU
  // machine's CPU, with the garbage collection it brings).
  const sigma = scheduler.initNoiseSigma;
  gpu.write(latents.buffer, sigma === 1 ? opts.noise : opts.noise.map((v) => v * sigma));
  const status = model.sampling.nonFiniteFlag();
  gpu.write(status.flag.buffer, new Uint32Array([ALL_FINITE]));
  const inFlight: InFlight[] = [];
  const started = performance.now();
  // A step's GPU time: the last run's until this one measures its own; unknown counts as slow, so
  // the first run on a slow GPU shows its first step, at the cost of one wait on a fast one.
  const slowStepMs = opts.slowStepMs ?? SLOW_STEP_MS;
  let stepMs = model.sampling.stepMs;
  let lastDone = 0;
  const isSlow = () => stepMs === undefined || stepMs >= slowStepMs;
  const readsBack = (slow: boolean) => (readLatents || readPrediction) && (slow || !opts.stepReadback?.onlySlowSteps);

  const settle = async ({ step, submitted, done, staging: buffer }: InFlight) => {
    const finished = await done;
    // Steps queued back to back start when the one before ends.
    stepMs = model.sampling.stepMs = finished - Math.max(submitted, lastDone);
    lastDone = finished;
    let stepLatents: Float32Array | undefined;
    let prediction: Float32Array | undefined;
    let badStep: number | undefined;
    if (buffer) {
      await buffer.mapAsync(GPUMapMode.READ);
      const range = buffer.getMappedRange();
      if (readLatents) stepLatents = new Float32Array(range.slice(0, bytes));
      if (readPrediction) prediction = new Float32Array(range.slice(bytes, 2 * bytes));
      const flag = new Uint32Array(range.slice(2 * bytes, 2 * bytes + 4))[0];
      badStep = flag === ALL_FINITE ? undefined : flag;
      buffer.unmap();
    }
    await opts.onStep?.(step, stepLatents, prediction, badStep);
  };

  try {
    // One plan for the whole run: dispatch 2i makes step i's model input, 2i + 1 takes its step.
    const uniforms = formulas.map((formula, i) => {
      const { flags, coefficients } = formulaWords(formula);
      return params()
        .u32(size, guided ? 1 : 0, FORMULA_INDEX[formula.formula], flags)
        .f32(guidance, scheduler.modelInputDivisor(i), ...coefficients)
        .u32(i, pag ? 1 : 0)
        .f32(pag?.scales[i] ?? 0);
    });
    const planKey = `${ancestral}|${uniforms.map((u) => u.bytes().join(',')).join('|')}`;
    const plan = model.sampling.stepPlan(planKey, () => {
      const workgroups = grid1d(Math.ceil(size / WORKGROUP));
      const rec = new Recorder(gpu, 'sampling steps');
      const modelInput = gpu.pipeline('scheduler-step', wgsl, 'model_input');
      const step = gpu.pipeline('scheduler-step', wgsl, 'step');
      uniforms.forEach((stepParams, i) => {
        rec.dispatch({ label: `model_input ${i}`, pipeline: modelInput, params: stepParams, bindings: [latents, null, null, null, model.sample], workgroups });
        rec.dispatch({ label: `step ${i}`, pipeline: step, params: stepParams, bindings: [latents, model.output, predOriginal, noise ?? model.output, null, status.flag], workgroups });
      });
      return rec.finish();
    });

    // Step i's commands: its model input, the UNet call, its scheduler step, its read-back copies.
    // They read the timestep, the latents and the noise when they run, from the queue writes
    // before their submit; the multipliers and the context likewise.
    // `parts` splits the UNet's dispatches into that many command buffers (a slow step's chunks).
    const encodeStep = (i: number, readback: boolean, parts = 1): GPUCommandBuffer[] => {
      const dispatches = model.dispatches ?? 0;
      const count = dispatches > 1 ? Math.min(parts, dispatches) : 1;
      return Array.from({ length: count }, (_, part) => {
        const encoder = gpu.device.createCommandEncoder({ label: `sampling step ${i}${count > 1 ? ` part ${part + 1}/${count}` : ''}` });
        if (part === 0) {
          // DPM++ 2M's first step reads no previous x0; zeros keep a run from depending on the one before.
          if (i === 0) encoder.clearBuffer(predOriginal.buffer);
          plan.encode(encoder, { from: 2 * i, to: 2 * i + 1 });
        }
        model.encode(encoder, count > 1 ? { from: Math.round((part * dispatches) / count), to: Math.round(((part + 1) * dispatches) / count) } : undefined);
        if (part < count - 1) return encoder.finish();
        plan.encode(encoder, { from: 2 * i + 1, to: 2 * i + 2 });
        const buffer = staging[i % STEPS_IN_FLIGHT];
        if (buffer && readback) {
          if (readLatents) encoder.copyBufferToBuffer(latents.buffer, 0, buffer, 0, bytes);
          if (readPrediction) encoder.copyBufferToBuffer(predOriginal.buffer, 0, buffer, bytes, bytes);
          encoder.copyBufferToBuffer(status.flag.buffer, 0, buffer, 2 * bytes, 4);
        }
        return encoder.finish();
      });
    };
    // How many chunks a slow step is submitted in: none for fast steps (queued whole, as before).
    const chunkStepMs = opts.chunkStepMs ?? CHUNKED_STEP_MS;
    const chunksFor = (slow: boolean): number => {
      if (!slow || !model.dispatches) return 1;
      if (stepMs === undefined) return UNKNOWN_STEP_CHUNKS;
      return stepMs >= chunkStepMs ? Math.max(2, Math.ceil(stepMs / CHUNK_MS)) : 1;
    };
    const settingsKey = (readback: boolean) => `${planKey}|${readLatents}|${readPrediction}|${readback}`;
    const timestep = new Float32Array(batch);
    for (let i = 0; i < steps; i++) {
      throwIfAborted(opts.signal);
      const slow = isSlow();
      while (inFlight.length >= (slow ? 1 : STEPS_IN_FLIGHT)) await settle(inFlight.shift()!);
      throwIfAborted(opts.signal);
      const readback = readsBack(isSlow());
      // Queue writes land between the submits around them, so each step sees its own values.
      opts.beforeStep?.(i);
      gpu.write(model.timesteps.buffer, timestep.fill(scheduler.timesteps[i]), model.timesteps.byteOffset);
      if (noise) {
        const drawn = opts.stepNoise!(i);
        if (drawn.length !== size) throw new Error(`euler_a: noise has ${drawn.length} values, the sample ${size}`);
        gpu.write(noise.buffer, drawn);
      }
      const kept = i === 0 ? model.sampling.takeFirstStep(settingsKey(readback)) : undefined;
      const chunks = chunksFor(slow);
      const submitted = performance.now();
      if (chunks > 1) {
        // Each chunk waited for, and a cancel heard between them; the step is then done. A step of
        // unknown length whose first chunk shows it fast submits the rest at once.
        const parts = encodeStep(i, readback, chunks);
        for (let part = 0; part < parts.length; part++) {
          const fast = part === 1 && (performance.now() - submitted) * parts.length < chunkStepMs;
          gpu.device.queue.submit(fast ? parts.slice(part) : [parts[part]]);
          await gpu.idle();
          throwIfAborted(opts.signal);
          if (fast) break;
        }
        const finished = performance.now();
        inFlight.push({ step: i, submitted, done: Promise.resolve(finished), staging: readback ? staging[i % STEPS_IN_FLIGHT] : undefined });
        continue;
      }
      gpu.device.queue.submit(kept ? [kept] : encodeStep(i, readback));
      inFlight.push({ step: i, submitted, done: gpu.idle().then(() => performance.now()), staging: readback ? staging[i % STEPS_IN_FLIGHT] : undefined });
    }
    // The flag's read-back, queued behind the last step; mapped while the image is decoded.
    const flagCopy = gpu.device.createCommandEncoder({ label: 'sampling: first-bad-step readback' });
    flagCopy.copyBufferToBuffer(status.flag.buffer, 0, status.staging, 0, 4);
    gpu.device.queue.submit([flagCopy.finish()]);
    const firstBadStep = status.staging.mapAsync(GPUMapMode.READ).then(() => {
      const value = new Uint32Array(status.staging.getMappedRange())[0];
      status.staging.unmap();
      return value === ALL_FINITE ? undefined : value;
    });
    // A caller that takes the latents on the GPU queues its work behind the last step right away.
    const [channels] = model.sample.shape.slice(1);
    const used = opts.useGpuLatents?.({ ...latents, shape: [size / (channels * opts.height * opts.width), channels, opts.height, opts.width] });
    // While the last steps run: the first step of a next run with these settings.
    const readbackFirst = readsBack(isSlow());
    model.sampling.keepFirstStep(settingsKey(readbackFirst), encodeStep(0, readbackFirst)[0]);
    const settleAll = async () => {
      while (inFlight.length) await settle(inFlight.shift()!);
    };
    const [, , nonFiniteStep] = await Promise.all([used, settleAll(), firstBadStep]);
    const result = used ? new Float32Array(0) : await gpu.readF32(latents.buffer, size);
    return { latents: result, msPerStep: steps ? (performance.now() - started) / steps : 0, nonFiniteStep };
  } finally {
    // A cancelled sampling may leave steps queued: the next run may start once they are done.
    await gpu.idle();
  }
}
