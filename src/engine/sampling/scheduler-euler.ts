// Euler (Karras et al. 2022, https://arxiv.org/abs/2206.00364, Algorithm 2 without churn) and
// Euler ancestral (k-diffusion's sample_euler_ancestral), as diffusers' EulerDiscreteScheduler
// and EulerAncestralDiscreteScheduler step them in float32. In sigma space, x = x0 + σ·ε:
//   x0 = x − σ·ε                          (epsilon)
//   x0 = v·(−σ/√(σ²+1)) + x/(σ²+1)        (v-prediction)
//   d  = (x − x0) / σ,   x_next = x + d·(σ_next − σ)                       Euler
//   σ_up = √(σ_next²·(σ² − σ_next²)/σ²),  σ_down = √(σ_next² − σ_up²),
//   x_next = x + d·(σ_down − σ) + σ_up·noise                               ancestral
// The sigmas are np.interp of the training sigmas at the timesteps, then float32.
import { timestepSpacingFor, type SchedulerConfig } from './scheduler-config';
import { checkStep, checkStepIndex, type Scheduler, type StepFormula } from './scheduler-interface';
import { alphasCumprodFor, betasFor, f32, interpAtTimestep, sigmasFor } from './scheduler-schedule';
import { timestepsFor } from './scheduler-timesteps';

export function createEulerScheduler(kind: 'euler' | 'euler_a', config: SchedulerConfig, steps: number): Scheduler {
  const alphasCumprod = alphasCumprodFor(betasFor(config));
  // diffusers: "close to 0 without being 0 so first sigma is not inf".
  if (config.rescale_betas_zero_snr) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  const trainingSigmas = sigmasFor(alphasCumprod);
  const spacing = timestepSpacingFor(kind, config);
  const timesteps = Float32Array.from(timestepsFor('euler', spacing, config, steps));
  // Euler ancestral has no final_sigmas_type: it always ends at 0.
  const finalSigma = kind === 'euler' && config.final_sigmas_type === 'sigma_min' ? trainingSigmas[0] : 0;
  const sigmas = Float32Array.from([...Array.from(timesteps, (t) => interpAtTimestep(t, trainingSigmas)), finalSigma]);
  const maxSigma = sigmas.reduce((a, b) => Math.max(a, b));
  // Leading spacing never reaches the last training timestep, so diffusers starts from
  // √(σ_max² + 1) there: the standard deviation of x_T = x0 + σ·ε with unit-variance x0.
  const initNoiseSigma = spacing === 'leading' ? f32(Math.sqrt(f32(f32(maxSigma * maxSigma) + 1))) : maxSigma;
  const vPrediction = config.prediction_type === 'v_prediction';

  const divisor = (stepIndex: number) => {
    const sigma = sigmas[stepIndex];
    return f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
  };
  const formula = (stepIndex: number): StepFormula & { formula: 'euler' } => {
    checkStepIndex(kind, timesteps.length, stepIndex);
    const sigma = sigmas[stepIndex];
    const next = sigmas[stepIndex + 1];
    let target = next;
    let sigmaUp = 0;
    if (kind === 'euler_a') {
      const sigmaSq = f32(sigma * sigma);
      const nextSq = f32(next * next);
      sigmaUp = f32(Math.sqrt(f32(f32(nextSq * f32(sigmaSq - nextSq)) / sigmaSq)));
      target = f32(Math.sqrt(f32(nextSq - f32(sigmaUp * sigmaUp))));
    }
    const vDenominator = f32(f32(sigma * sigma) + 1);
    return {
      formula: 'euler',
      vPrediction,
      sigma,
      vOutScale: f32(-sigma / f32(Math.sqrt(vDenominator))),
      vDenominator,
      dt: f32(target - sigma),
      ancestral: kind === 'euler_a',
      sigmaUp,
    };
  };

  return {
    kind,
    timesteps,
    sigmas,
    initNoiseSigma,
    scaleModelInput(sample, stepIndex) {
      checkStep(kind, timesteps.length, stepIndex, sample, sample);
      const scale = divisor(stepIndex);
      return sample.map((x) => x / scale);
    },
    modelInputDivisor: divisor,
    stepFormula: formula,
    step(modelOutput, stepIndex, sample, noise) {
      checkStep(kind, timesteps.length, stepIndex, modelOutput, sample);
      const f = formula(stepIndex);
      let drawn: Float32Array | undefined;
      if (f.ancestral) {
        if (!noise) throw new Error('euler_a: the ancestral step needs a noise source');
        drawn = noise();
        if (drawn.length !== sample.length) throw new Error(`euler_a: noise has ${drawn.length} values, the sample ${sample.length}`);
      }
      const prevSample = new Float32Array(sample.length);
      const predOriginal = new Float32Array(sample.length);
      for (let i = 0; i < sample.length; i++) {
        const x = sample[i];
        const out = modelOutput[i];
        const x0 = f.vPrediction ? f32(f32(out * f.vOutScale) + f32(x / f.vDenominator)) : f32(x - f32(f.sigma * out));
        const derivative = f32(f32(x - x0) / f.sigma);
        const moved = f32(x + f32(derivative * f.dt));
        predOriginal[i] = x0;
        prevSample[i] = drawn ? moved + f32(drawn[i] * f.sigmaUp) : moved;
      }
      return { prevSample, predOriginal };
    },
  };
}
