// The playground's settings and their one URL form. Everything that changes the image lives here,
// so a link reproduces the image exactly. Parsing never throws: an out-of-range number is clamped,
// a malformed value is ignored, and each repair becomes a notice that the page shows.

// The steering controls (src/engine/steering) bring their own settings: their link fields are
// read, written and labelled here from the controls' descriptors.
import {
  BACKEND_NAMES,
  CFG_RANGE,
  DECODER_CHOICES,
  MULTIPLIER_RANGE,
  SAMPLER_NAMES,
  STEERING_CONTROLS,
  STEP_RANGE,
  isLinkTarget,
  multiplierRules,
  readLinkNumber,
  roundHundredths,
  shortForNotice,
  type AttentionSite,
  type AxisValue,
  type BackendName,
  type ClipMultiplierSettings,
  type DecoderChoice,
  type GenerateRequest,
  type ModelDefaults,
  type MultiplierRule,
  type FreeUSettings,
  type MultiplierSettings,
  type PagSettings,
  type AttentionMapSettings,
  type SamplerName,
  type TargetText,
} from '../../engine';
import { PREDICTION_TYPES, type PredictionType } from '../../engine/weights/prediction-type';
import { BUILTIN_MODELS, parseModelRef } from '../models/model-source';

export {
  MULTIPLIER_PARTS,
  clampMultiplier,
  isNeutral,
  multiplierRulesWithOverrides as rulesWithOverrides,
  roundHundredths,
  siteInTarget,
  siteTarget,
  type MultiplierOverride,
  type MultiplierPart,
} from '../../engine';

/** Where the sliders act: every attention site, one UNet part, or one block (expert view). */
export type Target = TargetText;

/** Besides its own, the page has every steering control's settings (self, cross, target; clip, freeu, pag, map…). */
export interface Settings extends MultiplierSettings, ClipMultiplierSettings, FreeUSettings, PagSettings, AttentionMapSettings {
  /** The model as a link names it (model-source.ts): emoji-64, hf:owner/name@rev, file:name@hash. */
  model: string;
  /** Image size in pixels (multiples of 8; the model may need coarser ones). */
  width: number;
  height: number;
  /** Replaces the model's prediction type ('' keeps it): SD 2.x single files can only be guessed. */
  prediction: PredictionType | '';
  /** What runs the model: our WGSL engine, or its ONNX export on ONNX Runtime Web. */
  backend: BackendName;
  /** What decodes the final image: the model's VAE, or the TAESD loaded beside it (faster). */
  decoder: DecoderChoice;
  prompt: string;
  negative: string;
  seed: number;
  steps: number;
  sampler: SamplerName;
  cfg: number;
  /** Show the same image with every multiplier at 1 next to it. */
  compare: boolean;
}

export type SettingKey = keyof Settings;
type SteeringKey = keyof (MultiplierSettings & ClipMultiplierSettings & FreeUSettings & PagSettings & AttentionMapSettings);

/** Every steering control's link fields, in link order. */
const STEERING_FIELDS = STEERING_CONTROLS.flatMap((c) => c.linkFields);
const steeringEntries = <T>(of: (field: (typeof STEERING_FIELDS)[number]) => T) => Object.fromEntries(STEERING_FIELDS.map((f) => [f.key, of(f)])) as Record<SteeringKey, T>;

export const DEFAULT_MODEL = 'emoji-64';
/** Models the app can load from public/models/<id>/. */
export const KNOWN_MODELS: readonly string[] = BUILTIN_MODELS;

export const LIMITS = {
  seed: { min: 0, max: 2 ** 32 - 1 },
  // The playground stops at 100 steps (more changes nothing a person sees); the pipeline takes up to
  // STEP_RANGE.max.
  steps: { min: STEP_RANGE.min, max: 100 },
  // CFG 1 already skips the unconditional half; the pipeline refuses more than 30.
  cfg: CFG_RANGE,
  multiplier: MULTIPLIER_RANGE,
  promptLength: 500,
  size: { min: 8, max: 2048, multiple: 8 },
} as const;

export const DEFAULT_SETTINGS: Readonly<Settings> = {
  model: DEFAULT_MODEL,
  width: 64,
  height: 64,
  prediction: '',
  backend: 'webgpu',
  decoder: 'vae',
  // Until the model says its own default prompt (ModelInfo.defaults), the field is empty.
  prompt: '',
  negative: '',
  seed: 42,
  steps: 20,
  sampler: 'euler',
  cfg: 5,
  ...(steeringEntries((f) => f.default) as MultiplierSettings & ClipMultiplierSettings & FreeUSettings & PagSettings & AttentionMapSettings),
  compare: false,
};

/** The URL's parameter name for each setting, in the order the query string lists them. */
const PARAM: Record<SettingKey, string> = {
  model: 'model',
  width: 'w',
  height: 'h',
  prediction: 'pred',
  backend: 'backend',
  decoder: 'dec',
  prompt: 'prompt',
  negative: 'neg',
  seed: 'seed',
  steps: 'steps',
  sampler: 'sampler',
  cfg: 'cfg',
  ...steeringEntries((f) => f.param),
  compare: 'compare',
};

/** The XY plot's axes, when one is open: read and written beside the settings (xy-axes.ts parseXYAxes). */
export const XY_PARAM = 'xy';

/** Every key a link may carry. */
export const LINK_KEYS: readonly string[] = [...Object.values(PARAM), XY_PARAM];

/** Whether a link may carry `value` as a target (steering/site-target.ts). */
export const isValidTarget = isLinkTarget;

export interface ParsedSettings {
  settings: Settings;
  /** The settings the URL gave validly (also after clamping): model defaults must not replace them. */
  given: Set<SettingKey>;
  /** One line per repaired or ignored value, for people. */
  notices: string[];
}

/** Reads a query string ("?seed=3&self=1.5,1,1,1") over `base`; never throws. */
export function parseSettings(query: string | URLSearchParams, base: Readonly<Settings> = DEFAULT_SETTINGS): ParsedSettings {
  const params = typeof query === 'string' ? new URLSearchParams(query) : query;
  const settings: Settings = { ...base, self: { ...base.self }, cross: { ...base.cross } };
  const given = new Set<SettingKey>();
  const notices: string[] = [];
  const raw = (key: SettingKey): string | null => params.get(PARAM[key]);

  const model = raw('model');
  if (model !== null) {
    if (parseModelRef(model)) {
      settings.model = model;
      given.add('model');
    } else notices.push(`Ignored unknown model "${short(model)}": expected ${KNOWN_MODELS.join(', ')}, hf:owner/name@revision or file:name@hash; using ${base.model}.`);
  }

  for (const key of ['width', 'height'] as const) {
    let value = readNumber(raw(key), label(key), LIMITS.size, notices, true);
    if (value === undefined) continue;
    if (value % LIMITS.size.multiple) {
      const rounded = roundToMultiple(value, LIMITS.size.multiple);
      notices.push(`Rounded ${label(key)} ${value} to ${rounded} (multiples of ${LIMITS.size.multiple}).`);
      value = rounded;
    }
    settings[key] = value;
    given.add(key);
  }

  const prediction = raw('prediction');
  if (prediction !== null) {
    if (prediction === '' || (PREDICTION_TYPES as readonly string[]).includes(prediction)) {
      settings.prediction = prediction as PredictionType | '';
      given.add('prediction');
    } else notices.push(`Ignored unknown prediction type "${short(prediction)}": expected ${PREDICTION_TYPES.join(' or ')}.`);
  }

  const backend = raw('backend');
  if (backend !== null) {
    if ((BACKEND_NAMES as readonly string[]).includes(backend)) {
      settings.backend = backend as BackendName;
      given.add('backend');
    } else notices.push(`Ignored unknown backend "${short(backend)}": expected ${BACKEND_NAMES.join(' or ')}.`);
  }

  const decoder = raw('decoder');
  if (decoder !== null) {
    if ((DECODER_CHOICES as readonly string[]).includes(decoder)) {
      settings.decoder = decoder as DecoderChoice;
      given.add('decoder');
    } else notices.push(`Ignored unknown decoder "${short(decoder)}": expected ${DECODER_CHOICES.join(' or ')}.`);
  }

  for (const key of ['prompt', 'negative'] as const) {
    const text = raw(key);
    if (text === null) continue;
    const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
    settings[key] = cutText(clean, LIMITS.promptLength);
    if (settings[key] !== clean) notices.push(`${label(key)} cut to ${LIMITS.promptLength} characters.`);
    given.add(key);
  }

  const seed = readNumber(raw('seed'), 'Seed', LIMITS.seed, notices, true);
  if (seed !== undefined) (settings.seed = seed), given.add('seed');
  const steps = readNumber(raw('steps'), 'Steps', LIMITS.steps, notices, true);
  if (steps !== undefined) (settings.steps = steps), given.add('steps');
  const cfg = readNumber(raw('cfg'), 'CFG', LIMITS.cfg, notices, false);
  if (cfg !== undefined) (settings.cfg = roundHundredths(cfg)), given.add('cfg');

  const sampler = raw('sampler');
  if (sampler !== null) {
    if ((SAMPLER_NAMES as readonly string[]).includes(sampler)) {
      settings.sampler = sampler as SamplerName;
      given.add('sampler');
    } else notices.push(`Ignored unknown sampler "${short(sampler)}"; use one of ${SAMPLER_NAMES.join(', ')}.`);
  }

  const steering = settings as unknown as Record<string, unknown>;
  for (const field of STEERING_FIELDS) {
    const text = params.get(field.param);
    if (text === null) continue;
    const value = field.parse(text, steering[field.key], notices);
    if (value === undefined) continue;
    steering[field.key] = value;
    given.add(field.key as SteeringKey);
  }

  const compare = raw('compare');
  if (compare !== null) {
    if (compare === '1' || compare === '0') {
      settings.compare = compare === '1';
      given.add('compare');
    } else notices.push(`Ignored invalid compare "${short(compare)}": expected 0 or 1.`);
  }

  for (const key of LINK_KEYS) {
    const values = params.getAll(key);
    if (values.length > 1) notices.push(`The link gives ${key} ${values.length} times; using the first (${short(values[0])}).`);
  }
  const unknown = [...new Set(params.keys())].filter((k) => !LINK_KEYS.includes(k));
  if (unknown.length) notices.push(`Ignored unknown URL parameter${unknown.length > 1 ? 's' : ''}: ${unknown.map(short).join(', ')}.`);
  return { settings, given, notices };
}

/** `value` rounded to the nearest multiple of `multiple`, at least `multiple`. */
export function roundToMultiple(value: number, multiple: number): number {
  return Math.max(multiple, Math.round(value / multiple) * multiple);
}

/** `settings` with the model's own defaults (and image size) in every setting that is not in `given`. */
export function withModelDefaults(
  settings: Readonly<Settings>,
  defaults: Readonly<ModelDefaults> | undefined,
  given: ReadonlySet<SettingKey>,
  size?: { width: number; height: number },
): Settings {
  const out: Settings = { ...settings };
  if (size && !given.has('width')) out.width = size.width;
  if (size && !given.has('height')) out.height = size.height;
  if (!defaults) return out;
  if (!given.has('sampler') && (SAMPLER_NAMES as readonly string[]).includes(defaults.sampler)) out.sampler = defaults.sampler;
  if (!given.has('steps') && Number.isFinite(defaults.steps)) out.steps = Math.min(LIMITS.steps.max, Math.max(LIMITS.steps.min, Math.round(defaults.steps)));
  if (!given.has('cfg') && Number.isFinite(defaults.cfg)) out.cfg = roundHundredths(Math.min(LIMITS.cfg.max, Math.max(LIMITS.cfg.min, defaults.cfg)));
  if (!given.has('prompt') && defaults.prompt !== undefined) out.prompt = cutText(defaults.prompt, LIMITS.promptLength);
  if (!given.has('negative') && defaults.negativePrompt !== undefined) out.negative = cutText(defaults.negativePrompt, LIMITS.promptLength);
  return out;
}

/** `text` cut to at most `limit` UTF-16 units at a character boundary (a whole emoji, accent or
 * surrogate pair, as Intl.Segmenter splits graphemes): a cut inside one left a lone surrogate,
 * which a link cannot carry back. */
export function cutText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  let end = 0;
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)) {
    if (end + segment.length > limit) break;
    end += segment.length;
  }
  return text.slice(0, end);
}

/** The query string for `settings`, every setting spelled out so the link survives new defaults. */
export function serializeSettings(settings: Readonly<Settings>): string {
  const params = new URLSearchParams();
  params.set(PARAM.model, settings.model);
  params.set(PARAM.width, String(settings.width));
  params.set(PARAM.height, String(settings.height));
  if (settings.prediction) params.set(PARAM.prediction, settings.prediction);
  // Only when it is not our engine: the image is the same on both, so old links stay as they were.
  if (settings.backend !== DEFAULT_SETTINGS.backend) params.set(PARAM.backend, settings.backend);
  if (settings.decoder !== DEFAULT_SETTINGS.decoder) params.set(PARAM.decoder, settings.decoder);
  params.set(PARAM.prompt, settings.prompt);
  params.set(PARAM.negative, settings.negative);
  params.set(PARAM.seed, String(settings.seed));
  params.set(PARAM.steps, String(settings.steps));
  params.set(PARAM.sampler, settings.sampler);
  params.set(PARAM.cfg, String(settings.cfg));
  for (const field of STEERING_FIELDS) {
    const value = settings[field.key as SteeringKey];
    const text = field.write(value);
    if (!field.omit?.(value) && !(field.omitAtDefault && text === field.write(field.default))) params.set(field.param, text);
  }
  params.set(PARAM.compare, settings.compare ? '1' : '0');
  // Commas are legal in a query and keep "self=1.5,1,1,1" readable; so are ':' and '@' in the
  // steering controls' values ("map=point:0.42,0.61@mid_block").
  const steeringParams = new Set(STEERING_FIELDS.map((f) => f.param));
  const query = params
    .toString()
    .replace(/%2C/gi, ',')
    .replace(/(^|&)([^=&]*)=([^&]*)/g, (whole, start: string, key: string, value: string) => (steeringParams.has(key) ? `${start}${key}=${value.replace(/%3A/gi, ':').replace(/%40/gi, '@')}` : whole));
  return `?${query}`;
}

/** The multiplier rules of `settings`: one per attention type that is not all ones. */
export function settingsRules(settings: Readonly<Settings>): MultiplierRule[] {
  return multiplierRules(settings);
}

/**
 * What the engine renders for `settings`: with `neutral`, every steering control off (the compare
 * image); `forced`, an XY cell's values of steering axes on `sites`.
 */
export function toGenerateRequest(settings: Readonly<Settings>, options: { neutral?: boolean; forced?: readonly AxisValue[]; sites?: readonly AttentionSite[] } = {}): GenerateRequest {
  const request: GenerateRequest = {
    prompt: settings.prompt,
    negativePrompt: settings.negative,
    seed: settings.seed,
    steps: settings.steps,
    sampler: settings.sampler,
    cfg: settings.cfg,
    width: settings.width,
    height: settings.height,
    rules: [],
    ...(settings.decoder !== DEFAULT_SETTINGS.decoder && { decoder: settings.decoder }),
  };
  for (const control of STEERING_CONTROLS) {
    const forced = (options.forced ?? []).filter((f) => control.axes.includes(f.axis));
    Object.assign(request, options.neutral ? control.off : control.toRequest(settings, forced, options.sites ?? []));
  }
  return request;
}

/** Human names of settings, for notices and labels. */
export function label(key: SettingKey): string {
  return (
    {
      model: 'Model',
      width: 'Width',
      height: 'Height',
      prediction: 'Prediction type',
      backend: 'Backend',
      decoder: 'Decoder',
      prompt: 'Prompt',
      negative: 'Negative prompt',
      seed: 'Seed',
      steps: 'Steps',
      sampler: 'Sampler',
      cfg: 'CFG',
      ...steeringEntries((f) => f.label),
      compare: 'Compare',
    } as const
  )[key];
}

const readNumber = readLinkNumber;
const short = shortForNotice;
