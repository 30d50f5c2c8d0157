// The denoising loop of denoise.ts with the latents kept on the GPU: the guidance and the
// scheduler's step run as a small kernel after each UNet call (shaders/scheduler-step.wgsl), with
// the step's coefficients computed ahead on the CPU (Scheduler.stepFormula). Nothing is read back
// between steps unless onStep asks for it, and the next step is queued before the previous one
// ends, so the GPU never waits for the CPU. Steps in flight are limited to STEPS_IN_FLIGHT, so a
// cancelled sampling stops within two steps even on a slow GPU.
import wgsl from '../../../shaders/scheduler-step.wgsl?raw';
import type { GpuContext } from '../gpu/gpu-context';
import { params } from '../gpu/params';
import { grid1d, Recorder, type Plan } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import type { DenoiseOptions, DenoiseResult } from './denoise';
import { throwIfAborted } from './denoise';
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
  encode(encoder: GPUCommandEncoder): void;
}

const WORKGROUP = 256;
const STEPS_IN_FLIGHT = 2;
/** The clamp bound for "no clipping": float32's largest finite value, not Infinity. */
const F32_MAX = 3.4028234663852886e38;

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
  done: Promise<unknown>;
  staging?: GPUBuffer;
}

export async function denoiseOnGpu(opts: DenoiseOptions, model: GpuModelCall): Promise<DenoiseResult> {
  const { gpu } = model;
  const { scheduler, guidance } = opts;
  const guided = guidance !== 1;
  const size = opts.noise.length;
  const bytes = size * 4;
  const steps = scheduler.timesteps.length;
  const readLatents = !!opts.stepReadback?.latents;
  const readPrediction = !!opts.stepReadback?.predOriginal;
  const batch = model.timesteps.shape[0];

  const state = (label: string, data: Float32Array): Tensor => ({ buffer: gpu.upload(`sampling:${label}`, data), shape: [size], dtype: 'f32', byteOffset: 0, label });
  const latents = state('latents', opts.noise.map((v) => v * scheduler.initNoiseSigma));
  const predOriginal = state('pred-original', new Float32Array(size));
  const ancestral = Array.from({ length: steps }, (_, i) => scheduler.stepFormula(i)).some((f) => f.formula === 'euler' && f.ancestral);
  if (ancestral && !opts.stepNoise) throw new Error('euler_a: the ancestral step needs a noise source');
  const noise = ancestral ? state('step-noise', new Float32Array(size)) : undefined;
  let plan: Plan | undefined;
  const staging: GPUBuffer[] = [];
  const inFlight: InFlight[] = [];
  const started = performance.now();

  const settle = async ({ step, done, staging: buffer }: InFlight) => {
    await done;
    let stepLatents: Float32Array | undefined;
    let prediction: Float32Array | undefined;
    if (buffer) {
      await buffer.mapAsync(GPUMapMode.READ);
      const range = buffer.getMappedRange();
      if (readLatents) stepLatents = new Float32Array(range.slice(0, bytes));
      if (readPrediction) prediction = new Float32Array(range.slice(bytes, 2 * bytes));
      buffer.unmap();
    }
    await opts.onStep?.(step, stepLatents, prediction);
  };

  try {
    // One plan for the whole run: dispatch 2i makes step i's model input, 2i + 1 takes its step.
    const workgroups = grid1d(Math.ceil(size / WORKGROUP));
    const rec = new Recorder(gpu, 'sampling steps');
    const modelInput = gpu.pipeline('scheduler-step', wgsl, 'model_input');
    const step = gpu.pipeline('scheduler-step', wgsl, 'step');
    for (let i = 0; i < steps; i++) {
      const formula = scheduler.stepFormula(i);
      const { flags, coefficients } = formulaWords(formula);
      const uniforms = params()
        .u32(size, guided ? 1 : 0, FORMULA_INDEX[formula.formula], flags)
        .f32(guidance, scheduler.modelInputDivisor(i), ...coefficients);
      rec.dispatch({ label: `model_input ${i}`, pipeline: modelInput, params: uniforms, bindings: [latents, null, null, null, model.sample], workgroups });
      rec.dispatch({ label: `step ${i}`, pipeline: step, params: uniforms, bindings: [latents, model.output, predOriginal, noise ?? model.output], workgroups });
    }
    plan = rec.finish();
    if (readLatents || readPrediction) {
      for (let s = 0; s < STEPS_IN_FLIGHT; s++) staging.push(gpu.device.createBuffer({ label: `sampling:step-readback ${s}`, size: 2 * bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
    }

    const timestep = new Float32Array(batch);
    for (let i = 0; i < steps; i++) {
      throwIfAborted(opts.signal);
      // Queue writes land between the submits around them, so each step sees its own values.
      gpu.write(model.timesteps.buffer, timestep.fill(scheduler.timesteps[i]), model.timesteps.byteOffset);
      if (noise) {
        const drawn = opts.stepNoise!(i);
        if (drawn.length !== size) throw new Error(`euler_a: noise has ${drawn.length} values, the sample ${size}`);
        gpu.write(noise.buffer, drawn);
      }
      const encoder = gpu.device.createCommandEncoder({ label: `sampling step ${i}` });
      plan.encode(encoder, { from: 2 * i, to: 2 * i + 1 });
      model.encode(encoder);
      plan.encode(encoder, { from: 2 * i + 1, to: 2 * i + 2 });
      const buffer = staging[i % STEPS_IN_FLIGHT];
      if (buffer) {
        if (readLatents) encoder.copyBufferToBuffer(latents.buffer, 0, buffer, 0, bytes);
        if (readPrediction) encoder.copyBufferToBuffer(predOriginal.buffer, 0, buffer, bytes, bytes);
      }
      gpu.device.queue.submit([encoder.finish()]);
      inFlight.push({ step: i, done: gpu.idle(), staging: buffer });
      if (inFlight.length >= STEPS_IN_FLIGHT) await settle(inFlight.shift()!);
    }
    while (inFlight.length) await settle(inFlight.shift()!);
    const result = await gpu.readF32(latents.buffer, size);
    return { latents: result, msPerStep: steps ? (performance.now() - started) / steps : 0 };
  } finally {
    // A cancelled sampling may leave steps queued: let them finish before freeing what they use.
    await gpu.idle();
    plan?.destroy();
    for (const buffer of [latents.buffer, predOriginal.buffer, noise?.buffer, ...staging]) buffer?.destroy();
  }
}
