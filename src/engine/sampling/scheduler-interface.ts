// What every sampler offers the denoising loop; see schedulers.ts for how it is used.
import type { SchedulerKind } from './scheduler-config';

export interface StepResult {
  /** The sample for the next step (x_{t−1}). */
  prevSample: Float32Array;
  /** The model's current estimate of the clean sample x0, for previews. */
  predOriginal: Float32Array;
}

/**
 * One step as float32 coefficients of a per-element formula. The scheduler's step() applies them on
 * the CPU; shaders/scheduler-step.wgsl applies the same on the GPU (gpu-denoise.ts), where the
 * whole sampling runs without reading anything back.
 */
export type StepFormula =
  | {
      formula: 'dpmpp2m';
      vPrediction: boolean;
      alpha: number;
      sigma: number;
      sampleScale: number;
      x0Scale: number;
      /** Second order: D1 = inverseRatio·(x0 − x0_prev), subtracted times correctionScale. */
      secondOrder: boolean;
      inverseRatio: number;
      correctionScale: number;
    }
  | { formula: 'euler'; vPrediction: boolean; sigma: number; vOutScale: number; vDenominator: number; dt: number; ancestral: boolean; sigmaUp: number }
  | { formula: 'ddim'; vPrediction: boolean; sqrtAlpha: number; sqrtBeta: number; sqrtAlphaPrev: number; direction: number; clipRange: number };

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
  /** What scaleModelInput divides the sample by at this step (1 where it returns it as is). */
  modelInputDivisor(stepIndex: number): number;
  /** This step's coefficients (step() uses the same); DPM++'s are second order after step 0. */
  stepFormula(stepIndex: number): StepFormula;
  /**
   * One step from `sample` at timesteps[stepIndex], given the (guided) model output there.
   * `noise` returns standard normal noise of the sample's length; the ancestral sampler calls
   * it once per step, the others never. DPM++ must see the steps in order (step 0 restarts it).
   */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: () => Float32Array): StepResult;
}

/** Checks a step's arguments; every scheduler calls it first. */
export function checkStep(name: string, stepCount: number, stepIndex: number, modelOutput: Float32Array, sample: Float32Array): void {
  checkStepIndex(name, stepCount, stepIndex);
  if (modelOutput.length !== sample.length) throw new Error(`${name}: model output has ${modelOutput.length} values, the sample ${sample.length}`);
}

export function checkStepIndex(name: string, stepCount: number, stepIndex: number): void {
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= stepCount) throw new Error(`${name}: step ${stepIndex} is outside [0, ${stepCount})`);
}
