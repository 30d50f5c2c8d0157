// What every sampler offers the denoising loop; see schedulers.ts for how it is used.
import type { SchedulerKind } from './scheduler-config';

export interface StepResult {
  /** The sample for the next step (x_{t−1}). */
  prevSample: Float32Array;
  /** The model's current estimate of the clean sample x0, for previews. */
  predOriginal: Float32Array;
}

export interface Scheduler {
  readonly kind: SchedulerKind;
  /** The model timesteps, one per step, as diffusers' scheduler.timesteps. */
  readonly timesteps: Float32Array;
  /** Euler, Euler a and DPM++: the noise level of each step plus the final one (scheduler.sigmas). */
  readonly sigmas?: Float32Array;
  /** The initial latents are standard normal noise times this (a float32 value). */
  readonly initNoiseSigma: number;
  /** diffusers' scale_model_input: Euler divides by sqrt(sigma² + 1); DDIM and DPM++ return `sample`. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /**
   * One step from `sample` at timesteps[stepIndex], given the (guided) model output there.
   * `noise` returns standard normal noise of the sample's length; the ancestral sampler calls
   * it once per step, the others never. DPM++ must see the steps in order (step 0 restarts it).
   */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: () => Float32Array): StepResult;
}

/** Checks a step's arguments; every scheduler calls it first. */
export function checkStep(name: string, stepCount: number, stepIndex: number, modelOutput: Float32Array, sample: Float32Array): void {
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= stepCount) throw new Error(`${name}: step ${stepIndex} is outside [0, ${stepCount})`);
  if (modelOutput.length !== sample.length) throw new Error(`${name}: model output has ${modelOutput.length} values, the sample ${sample.length}`);
}
