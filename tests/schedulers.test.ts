import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { alphasCumprodFor, betasFor, torchLinspaceF32 } from '../src/engine/sampling/scheduler-schedule';
import { createScheduler, parseSchedulerConfig, type Scheduler, type SchedulerKind } from '../src/engine/sampling/schedulers';

const KINDS: SchedulerKind[] = ['ddim', 'euler', 'euler_a', 'dpmpp2m'];
const SPACINGS = ['leading', 'trailing', 'linspace'] as const;
const PREDICTIONS = ['epsilon', 'v_prediction'] as const;
/** Stable Diffusion 1.x's scheduler settings. */
const SD = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', clip_sample: false, set_alpha_to_one: false, steps_offset: 1 };

/** max|a − b| / max|b|: symmetric, and meaningful where single values cancel to near zero. */
function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return Number.isNaN(diff) ? Infinity : diff / scale;
}

/** Mulberry32 normals, so failures reproduce. */
function randomNormals(seed: number, count: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 2 ** 32;
  };
  return Float32Array.from({ length: count }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) * scale);
}

function fixturesDir(): string {
  if (process.env.FIXTURES_DIR) return resolve(process.env.FIXTURES_DIR);
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'fixtures');
}

describe('diffusers sampler runs in the golden fixtures', () => {
  const casesPath = resolve(fixturesDir(), 'unet-sd15-tiny', 'cases.json');
  it('the fixtures are where CI lays them out', () => expect(existsSync(casesPath), casesPath).toBe(true));
  if (!existsSync(casesPath)) return;
  const runs: { key: string; scheduler: string; scheduler_config: unknown; steps: number; timesteps: number[]; init_noise_sigma: number }[] = JSON.parse(readFileSync(casesPath, 'utf8')).sampler_runs;
  // The fixture names a run's variant after its scheduler: euler_trailing is Euler with trailing spacing.
  const kindOf = (name: string) => (name === 'euler_trailing' ? 'euler' : (name as SchedulerKind));

  it('lists runs of every sampler', () => expect(new Set(runs.map((r) => kindOf(r.scheduler)))).toEqual(new Set(KINDS)));
  for (const run of runs) {
    it(`${run.key}: diffusers' timesteps and init_noise_sigma`, () => {
      const scheduler = createScheduler(kindOf(run.scheduler), parseSchedulerConfig(run.scheduler_config), run.steps);
      expect(scheduler.timesteps.length).toBe(run.timesteps.length);
      expect(relError(scheduler.timesteps, run.timesteps)).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(scheduler.initNoiseSigma - run.init_noise_sigma)).toBeLessThanOrEqual(1e-6 * run.init_noise_sigma);
    });
  }
});

describe('PyTorch runs of diffusers\' step expressions (torch 2.11, float32 CPU) are reproduced bit for bit', () => {
  // Exact inputs (quarters), the same formula as the generator used.
  const input = (k: number, scale = 1) => Float32Array.from({ length: 4 }, (_, j) => ((((k * 7 + j * 3) % 11) - 5) / 4) * scale);
  for (const ref of TORCH_RUNS) {
    const { kind, steps, config } = ref;
    const name = `${kind} ${steps} steps, ${config.timestep_spacing}${config.prediction_type === 'v_prediction' ? ', v' : ''}${ref.sqrtTie ? ' (to 1e-6)' : ''}`;
    it(name, () => {
      const scheduler = createScheduler(kind, parseSchedulerConfig(config), steps);
      let sample: Float32Array = input(100, kind.startsWith('euler') ? 8 : 1);
      let second = sample;
      let x0 = sample;
      for (let i = 0; i < scheduler.timesteps.length; i++) {
        const result = scheduler.step(input(i), i, sample, () => input(i + 50));
        sample = result.prevSample;
        x0 = result.predOriginal;
        if (i === Math.min(1, scheduler.timesteps.length - 1)) second = sample;
      }
      expect(scheduler.initNoiseSigma).toBe(Math.fround(ref.init));
      const expected = (values: number[]) => values.map(Math.fround);
      if (ref.sqrtTie) {
        // PyTorch's float32 sqrt (MKL's vector math) rounds about 0.7 % of values the wrong way;
        // here one training sigma is such a near-tie, and we round correctly.
        expect(relError(sample, expected(ref.last))).toBeLessThanOrEqual(1e-6);
        expect(relError(x0, expected(ref.lastX0))).toBeLessThanOrEqual(1e-6);
      } else {
        expect(Array.from(second)).toEqual(expected(ref.second));
        expect(Array.from(sample)).toEqual(expected(ref.last));
        expect(Array.from(x0)).toEqual(expected(ref.lastX0));
      }
    });
  }

  it('betas follow torch.linspace in float32 (one fused multiply-add per value), not a float64 linspace', () => {
    const roots = torchLinspaceF32(Math.sqrt(0.00085), Math.sqrt(0.012), 1000);
    // torch.linspace(0.00085**0.5, 0.012**0.5, 1000) read from PyTorch at indices 2, 600 and 998,
    // where a float64 linspace rounds to the neighbouring float32 (0.0293157, 0.077436894, 0.10946404).
    expect([roots[2], roots[600], roots[998]]).toEqual([0.029315699, 0.07743689, 0.109464034].map(Math.fround));
  });
});

describe('timesteps follow each diffusers class\'s spacing rules', () => {
  const timesteps = (kind: SchedulerKind, steps: number, config: object) => Array.from(createScheduler(kind, parseSchedulerConfig(config), steps).timesteps);
  it('leading: multiples of N // steps, plus steps_offset', () => {
    expect(timesteps('ddim', 4, SD)).toEqual([751, 501, 251, 1]);
    expect(timesteps('euler', 4, { ...SD, timestep_spacing: 'leading' })).toEqual([751, 501, 251, 1]);
    // DPM++ divides by steps + 1 and drops timestep 0.
    expect(timesteps('dpmpp2m', 6, { ...SD, timestep_spacing: 'leading' })).toEqual([853, 711, 569, 427, 285, 143]);
  });
  it('linspace: DDIM and DPM++ round half to even like numpy; Euler keeps fractions', () => {
    expect(timesteps('ddim', 7, { ...SD, timestep_spacing: 'linspace' })).toEqual([999, 832, 666, 500, 333, 166, 0]);
    expect(timesteps('euler', 7, { ...SD, timestep_spacing: 'linspace' })).toEqual([999, 832.5, 666, 499.5, 333, 166.5, 0]);
    expect(timesteps('dpmpp2m', 5, { ...SD, timestep_spacing: 'linspace' })).toEqual([999, 799, 599, 400, 200]);
  });
  it('trailing: counts down from N, rounding halves to even', () => {
    expect(timesteps('euler_a', 4, { ...SD, timestep_spacing: 'trailing' })).toEqual([999, 749, 499, 249]);
    expect(timesteps('dpmpp2m', 16, { ...SD, timestep_spacing: 'trailing' })).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
  });
  it('trailing keeps numpy\'s extra arange value, as diffusers does (61 steps give 62 timesteps, the last −1)', () => {
    const ts = timesteps('ddim', 61, { ...SD, timestep_spacing: 'trailing' });
    expect(ts.length).toBe(62);
    expect(ts.slice(-3)).toEqual([32, 15, -1]);
  });
  it('without timestep_spacing, each class uses its own default (DDIM leading, the others linspace)', () => {
    expect(timesteps('ddim', 4, SD)).toEqual([751, 501, 251, 1]);
    expect(timesteps('euler', 4, SD)).toEqual([999, 666, 333, 0]);
    expect(timesteps('dpmpp2m', 4, SD)).toEqual([999, 749, 500, 250]);
  });
  it('refuses step counts outside [1, num_train_timesteps]', () => {
    expect(() => createScheduler('euler', parseSchedulerConfig(SD), 0)).toThrow(/steps/);
    expect(() => createScheduler('ddim', parseSchedulerConfig(SD), 1001)).toThrow(/steps/);
  });
});

describe('noise schedule', () => {
  // Float64 references: betas from a float64 linspace, ᾱ_t = Π(1 − β_i), σ_t = √((1 − ᾱ_t)/ᾱ_t).
  const betas64 = Array.from({ length: 1000 }, (_, i) => (Math.sqrt(0.00085) + ((Math.sqrt(0.012) - Math.sqrt(0.00085)) * i) / 999) ** 2);
  const alphaBar64: number[] = [];
  betas64.reduce((product, beta) => (alphaBar64.push(product * (1 - beta)), product * (1 - beta)), 1);
  const sigma64 = (t: number) => Math.sqrt((1 - alphaBar64[t]) / alphaBar64[t]);

  it('alphas_cumprod agrees with the float64 product to float32 accuracy', () => {
    expect(relError(alphasCumprodFor(betasFor(parseSchedulerConfig(SD))), alphaBar64)).toBeLessThan(2e-6);
  });
  it('Euler sigmas interpolate the training sigmas linearly between integer timesteps and end at 0', () => {
    const scheduler = createScheduler('euler', parseSchedulerConfig({ ...SD, timestep_spacing: 'linspace' }), 7);
    const expected = Array.from(scheduler.timesteps, (t) => {
      const j = Math.floor(t);
      return j === t ? sigma64(t) : sigma64(j) + (sigma64(j + 1) - sigma64(j)) * (t - j);
    });
    expect(relError(scheduler.sigmas!.slice(0, -1), expected)).toBeLessThan(2e-6);
    expect(scheduler.sigmas![7]).toBe(0);
  });
  it('final_sigmas_type sigma_min ends Euler and DPM++ at the smallest training sigma', () => {
    for (const kind of ['euler', 'dpmpp2m'] as const) {
      const sigmas = createScheduler(kind, parseSchedulerConfig({ ...SD, final_sigmas_type: 'sigma_min' }), 5).sigmas!;
      // 1 − ᾱ_0 = β_0 ≈ 0.00085 cancels in float32 (as in diffusers): up to 2^−24 / β_0 ≈ 7e-5 relative.
      expect(Math.abs(sigmas[5] / sigma64(0) - 1)).toBeLessThan(1e-4);
    }
  });
  it('initial noise: √(σ_max² + 1) with leading spacing, σ_max otherwise, 1 for DDIM and DPM++', () => {
    for (const spacing of SPACINGS) {
      const euler = createScheduler('euler', parseSchedulerConfig({ ...SD, timestep_spacing: spacing }), 10);
      const sigmaMax = euler.sigmas![0];
      expect(euler.initNoiseSigma).toBe(spacing === 'leading' ? Math.fround(Math.sqrt(sigmaMax * sigmaMax + 1)) : sigmaMax);
      expect(createScheduler('ddim', parseSchedulerConfig({ ...SD, timestep_spacing: spacing }), 10).initNoiseSigma).toBe(1);
      expect(createScheduler('dpmpp2m', parseSchedulerConfig({ ...SD, timestep_spacing: spacing }), 10).initNoiseSigma).toBe(1);
    }
  });
  it('zero terminal SNR puts ᾱ_T at 2^-24, so Euler starts at σ ≈ 4096', () => {
    const scheduler = createScheduler('euler', parseSchedulerConfig({ ...SD, rescale_betas_zero_snr: true, timestep_spacing: 'trailing' }), 4);
    expect(Math.abs(scheduler.sigmas![0] / Math.sqrt((1 - 2 ** -24) / 2 ** -24) - 1)).toBeLessThan(1e-6);
  });
});

/** What the sampler's own schedule says about the noise level at step i, as ᾱ. */
function alphaBarAt(scheduler: Scheduler, config: object, i: number): number {
  if (scheduler.kind === 'ddim') {
    const t = scheduler.timesteps[i];
    return alphasCumprodFor(betasFor(parseSchedulerConfig(config)))[t];
  }
  const sigma = scheduler.sigmas![i];
  return 1 / (sigma * sigma + 1);
}

describe('step math agrees with the formulas of the diffusers source (float64 references)', () => {
  const size = 257;
  for (const kind of KINDS) {
    for (const prediction of PREDICTIONS) {
      for (const spacing of SPACINGS) {
        it(`${kind}, ${prediction}, ${spacing}`, () => {
          const config = { ...SD, prediction_type: prediction, timestep_spacing: spacing, steps_offset: spacing === 'leading' ? 1 : 0 };
          const scheduler = createScheduler(kind, parseSchedulerConfig(config), 8);
          const sigmaSpace = kind === 'euler' || kind === 'euler_a';
          let sample = randomNormals(1, size, sigmaSpace ? scheduler.initNoiseSigma : 1);
          let previousX0: number[] | null = null;
          for (let i = 0; i < scheduler.timesteps.length; i++) {
            const out = randomNormals(100 + i, size);
            const noise = randomNormals(200 + i, size);
            const expected = referenceStep(kind, scheduler, config, i, Array.from(out), Array.from(sample), Array.from(noise), previousX0);
            const result = scheduler.step(out, i, sample, () => noise);
            expect(relError(result.predOriginal, expected.x0)).toBeLessThan(1e-6);
            expect(relError(result.prevSample, expected.prev)).toBeLessThan(1e-6);
            previousX0 = expected.x0;
            sample = result.prevSample;
          }
        });
      }
    }
  }

  it('Euler and Euler a divide the model input by √(σ² + 1); DDIM and DPM++ leave it alone', () => {
    const sample = randomNormals(3, 64, 10);
    for (const kind of KINDS) {
      const scheduler = createScheduler(kind, parseSchedulerConfig(SD), 5);
      const sigma = scheduler.sigmas?.[2] ?? 0;
      const divisor = kind.startsWith('euler') ? Math.sqrt(sigma * sigma + 1) : 1;
      expect(relError(scheduler.scaleModelInput(sample, 2), Array.from(sample, (x) => x / divisor))).toBeLessThan(1e-7);
    }
  });

  it('DPM++ steps the last of 16 steps in second order when it ends at sigma_min, in first order when it ends at 0', () => {
    for (const final of ['sigma_min', 'zero'] as const) {
      const config = { ...SD, timestep_spacing: 'linspace', final_sigmas_type: final };
      const scheduler = createScheduler('dpmpp2m', parseSchedulerConfig(config), 16);
      let sample = randomNormals(5, 33);
      let previousX0: number[] | null = null;
      for (let i = 0; i < 16; i++) {
        const out = randomNormals(300 + i, 33);
        const firstOrder = referenceStep('dpmpp2m', scheduler, config, i, Array.from(out), Array.from(sample), [], previousX0, true);
        const result = scheduler.step(out, i, sample);
        if (i === 15) expect(relError(result.prevSample, firstOrder.prev) < 1e-6).toBe(final === 'zero');
        previousX0 = firstOrder.x0;
        sample = result.prevSample;
      }
    }
  });
});

describe('samplers behave as samplers', () => {
  // A model that knows the clean sample x0 predicts the exact noise (or v) at every step.
  for (const kind of KINDS) {
    for (const prediction of PREDICTIONS) {
      it(`${kind} with an oracle ${prediction} model predicts x0 at every step and ends on it`, () => {
        const config = { ...SD, prediction_type: prediction, timestep_spacing: 'trailing', set_alpha_to_one: true };
        const scheduler = createScheduler(kind, parseSchedulerConfig(config), 10);
        const x0 = randomNormals(7, 128);
        const sigmaSpace = kind === 'euler' || kind === 'euler_a';
        // x_T: x0 + σ·ε in Euler's sigma space, √ᾱ·x0 + √(1 − ᾱ)·ε for DDIM and DPM++.
        const alphaBarT = alphaBarAt(scheduler, config, 0);
        const eps = randomNormals(8, 128);
        let sample: Float32Array = x0.map((x, j) => (sigmaSpace ? x + scheduler.sigmas![0] * eps[j] : Math.sqrt(alphaBarT) * x + Math.sqrt(1 - alphaBarT) * eps[j]));
        for (let i = 0; i < scheduler.timesteps.length; i++) {
          const alphaBar = alphaBarAt(scheduler, config, i);
          const alpha = Math.sqrt(alphaBar);
          const noiseScale = Math.sqrt(1 - alphaBar);
          // In Euler's sigma space the sample is x0 + σ·ε; the model sees it scaled by α = 1/√(σ² + 1).
          const output = sample.map((x, j) => {
            const eps = sigmaSpace ? (x * alpha - alpha * x0[j]) / noiseScale : (x - alpha * x0[j]) / noiseScale;
            return prediction === 'epsilon' ? eps : alpha * eps - noiseScale * x0[j];
          });
          const result = scheduler.step(output, i, sample, () => randomNormals(400 + i, 128));
          expect(relError(result.predOriginal, x0)).toBeLessThan(2e-5);
          sample = result.prevSample;
        }
        expect(relError(sample, x0)).toBeLessThan(2e-5);
      });
    }
  }

  it('the ancestral sampler draws its noise once per step and needs a source', () => {
    const scheduler = createScheduler('euler_a', parseSchedulerConfig(SD), 4);
    const sample = randomNormals(9, 16, scheduler.initNoiseSigma);
    let draws = 0;
    scheduler.step(randomNormals(10, 16), 0, sample, () => (draws++, randomNormals(11, 16)));
    expect(draws).toBe(1);
    expect(() => scheduler.step(randomNormals(10, 16), 1, sample)).toThrow(/noise/);
    expect(() => scheduler.step(randomNormals(10, 16), 1, sample, () => new Float32Array(3))).toThrow(/noise/);
  });

  it('the same noise gives the same ancestral step; other noise another', () => {
    const scheduler = createScheduler('euler_a', parseSchedulerConfig(SD), 4);
    const sample = randomNormals(9, 16, scheduler.initNoiseSigma);
    const out = randomNormals(10, 16);
    const a = scheduler.step(out, 1, sample, () => randomNormals(1, 16)).prevSample;
    expect(scheduler.step(out, 1, sample, () => randomNormals(1, 16)).prevSample).toEqual(a);
    expect(scheduler.step(out, 1, sample, () => randomNormals(2, 16)).prevSample).not.toEqual(a);
  });

  it('DPM++ remembers the previous prediction: steps must come in order, and step 0 starts a new image', () => {
    const scheduler = createScheduler('dpmpp2m', parseSchedulerConfig(SD), 5);
    const run = () => {
      let sample = randomNormals(12, 16);
      for (let i = 0; i < 5; i++) sample = scheduler.step(randomNormals(20 + i, 16), i, sample).prevSample;
      return sample;
    };
    const first = run();
    expect(run()).toEqual(first);
    scheduler.step(randomNormals(20, 16), 0, randomNormals(12, 16));
    expect(() => scheduler.step(randomNormals(20, 16), 2, randomNormals(12, 16))).toThrow(/in order/);
  });

  it('refuses mismatched lengths and steps outside the schedule', () => {
    const scheduler = createScheduler('ddim', parseSchedulerConfig(SD), 4);
    expect(() => scheduler.step(new Float32Array(3), 0, new Float32Array(4))).toThrow(/model output/);
    expect(() => scheduler.step(new Float32Array(4), 4, new Float32Array(4))).toThrow(/step 4/);
  });
});

describe('parseSchedulerConfig', () => {
  it('reads Stable Diffusion 1.5\'s scheduler_config.json (a PNDMScheduler\'s)', () => {
    const config = parseSchedulerConfig({ _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085, num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false });
    expect(config).toMatchObject({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', steps_offset: 1, set_alpha_to_one: false, clip_sample: false, prediction_type: 'epsilon' });
    expect(config.timestep_spacing).toBeUndefined();
  });
  it('reads -Infinity written as a string or a number, and diffusers\' aliases', () => {
    expect(parseSchedulerConfig({ lambda_min_clipped: '-Infinity' }).lambda_min_clipped).toBe(-Infinity);
    expect(parseSchedulerConfig({ lambda_min_clipped: -5.1 }).lambda_min_clipped).toBe(-5.1);
    expect(parseSchedulerConfig({ solver_type: 'bh2', algorithm_type: 'deis' }).solver_type).toBe('midpoint');
  });
  it('treats the fields in _use_default_values as absent, as diffusers\' from_config does', () => {
    const config = parseSchedulerConfig({ ...SD, timestep_spacing: 'leading', _use_default_values: ['timestep_spacing'] });
    expect(config.timestep_spacing).toBeUndefined();
  });
  const refusals: [string, unknown][] = [
    ['use_karras_sigmas', true],
    ['thresholding', true],
    ['solver_order', 3],
    ['algorithm_type', 'sde-dpmsolver++'],
    ['beta_schedule', 'sigmoid'],
    ['interpolation_type', 'log_linear'],
    ['timestep_type', 'continuous'],
    ['variance_type', 'learned_range'],
    ['use_flow_sigmas', true],
    ['prediction_type', 'sample'],
    ['timestep_spacing', 'karras'],
    ['trained_betas', [0.1, 0.2]],
  ];
  for (const [field, value] of refusals) {
    it(`refuses ${field} = ${JSON.stringify(value)}, naming the field`, () => {
      expect(() => parseSchedulerConfig({ ...SD, [field]: value })).toThrow(field);
    });
  }
  it('refuses what is not an object', () => expect(() => parseSchedulerConfig([1])).toThrow(/object/));
});

interface ReferenceStep {
  x0: number[];
  prev: number[];
}

/** One step of each sampler in float64, written from the diffusers source (see each scheduler file's header). */
function referenceStep(kind: SchedulerKind, scheduler: Scheduler, config: object, i: number, out: number[], x: number[], noise: number[], previousX0: number[] | null, forceFirstOrder = false): ReferenceStep {
  const v = (config as { prediction_type?: string }).prediction_type === 'v_prediction';
  if (kind === 'ddim') {
    const parsed = parseSchedulerConfig(config);
    const alphas = alphasCumprodFor(betasFor(parsed));
    const t = scheduler.timesteps[i];
    const prevT = t - Math.floor(1000 / scheduler.timesteps.length);
    const a = alphas[t];
    const aPrev = prevT >= 0 ? alphas[prevT] : (parsed.set_alpha_to_one ?? true) ? 1 : alphas[0];
    const x0 = x.map((xi, j) => (v ? Math.sqrt(a) * xi - Math.sqrt(1 - a) * out[j] : (xi - Math.sqrt(1 - a) * out[j]) / Math.sqrt(a)));
    const eps = x.map((xi, j) => (v ? Math.sqrt(a) * out[j] + Math.sqrt(1 - a) * xi : out[j]));
    return { x0, prev: x0.map((x0j, j) => Math.sqrt(aPrev) * x0j + Math.sqrt(1 - aPrev) * eps[j]) };
  }
  const sigmas = scheduler.sigmas!;
  const sigma = sigmas[i];
  const next = sigmas[i + 1];
  if (kind === 'euler' || kind === 'euler_a') {
    const x0 = x.map((xi, j) => (v ? (out[j] * -sigma) / Math.sqrt(sigma * sigma + 1) + xi / (sigma * sigma + 1) : xi - sigma * out[j]));
    const up = kind === 'euler_a' ? Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma)) : 0;
    const down = kind === 'euler_a' ? Math.sqrt(next * next - up * up) : next;
    return { x0, prev: x.map((xi, j) => xi + ((xi - x0[j]) / sigma) * (down - sigma) + (up ? noise[j] * up : 0)) };
  }
  const level = (s: number) => {
    const alpha = 1 / Math.sqrt(s * s + 1);
    return { alpha, sigma: s * alpha, lambda: Math.log(alpha) - Math.log(s * alpha) };
  };
  const [now, after] = [level(sigma), level(next)];
  const x0 = x.map((xi, j) => (v ? now.alpha * xi - now.sigma * out[j] : (xi - now.sigma * out[j]) / now.alpha));
  const h = after.lambda - now.lambda;
  const first = x.map((xi, j) => (after.sigma / now.sigma) * xi - after.alpha * Math.expm1(-h) * x0[j]);
  const last = i === scheduler.timesteps.length - 1;
  const finalZero = sigmas[sigmas.length - 1] === 0;
  if (forceFirstOrder || !previousX0 || (last && (finalZero || scheduler.timesteps.length < 15))) return { x0, prev: first };
  const r = (now.lambda - level(sigmas[i - 1]).lambda) / h;
  // Midpoint: D1 = (x0 − x0_prev)/r, x_next = first-order − ½·α_next·(e^−h − 1)·D1.
  return { x0, prev: first.map((f, j) => f - 0.5 * after.alpha * Math.expm1(-h) * ((x0[j] - previousX0[j]) / r)) };
}

/**
 * Made on the GPU machine: diffusers' scheduler expressions transcribed into PyTorch 2.11 (CPU,
 * float32, AVX-512 and AVX2 builds agreeing), inputs `input(k)` above, 4 values. `second` is the
 * sample after step 1, `last` and `lastX0` after the final step.
 */
const TORCH_RUNS: { kind: SchedulerKind; steps: number; config: Record<string, unknown> & { timestep_spacing: string; prediction_type?: string }; init: number; second: number[]; last: number[]; lastX0: number[]; sqrtTie?: boolean }[] = [
  { kind: 'ddim', steps: 7, config: { ...SD, timestep_spacing: "leading" }, init: 1.0, second: [2.835472, 3.5342834, -2.052867, -1.354056], last: [6.4426208, 7.879542, -5.3968363, -2.0904496], lastX0: [6.416193, 7.9120607, -5.3918395, -2.1059225] },
  { kind: 'ddim', steps: 7, config: { ...SD, timestep_spacing: "trailing" }, init: 1.0, second: [4.2437005, 4.9723806, -2.8760593, -2.14738], last: [14.904419, 18.215174, -11.572378, -6.5876765], lastX0: [14.88159, 18.252089, -11.570007, -6.6050615] },
  { kind: 'ddim', steps: 7, config: { ...SD, timestep_spacing: "linspace" }, init: 1.0, second: [4.148579, 4.875276, -2.8204765, -2.0937803], last: [11.145789, 12.932543, -8.499776, -4.531248], lastX0: [11.121362, 12.96721, -8.4960985, -4.5477586] },
  { kind: 'ddim', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "leading" }, init: 1.0, second: [0.55885893, 1.0662347, -0.63343763, -0.12606196], last: [0.5105766, 0.80354714, -0.76359934, 0.42671058], lastX0: [0.48102164, 0.8320786, -0.7557153, 0.4117996] },
  { kind: 'ddim', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "trailing" }, init: 1.0, second: [0.5297211, 1.1167274, -0.6660826, -0.0790763], last: [0.03785088, 1.2035859, -0.5791313, 0.10042522], lastX0: [0.00594759, 1.2203485, -0.56420773, 0.0834796] },
  { kind: 'ddim', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "linspace" }, init: 1.0, second: [0.5250006, 1.1051518, -0.6591416, -0.07899038], last: [0.45946285, 0.85734475, -0.7451757, 0.38007116], lastX0: [0.4301124, 0.8861354, -0.73757017, 0.36533204] },
  { kind: 'euler', steps: 7, config: { ...SD, timestep_spacing: "leading" }, init: 6.6463127, second: [7.1374226, 9.744918, -5.692691, -3.0851955], last: [7.0930386, 9.604169, -6.407106, -2.1059232], lastX0: [7.0930386, 9.604169, -6.407106, -2.1059232] },
  { kind: 'euler', steps: 7, config: { ...SD, timestep_spacing: "trailing" }, init: 14.614647, second: [12.355246, 10.02967, -5.620498, -7.946074], last: [11.816539, 10.200388, -6.7482104, -6.727841], lastX0: [11.816539, 10.200388, -6.7482104, -6.727841] },
  { kind: 'euler', steps: 7, config: { ...SD, timestep_spacing: "linspace" }, init: 14.614647, second: [13.316856, 10.544602, -5.8934746, -8.665729], last: [13.323608, 10.321702, -7.0983925, -7.199823], lastX0: [13.323608, 10.321702, -7.0983925, -7.199823] },
  { kind: 'euler', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "leading" }, init: 6.6463127, second: [1.4999636, 2.9959302, -1.7831967, -0.2872302], last: [0.5661506, 1.0449009, -0.8834088, 0.41179955], lastX0: [0.5661506, 1.0449009, -0.8834088, 0.41179955] },
  { kind: 'euler', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "trailing" }, init: 14.614647, second: [1.1165966, 2.0263803, -1.2012546, -0.29147097], last: [-0.17873526, 0.75151086, -0.28481156, 0.086533815], lastX0: [-0.17873524, 0.75151086, -0.28481156, 0.08653383] },
  { kind: 'euler', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "linspace" }, init: 14.614647, second: [0.9490117, 1.5890179, -0.9384867, -0.29848045], last: [0.27655324, 0.31435642, -0.4789216, 0.5066388], lastX0: [0.27655324, 0.31435642, -0.4789216, 0.5066388] },
  { kind: 'euler_a', steps: 7, config: { ...SD, timestep_spacing: "leading" }, init: 6.6463127, second: [11.71542, 7.7952843, -8.278066, -4.072884], last: [10.841892, 6.7027607, -8.651296, -1.5732785], lastX0: [10.841892, 6.7027607, -8.651296, -1.5732785] },
  { kind: 'euler_a', steps: 7, config: { ...SD, timestep_spacing: "trailing" }, init: 14.614647, second: [21.990166, 6.070623, -10.49677, -10.098109], last: [19.817478, 4.5507483, -11.123136, -5.837325], lastX0: [19.817478, 4.5507483, -11.123136, -5.837325] },
  { kind: 'euler_a', steps: 7, config: { ...SD, timestep_spacing: "linspace" }, init: 14.614647, second: [22.416529, 6.923432, -10.1975355, -10.747759], last: [21.338093, 5.4903293, -11.089252, -7.176792], lastX0: [21.338093, 5.4903293, -11.089252, -7.176792] },
  { kind: 'euler_a', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "leading" }, init: 6.6463127, second: [1.6725564, 0.6045977, -2.6658754, -0.5256514], last: [0.0015129186, -0.46906984, -0.2622007, 0.83633006], lastX0: [0.0015129186, -0.46906984, -0.2622007, 0.83633006] },
  { kind: 'euler_a', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "trailing" }, init: 14.614647, second: [1.9233265, 0.34300065, -4.063958, -0.8541955], last: [-0.7753943, -0.26203346, 0.2267169, 0.7376032], lastX0: [-0.7753943, -0.2620335, 0.2267169, 0.7376032] },
  { kind: 'euler_a', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "linspace" }, init: 14.614647, second: [1.4960938, 0.10251212, -3.2929227, -0.7786809], last: [-0.11620365, -0.62120044, -0.045433, 0.8515467], lastX0: [-0.11620365, -0.62120044, -0.045433, 0.8515467] },
  { kind: 'dpmpp2m', steps: 7, config: { ...SD, timestep_spacing: "leading" }, init: 1.0, second: [2.1435456, 2.8590555, -1.6678178, -0.9523077], last: [5.406668, 8.253436, -5.5906544, -1.3558927], lastX0: [5.406668, 8.253436, -5.5906544, -1.3558927] },
  { kind: 'dpmpp2m', steps: 7, config: { ...SD, timestep_spacing: "trailing" }, init: 1.0, second: [3.6748393, 4.403213, -2.5508058, -1.822433], last: [12.928595, 16.622538, -11.106589, -4.6532264], lastX0: [12.928595, 16.622538, -11.106589, -4.6532264] },
  { kind: 'dpmpp2m', steps: 7, config: { ...SD, timestep_spacing: "linspace" }, init: 1.0, second: [3.6696603, 4.3982267, -2.5479655, -1.8194], last: [12.945125, 16.68996, -11.146541, -4.6758895], lastX0: [12.945125, 16.68996, -11.146541, -4.6758895] },
  { kind: 'dpmpp2m', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "leading" }, init: 1.0, second: [0.4494565, 1.0105624, -0.60418355, -0.04307766], last: [0.16936377, 1.3049142, -0.7386854, 0.27137852], lastX0: [0.16936377, 1.3049142, -0.7386854, 0.27137852] },
  { kind: 'dpmpp2m', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "trailing" }, init: 1.0, second: [0.44079536, 1.0293602, -0.6162327, -0.027667876], last: [0.13817254, 1.3145669, -0.73396415, 0.30950886], lastX0: [0.13817254, 1.3145669, -0.73396415, 0.30950886] },
  { kind: 'dpmpp2m', steps: 7, config: { ...SD, prediction_type: "v_prediction", timestep_spacing: "linspace" }, init: 1.0, second: [0.44270754, 1.0321175, -0.6178485, -0.028438631], last: [0.12977234, 1.3200428, -0.7293995, 0.29927027], lastX0: [0.12977234, 1.3200428, -0.7293995, 0.29927027] },
  { kind: 'dpmpp2m', steps: 16, config: { ...SD, timestep_spacing: "linspace", final_sigmas_type: "sigma_min" }, init: 1.0, second: [1.2279418, 1.974477, -1.1638219, -0.41728657], last: [8.36578, 14.67035, -9.640979, -1.0039572], lastX0: [8.17994, 15.341917, -10.318034, -1.1981877] },
  { kind: 'dpmpp2m', steps: 9, config: { ...SD, timestep_spacing: "leading", solver_type: "heun" }, init: 1.0, second: [1.7012341, 2.4326055, -1.4248875, -0.69351614], last: [5.8309445, 8.816379, -5.888571, -1.4188966], lastX0: [5.8309445, 8.816379, -5.888571, -1.4188966] },
  { kind: 'dpmpp2m', steps: 10, config: { num_train_timesteps: 1000, beta_schedule: "squaredcos_cap_v2", beta_start: 0.0001, beta_end: 0.02, lambda_min_clipped: -5.1, timestep_spacing: "trailing" }, init: 1.0, second: [84.70288, 85.416016, -48.843113, -48.129967], last: [270.96402, 273.76462, -157.27043, -153.15074], lastX0: [270.96402, 273.76462, -157.27043, -153.15074] },
  { kind: 'dpmpp2m', steps: 10, config: { num_train_timesteps: 1000, beta_schedule: "squaredcos_cap_v2", beta_start: 0.0001, beta_end: 0.02, lambda_min_clipped: -5.1, timestep_spacing: "linspace" }, init: 1.0, second: [84.266914, 84.98043, -48.594215, -47.880714], last: [270.85315, 273.67734, -157.23058, -153.05931], lastX0: [270.85315, 273.67734, -157.23058, -153.05931] },
  { kind: 'ddim', steps: 5, config: { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: "scaled_linear", clip_sample: false, set_alpha_to_one: true, steps_offset: 1, timestep_spacing: "trailing", rescale_betas_zero_snr: true, prediction_type: "v_prediction" }, init: 1.0, second: [0.5296849, 0.982615, -0.5830624, -0.13013221], last: [0.027258277, 0.4052605, -0.182841, 0.050220065], lastX0: [0.027258277, 0.4052605, -0.182841, 0.050220065] },
  { kind: 'ddim', steps: 5, config: { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: "scaled_linear", clip_sample: true, set_alpha_to_one: false, steps_offset: 1, timestep_spacing: "leading" }, init: 1.0, second: [-0.27045158, 0.29931092, 0.08053076, 0.65029323], last: [-0.78743106, 0.69883734, -0.41362643, 0.029421292], lastX0: [-0.7950578, 0.669967, -0.3846348, 0.03672569] },
  { kind: 'euler', steps: 5, config: { ...SD, timestep_spacing: "trailing", rescale_betas_zero_snr: true, prediction_type: "v_prediction" }, init: 4095.9998, second: [0.13433874, -0.61555624, 0.38745558, -0.36243927], last: [-0.34196812, -0.51733136, 0.37070492, 0.050400585], lastX0: [-0.34196812, -0.51733136, 0.37070495, 0.050400577] },
  { kind: 'euler', steps: 5, config: { ...SD, timestep_spacing: "leading", final_sigmas_type: "sigma_min" }, init: 5.230909, second: [6.9896536, 10.014992, -5.866916, -2.8415785], last: [6.6177793, 10.253856, -6.448935, -2.6439283], lastX0: [6.6104875, 10.224689, -6.4197674, -2.6366365] },
  { kind: 'dpmpp2m', steps: 6, config: { ...SD, timestep_spacing: "trailing", rescale_betas_zero_snr: true, prediction_type: "v_prediction" }, init: 1.0, second: [0.50901306, 1.0382768, -0.61850405, -0.089240335], last: [0.53848374, 0.70682704, -0.6873457, 0.59836864], lastX0: [0.53848374, 0.70682704, -0.6873457, 0.59836864], sqrtTie: true },
  { kind: 'euler', steps: 11, config: { num_train_timesteps: 1000, beta_schedule: "linear", beta_start: 0.0001, beta_end: 0.02, timestep_spacing: "linspace" }, init: 157.40727, second: [107.972725, 15.094765, -4.20282, -97.08078], last: [107.21076, 14.254636, -15.330954, -86.10497], lastX0: [107.21076, 14.254636, -15.330954, -86.10497] },
  { kind: 'euler_a', steps: 61, config: { ...SD, timestep_spacing: "trailing" }, init: 14.614647, second: [11.541618, 6.559986, -12.611828, -2.3326247], last: [7.0557976, 4.0489283, -9.259679, 4.4220634], lastX0: [7.0557976, 4.0489283, -9.259679, 4.4220634], sqrtTie: true }
];

describe('scheduler configs that would break sampling are refused by name', () => {
  const SD = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' };
  it('beta_start above beta_end (Euler\'s sigmas became NaN)', () => {
    expect(() => parseSchedulerConfig({ ...SD, beta_start: 0.02 })).toThrow('scheduler config: beta_start = 0.02 must be below beta_end (beta_start 0.02, beta_end 0.012)');
  });
  it('num_train_timesteps = 1e308 (was "Invalid typed array length")', () => {
    expect(() => parseSchedulerConfig({ ...SD, num_train_timesteps: 1e308 })).toThrow('scheduler config: num_train_timesteps = 1e+308 must be an integer from 2 to 100000');
  });
  it('lambda_min_clipped that leaves fewer timesteps than steps', () => {
    const config = parseSchedulerConfig({ ...SD, lambda_min_clipped: 3 });
    expect(() => createScheduler('dpmpp2m', config, 20)).toThrow(/lambda_min_clipped = 3 leaves \d+ of 1000 training timesteps, fewer than the 20 steps asked for/);
  });
});
