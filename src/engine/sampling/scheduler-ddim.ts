// DDIM with eta = 0 (Song et al. 2021, https://arxiv.org/abs/2010.02502, eq. 12), as diffusers'
// DDIMScheduler.step computes it in float32:
//   x0   = (x_t − √(1−ᾱ_t)·ε) / √ᾱ_t                      (epsilon)
//   x0   = √ᾱ_t·x_t − √(1−ᾱ_t)·v,  ε = √ᾱ_t·v + √(1−ᾱ_t)·x_t   (v-prediction)
//   x_prev = √ᾱ_prev·x0 + √(1−ᾱ_prev)·ε
// The previous timestep is always t − N // steps, whatever the spacing, and before the first
// training timestep ᾱ_prev is 1 (set_alpha_to_one) or ᾱ_0: diffusers' "final alpha cumprod".
import { timestepSpacingFor, type SchedulerConfig } from './scheduler-config';
import { checkStep, checkStepIndex, type Scheduler, type StepFormula } from './scheduler-interface';
import { alphasCumprodFor, betasFor, f32 } from './scheduler-schedule';
import { timestepsFor } from './scheduler-timesteps';

export function createDdimScheduler(config: SchedulerConfig, steps: number): Scheduler {
  const alphasCumprod = alphasCumprodFor(betasFor(config));
  const n = config.num_train_timesteps;
  const timesteps = Float32Array.from(timestepsFor('ddim', timestepSpacingFor('ddim', config), config, steps));
  const finalAlphaCumprod = (config.set_alpha_to_one ?? true) ? 1 : alphasCumprod[0];
  const clipRange = (config.clip_sample ?? true) ? config.clip_sample_range : Infinity;
  const vPrediction = config.prediction_type === 'v_prediction';
  // torch indexing: −1 (trailing spacing's extra step) is the last entry.
  const alphaAt = (t: number) => {
    const alpha = alphasCumprod[t < 0 ? n + t : t];
    if (alpha === undefined) throw new Error(`ddim: timestep ${t} is outside the ${n} training timesteps (steps_offset too large?)`);
    return alpha;
  };
  timesteps.forEach(alphaAt); // fail here, not at the last step

  const formula = (stepIndex: number): StepFormula & { formula: 'ddim' } => {
    checkStepIndex('ddim', timesteps.length, stepIndex);
    const t = timesteps[stepIndex];
    const prevT = t - Math.floor(n / steps);
    const alpha = alphaAt(t);
    const alphaPrev = prevT >= 0 ? alphaAt(prevT) : finalAlphaCumprod;
    return {
      formula: 'ddim',
      vPrediction,
      sqrtAlpha: f32(Math.sqrt(alpha)),
      sqrtBeta: f32(Math.sqrt(f32(1 - alpha))),
      sqrtAlphaPrev: f32(Math.sqrt(alphaPrev)),
      // eta = 0: std_dev_t is 0, so the direction term keeps all of 1 − ᾱ_prev.
      direction: f32(Math.sqrt(f32(1 - alphaPrev))),
      clipRange,
    };
  };

  return {
    kind: 'ddim',
    timesteps,
    initNoiseSigma: 1,
    scaleModelInput: (sample) => sample,
    modelInputDivisor: () => 1,
    stepFormula: formula,
    step(modelOutput, stepIndex, sample) {
      checkStep('ddim', timesteps.length, stepIndex, modelOutput, sample);
      const f = formula(stepIndex);
      const prevSample = new Float32Array(sample.length);
      const predOriginal = new Float32Array(sample.length);
      for (let i = 0; i < sample.length; i++) {
        const x = sample[i];
        const out = modelOutput[i];
        let x0: number;
        let eps: number;
        if (f.vPrediction) {
          x0 = f32(f32(f.sqrtAlpha * x) - f32(f.sqrtBeta * out));
          eps = f32(f32(f.sqrtAlpha * out) + f32(f.sqrtBeta * x));
        } else {
          x0 = f32(f32(x - f32(f.sqrtBeta * out)) / f.sqrtAlpha);
          eps = out;
        }
        x0 = Math.min(Math.max(x0, -f.clipRange), f.clipRange);
        predOriginal[i] = x0;
        prevSample[i] = f32(f.sqrtAlphaPrev * x0) + f32(f.direction * eps);
      }
      return { prevSample, predOriginal };
    },
  };
}
