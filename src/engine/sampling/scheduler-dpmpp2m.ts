// DPM-Solver++(2M) (Lu et al. 2022, https://arxiv.org/abs/2211.01095, Algorithm 2) as diffusers'
// DPMSolverMultistepScheduler (algorithm_type "dpmsolver++") steps it in float32. With
// α = 1/√(σ²+1), σ̃ = σ·α and λ = log α − log σ̃ (half the log-SNR), h = λ_next − λ:
//   x0 = (x − σ̃·ε)/α  (epsilon),   x0 = α·x − σ̃·v  (v-prediction)
//   first order:  x_next = (σ̃_next/σ̃)·x − α_next·(e^−h − 1)·x0                    (DDIM)
//   second order: D1 = (x0 − x0_prev)·h/h_prev, and
//     midpoint:   x_next = (σ̃_next/σ̃)·x − α_next(e^−h − 1)·x0 − ½·α_next(e^−h − 1)·D1
//     heun:       x_next = (σ̃_next/σ̃)·x − α_next(e^−h − 1)·x0 + α_next((e^−h − 1)/h + 1)·D1
// The first step has no previous x0, so it is first order; so is the last whenever it ends at
// σ = 0 (final_sigmas_type "zero"), with euler_at_final, or with lower_order_final and < 15 steps.
// The scheduler keeps the previous x0: it is stateful, one per image.
// log and exp are rounded from float64; PyTorch's SLEEF versions can differ by a float32 ulp.
import type { SchedulerConfig } from './scheduler-config';
import { timestepSpacingFor } from './scheduler-config';
import { checkStep, checkStepIndex, type Scheduler, type StepFormula } from './scheduler-interface';
import { alphasCumprodFor, betasFor, f32, interpAtTimestep, sigmasFor } from './scheduler-schedule';
import { timestepsFor } from './scheduler-timesteps';

interface NoiseLevel {
  alpha: number;
  sigma: number;
  lambda: number;
}

/** diffusers' _sigma_to_alpha_sigma_t and the λ that every update computes from it. */
function noiseLevel(sigma: number): NoiseLevel {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const scaledSigma = f32(sigma * alpha);
  return { alpha, sigma: scaledSigma, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(scaledSigma))) };
}

export function createDpmpp2mScheduler(config: SchedulerConfig, steps: number): Scheduler {
  const alphasCumprod = alphasCumprodFor(betasFor(config));
  if (config.rescale_betas_zero_snr) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  const trainingSigmas = sigmasFor(alphasCumprod);
  const trainedSteps = config.num_train_timesteps - clippedTimesteps(alphasCumprod, config.lambda_min_clipped);
  if (trainedSteps < steps) {
    throw new RangeError(
      `scheduler config: lambda_min_clipped = ${config.lambda_min_clipped} leaves ${trainedSteps} of ${config.num_train_timesteps} training timesteps, fewer than the ${steps} steps asked for`,
    );
  }
  const timesteps = Float32Array.from(timestepsFor('dpmpp', timestepSpacingFor('dpmpp2m', config), config, steps, trainedSteps));
  const finalSigma = config.final_sigmas_type === 'sigma_min' ? trainingSigmas[0] : 0;
  const sigmas = Float32Array.from([...Array.from(timesteps, (t) => interpAtTimestep(t, trainingSigmas)), finalSigma]);
  const levels = Array.from(sigmas, noiseLevel);
  const count = timesteps.length;
  const fewSteps = config.lower_order_final && count < 15;
  const vPrediction = config.prediction_type === 'v_prediction';

  const formula = (stepIndex: number): StepFormula & { formula: 'dpmpp2m' } => {
    checkStepIndex('dpmpp2m', count, stepIndex);
    const now = levels[stepIndex];
    const next = levels[stepIndex + 1];
    const isLast = stepIndex === count - 1;
    // The first step has no previous x0; diffusers keeps it in the scheduler, which restarts at step 0.
    const firstOrder = config.solver_order === 1 || stepIndex === 0 || (isLast && (config.euler_at_final || fewSteps || config.final_sigmas_type === 'zero'));
    const h = f32(next.lambda - now.lambda);
    const expm1 = f32(f32(Math.exp(-h)) - 1);
    const x0Scale = f32(next.alpha * expm1);
    const shared = { formula: 'dpmpp2m' as const, vPrediction, alpha: now.alpha, sigma: now.sigma, sampleScale: f32(next.sigma / now.sigma), x0Scale };
    if (firstOrder) return { ...shared, secondOrder: false, inverseRatio: 0, correctionScale: 0 };
    const hPrevious = f32(now.lambda - levels[stepIndex - 1].lambda);
    return {
      ...shared,
      secondOrder: true,
      inverseRatio: f32(1 / f32(hPrevious / h)),
      correctionScale: config.solver_type === 'heun' ? -f32(next.alpha * f32(f32(expm1 / h) + 1)) : f32(0.5 * x0Scale),
    };
  };

  let previousX0: Float32Array | null = null;
  let expectedStep = 0;

  return {
    kind: 'dpmpp2m',
    timesteps,
    sigmas,
    initNoiseSigma: 1,
    scaleModelInput: (sample) => sample,
    modelInputDivisor: () => 1,
    stepFormula: formula,
    step(modelOutput, stepIndex, sample) {
      checkStep('dpmpp2m', count, stepIndex, modelOutput, sample);
      if (stepIndex !== 0 && stepIndex !== expectedStep) throw new Error(`dpmpp2m: step ${stepIndex} after step ${expectedStep - 1}; DPM++ must run its steps in order (create a new scheduler per image)`);
      expectedStep = stepIndex + 1;

      const f = formula(stepIndex);
      const x0 = modelOutput.map((out, i) => (vPrediction ? f32(f.alpha * sample[i]) - f32(f.sigma * out) : f32(f32(sample[i] - f32(f.sigma * out)) / f.alpha)));
      const prevSample = new Float32Array(sample.length);
      if (!f.secondOrder) {
        for (let i = 0; i < sample.length; i++) prevSample[i] = f32(f.sampleScale * sample[i]) - f32(f.x0Scale * x0[i]);
      } else {
        const before = previousX0!;
        for (let i = 0; i < sample.length; i++) {
          const d1 = f32(f.inverseRatio * f32(x0[i] - before[i]));
          prevSample[i] = f32(f32(f.sampleScale * sample[i]) - f32(f.x0Scale * x0[i])) - f32(f.correctionScale * d1);
        }
      }
      previousX0 = x0;
      return { prevSample, predOriginal: x0 };
    },
  };
}

/**
 * How many of the noisiest training timesteps have λ below lambda_min_clipped (diffusers:
 * torch.searchsorted(torch.flip(lambda_t, [0]), lambda_min_clipped)), with λ_t = log √ᾱ − log √(1 − ᾱ).
 */
function clippedTimesteps(alphasCumprod: Float32Array, lambdaMinClipped: number): number {
  if (lambdaMinClipped === -Infinity) return 0;
  const threshold = f32(lambdaMinClipped);
  let count = 0;
  for (const a of alphasCumprod) {
    const lambda = f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a))))));
    if (lambda < threshold) count++;
  }
  return count;
}
