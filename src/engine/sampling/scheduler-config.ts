// A diffusers scheduler_config.json, read and checked. One config serves every sampler, as
// `XScheduler.from_config(pipe.scheduler.config)` does in diffusers: each scheduler class reads
// the fields it knows and ignores the rest. Fields a config leaves out take the defaults of
// diffusers' __init__ signatures; the only one that differs between our four classes is
// `timestep_spacing` (DDIMScheduler "leading", the others "linspace"), so it stays undefined here
// and the scheduler resolves it (see `timestepSpacingFor`).

export type SchedulerKind = 'ddim' | 'euler' | 'euler_a' | 'dpmpp2m';
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type PredictionType = 'epsilon' | 'v_prediction';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  /** Used instead of beta_start/beta_end/beta_schedule when given. */
  trained_betas?: number[] | null;
  prediction_type: PredictionType;
  /** Undefined: the scheduler class's own default (DDIM "leading", Euler / Euler a / DPM++ "linspace"). */
  timestep_spacing?: TimestepSpacing;
  steps_offset: number;
  /** Zero terminal SNR (Lin et al. 2023, https://arxiv.org/abs/2305.08891, Algorithm 1). */
  rescale_betas_zero_snr: boolean;
  // DDIM
  /** DDIM's alpha_cumprod after the last step: 1 when true, else alphas_cumprod[0]. Default true. */
  set_alpha_to_one?: boolean;
  /** DDIM clamps the predicted x0 to ±clip_sample_range. Default true, as in diffusers. */
  clip_sample?: boolean;
  clip_sample_range: number;
  // Euler and DPM++ (Euler ancestral always ends at sigma 0)
  /** The sigma after the last step: 0, or the smallest training sigma. */
  final_sigmas_type: 'zero' | 'sigma_min';
  // DPM++ 2M
  solver_order: 1 | 2;
  solver_type: 'midpoint' | 'heun';
  lower_order_final: boolean;
  euler_at_final: boolean;
  /** Timesteps whose log-SNR lies below this are never sampled (matters for cosine schedules). */
  lambda_min_clipped: number;
}

export const SCHEDULER_CONFIG_DEFAULTS: Readonly<SchedulerConfig> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  clip_sample_range: 1,
  final_sigmas_type: 'zero',
  solver_order: 2,
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  lambda_min_clipped: -Infinity,
};

/** diffusers' default spacing for the scheduler class behind `kind`. */
export function timestepSpacingFor(kind: SchedulerKind, config: SchedulerConfig): TimestepSpacing {
  return config.timestep_spacing ?? (kind === 'ddim' ? 'leading' : 'linspace');
}

export const MAX_TRAIN_TIMESTEPS = 100_000;

/** Fields we do not implement: their default value is accepted, any other refused. */
const REFUSED_UNLESS_DEFAULT: Record<string, unknown> = {
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  use_flow_sigmas: false,
  use_dynamic_shifting: false,
  thresholding: false,
  variance_type: null,
  interpolation_type: 'linear',
  timestep_type: 'discrete',
  shift_terminal: null,
};

/**
 * Reads a diffusers scheduler_config.json object. Unknown fields are ignored, as diffusers ignores
 * another class's fields; fields named in `_use_default_values` are treated as absent, as
 * diffusers' `extract_init_dict` does. Values we cannot reproduce exactly throw an error naming
 * the field.
 */
export function parseSchedulerConfig(json: unknown): SchedulerConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('scheduler config: expected a JSON object');
  const raw = json as Record<string, unknown>;
  const defaulted = new Set(Array.isArray(raw._use_default_values) ? raw._use_default_values.map(String) : []);
  const given = (key: string) => key in raw && raw[key] !== undefined && !defaulted.has(key);
  const fail = (key: string, why: string): never => {
    throw new Error(`scheduler config: ${key} = ${JSON.stringify(raw[key])} ${why}`);
  };

  for (const [key, accepted] of Object.entries(REFUSED_UNLESS_DEFAULT)) {
    // Python reads None as false for the flags, so null passes too.
    const value = raw[key];
    if (given(key) && value !== accepted && value !== null) fail(key, 'is not supported');
  }

  const config: SchedulerConfig = { ...SCHEDULER_CONFIG_DEFAULTS };
  const number = (key: keyof SchedulerConfig, check: (v: number) => boolean, why: string) => {
    if (!given(key)) return;
    const v = toNumber(raw[key]);
    if (v === undefined || !check(v)) fail(key, why);
    (config as unknown as Record<string, unknown>)[key] = v;
  };
  const oneOf = <K extends keyof SchedulerConfig>(key: K, allowed: readonly SchedulerConfig[K][], aliases: Record<string, SchedulerConfig[K]> = {}) => {
    if (!given(key)) return;
    const value = raw[key] as SchedulerConfig[K];
    if (typeof value === 'string' && value in aliases) config[key] = aliases[value];
    else if (allowed.includes(value)) config[key] = value;
    else fail(key, `is not supported (expected ${allowed.map((a) => JSON.stringify(a)).join(' or ')})`);
  };
  const flag = (key: keyof SchedulerConfig) => {
    if (!given(key)) return;
    if (typeof raw[key] !== 'boolean') fail(key, 'is not a boolean');
    (config as unknown as Record<string, unknown>)[key] = raw[key];
  };

  // Real schedules have 1000 training timesteps; the bound keeps a broken file from allocating
  // per-timestep tables of any size.
  number('num_train_timesteps', (v) => Number.isInteger(v) && v >= 2 && v <= MAX_TRAIN_TIMESTEPS, `must be an integer from 2 to ${MAX_TRAIN_TIMESTEPS}`);
  number('beta_start', (v) => v >= 0 && v < 1, 'must lie in [0, 1)');
  number('beta_end', (v) => v >= 0 && v < 1, 'must lie in [0, 1)');
  oneOf('beta_schedule', ['linear', 'scaled_linear', 'squaredcos_cap_v2']);
  oneOf('prediction_type', ['epsilon', 'v_prediction']);
  oneOf('timestep_spacing', ['leading', 'trailing', 'linspace']);
  number('steps_offset', (v) => Number.isInteger(v) && v >= 0, 'must be a non-negative integer');
  flag('rescale_betas_zero_snr');
  flag('set_alpha_to_one');
  flag('clip_sample');
  number('clip_sample_range', (v) => v > 0, 'must be positive');
  oneOf('final_sigmas_type', ['zero', 'sigma_min']);
  number('solver_order', (v) => v === 1 || v === 2, 'is not supported (DPM++ 2M needs 1 or 2)');
  // diffusers maps DEIS's and UniPC's solver types to midpoint and the "deis" algorithm to dpmsolver++.
  oneOf('solver_type', ['midpoint', 'heun'], { logrho: 'midpoint', bh1: 'midpoint', bh2: 'midpoint' });
  if (given('algorithm_type') && raw.algorithm_type !== 'dpmsolver++' && raw.algorithm_type !== 'deis') fail('algorithm_type', 'is not supported (only "dpmsolver++")');
  flag('lower_order_final');
  flag('euler_at_final');
  number('lambda_min_clipped', (v) => !Number.isNaN(v), 'is not a number');

  if (!given('trained_betas') && config.beta_schedule !== 'squaredcos_cap_v2' && !(config.beta_start < config.beta_end)) {
    // A falling or flat beta schedule makes the noise levels non-monotonic (Euler's sigmas became NaN).
    fail(given('beta_start') ? 'beta_start' : 'beta_end', `must be below beta_end (beta_start ${config.beta_start}, beta_end ${config.beta_end})`);
  }

  if (given('trained_betas') && raw.trained_betas !== null) {
    const betas = raw.trained_betas;
    if (!Array.isArray(betas) || !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1)) fail('trained_betas', 'must be an array of numbers in [0, 1)');
    config.trained_betas = betas as number[];
    // diffusers sizes the schedule by trained_betas but spaces timesteps by num_train_timesteps.
    if (config.num_train_timesteps !== config.trained_betas.length) fail('trained_betas', `has ${config.trained_betas.length} values, num_train_timesteps is ${config.num_train_timesteps}`);
  }
  return config;
}

/** JSON has no infinities: diffusers writes them as bare -Infinity (invalid JSON) or a string. */
function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value === '-Infinity' || value === '-inf') return -Infinity;
  if (value === 'Infinity' || value === 'inf') return Infinity;
  return undefined;
}
