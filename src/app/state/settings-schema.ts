// The playground's settings and their one URL form. Everything that changes the image lives here,
// so a link reproduces the image exactly. Parsing never throws: an out-of-range number is clamped,
// a malformed value is ignored, and each repair becomes a notice that the page shows.

import {
  BACKEND_NAMES,
  CFG_RANGE,
  MULTIPLIER_RANGE,
  NEUTRAL_MULTIPLIERS,
  SAMPLER_NAMES,
  STEP_RANGE,
  type AttentionKind,
  type AttentionMultipliers,
  type AttentionSite,
  type BackendName,
  type GenerateRequest,
  type ModelDefaults,
  type MultiplierRule,
  type SamplerName,
  type SiteTarget,
  type UNetPart,
} from '../../engine';
import { PREDICTION_TYPES, type PredictionType } from '../../engine/weights/prediction-type';
import { BUILTIN_MODELS, parseModelRef } from '../models/model-source';

/** Where the sliders act: every attention site, one UNet part, or one block (expert view). */
export type Target = 'all' | UNetPart | string;

export interface Settings {
  /** The model as a link names it (model-source.ts): emoji-64, hf:owner/name@rev, file:name@hash. */
  model: string;
  /** Image size in pixels (multiples of 8; the model may need coarser ones). */
  width: number;
  height: number;
  /** Replaces the model's prediction type ('' keeps it): SD 2.x single files can only be guessed. */
  prediction: PredictionType | '';
  /** What runs the model: our WGSL engine, or its ONNX export on ONNX Runtime Web. */
  backend: BackendName;
  prompt: string;
  negative: string;
  seed: number;
  steps: number;
  sampler: SamplerName;
  cfg: number;
  /** Multipliers of the self-attention (attn1) modules in the target. */
  self: AttentionMultipliers;
  /** Multipliers of the cross-attention (attn2) modules in the target. */
  cross: AttentionMultipliers;
  target: Target;
  /** Show the same image with every multiplier at 1 next to it. */
  compare: boolean;
}

export type SettingKey = keyof Settings;

export const MULTIPLIER_PARTS = ['q', 'k', 'v', 'out'] as const;
export type MultiplierPart = (typeof MULTIPLIER_PARTS)[number];

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
  // Until the model says its own default prompt (ModelInfo.defaults), the field is empty.
  prompt: '',
  negative: '',
  seed: 42,
  steps: 20,
  sampler: 'euler',
  cfg: 5,
  self: { ...NEUTRAL_MULTIPLIERS },
  cross: { ...NEUTRAL_MULTIPLIERS },
  target: 'all',
  compare: false,
};

/** The URL's parameter name for each setting, in the order the query string lists them. */
const PARAM: Record<SettingKey, string> = {
  model: 'model',
  width: 'w',
  height: 'h',
  prediction: 'pred',
  backend: 'backend',
  prompt: 'prompt',
  negative: 'neg',
  seed: 'seed',
  steps: 'steps',
  sampler: 'sampler',
  cfg: 'cfg',
  self: 'self',
  cross: 'cross',
  target: 'target',
  compare: 'compare',
};

/** The XY plot's axes, when one is open: read and written beside the settings (xy-axes.ts parseXYAxes). */
export const XY_PARAM = 'xy';

const PART_TARGETS: readonly string[] = ['all', 'input', 'middle', 'output'];
/** ComfyUI block names (`input_blocks.4`, `middle_block`) or diffusers module paths. */
const BLOCK_TARGET = /^(?:(?:input|output)_blocks\.\d{1,2}|middle_block|(?:(?:down|up)_blocks\.\d{1,2}|mid_block)\.attentions\.\d{1,2}\.transformer_blocks\.\d{1,2}\.attn[12])$/;

export function isValidTarget(value: string): boolean {
  return PART_TARGETS.includes(value) || BLOCK_TARGET.test(value);
}

/** Rounds to hundredths, the finest step of every slider: what the URL writes is what renders. */
export function roundHundredths(value: number): number {
  return Math.round(value * 100) / 100;
}

export function clampMultiplier(value: number): number {
  return roundHundredths(Math.min(LIMITS.multiplier.max, Math.max(LIMITS.multiplier.min, value)));
}

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

  for (const kind of ['self', 'cross'] as const) {
    const text = raw(kind);
    if (text === null) continue;
    const values = text.split(',');
    if (values.length !== 4) {
      notices.push(`Ignored invalid ${label(kind)} multipliers "${short(text)}": expected four numbers q,k,v,out.`);
      continue;
    }
    MULTIPLIER_PARTS.forEach((part, i) => {
      const value = readNumber(values[i], `${label(kind)} ${part}`, LIMITS.multiplier, notices, false);
      if (value !== undefined) settings[kind][part] = clampMultiplier(value);
    });
    given.add(kind);
  }

  const target = raw('target');
  if (target !== null) {
    if (isValidTarget(target)) {
      settings.target = target;
      given.add('target');
    } else notices.push(`Ignored unknown target "${short(target)}"; using all blocks.`);
  }

  const compare = raw('compare');
  if (compare !== null) {
    if (compare === '1' || compare === '0') {
      settings.compare = compare === '1';
      given.add('compare');
    } else notices.push(`Ignored invalid compare "${short(compare)}": expected 0 or 1.`);
  }

  const known = new Set([...Object.values(PARAM), XY_PARAM]);
  for (const key of known) {
    const values = params.getAll(key);
    if (values.length > 1) notices.push(`The link gives ${key} ${values.length} times; using the first (${short(values[0])}).`);
  }
  const unknown = [...new Set(params.keys())].filter((k) => !known.has(k));
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
  params.set(PARAM.prompt, settings.prompt);
  params.set(PARAM.negative, settings.negative);
  params.set(PARAM.seed, String(settings.seed));
  params.set(PARAM.steps, String(settings.steps));
  params.set(PARAM.sampler, settings.sampler);
  params.set(PARAM.cfg, String(settings.cfg));
  params.set(PARAM.self, MULTIPLIER_PARTS.map((p) => String(settings.self[p])).join(','));
  params.set(PARAM.cross, MULTIPLIER_PARTS.map((p) => String(settings.cross[p])).join(','));
  params.set(PARAM.target, settings.target);
  params.set(PARAM.compare, settings.compare ? '1' : '0');
  // Commas are legal in a query and keep "self=1.5,1,1,1" readable.
  return `?${params.toString().replace(/%2C/gi, ',')}`;
}

/** The rule target for a `Target` setting. */
export function siteTarget(target: Target): SiteTarget {
  if (target === 'all') return { all: true };
  if (target === 'input' || target === 'middle' || target === 'output') return { part: target };
  return { path: target };
}

/** Whether a site is in `target`, as the engine decides it (part, diffusers path or ComfyUI block). */
export function siteInTarget(site: AttentionSite, target: Target): boolean {
  if (target === 'all') return true;
  if (target === 'input' || target === 'middle' || target === 'output') return site.part === target;
  return site.path === target || site.comfyBlock === target;
}

export function isNeutral(m: Readonly<AttentionMultipliers>): boolean {
  return MULTIPLIER_PARTS.every((p) => m[p] === 1);
}

const KIND_OF: Record<'self' | 'cross', AttentionKind> = { self: 'attn1', cross: 'attn2' };

/** The multiplier rules of `settings`: one per attention type that is not all ones. */
export function settingsRules(settings: Readonly<Settings>): MultiplierRule[] {
  const rules: MultiplierRule[] = [];
  for (const which of ['self', 'cross'] as const) {
    if (isNeutral(settings[which])) continue;
    rules.push({ kind: KIND_OF[which], target: siteTarget(settings.target), multipliers: { ...settings[which] } });
  }
  return rules;
}

/** One multiplier forced to a value on the sites of a target (an XY plot axis). */
export interface MultiplierOverride {
  which: 'self' | 'cross';
  part: MultiplierPart;
  target: Target;
  value: number;
}

/**
 * The rules for `settings` with `overrides` applied on top. Each override changes one factor on
 * its target's sites and leaves the other three as the settings put them there, so it is written
 * per site (the engine applies a later rule in place of an earlier one, not on top of it).
 */
export function rulesWithOverrides(settings: Readonly<Settings>, overrides: readonly MultiplierOverride[], sites: readonly AttentionSite[]): MultiplierRule[] {
  const rules = settingsRules(settings);
  if (!overrides.length) return rules;
  const perSite = new Map<number, { site: AttentionSite; multipliers: AttentionMultipliers }>();
  for (const o of overrides) {
    const kind = KIND_OF[o.which];
    for (const site of sites) {
      if (site.kind !== kind || !siteInTarget(site, o.target)) continue;
      let entry = perSite.get(site.index);
      if (!entry) {
        const base = siteInTarget(site, settings.target) ? settings[o.which] : NEUTRAL_MULTIPLIERS;
        entry = { site, multipliers: { ...base } };
        perSite.set(site.index, entry);
      }
      entry.multipliers[o.part] = clampMultiplier(o.value);
    }
  }
  for (const { site, multipliers } of perSite.values()) rules.push({ kind: site.kind, target: { path: site.path }, multipliers });
  return rules;
}

/** What the engine renders for `settings` (with `neutral`, every multiplier at 1: the compare image). */
export function toGenerateRequest(settings: Readonly<Settings>, options: { neutral?: boolean; rules?: MultiplierRule[] } = {}): GenerateRequest {
  return {
    prompt: settings.prompt,
    negativePrompt: settings.negative,
    seed: settings.seed,
    steps: settings.steps,
    sampler: settings.sampler,
    cfg: settings.cfg,
    width: settings.width,
    height: settings.height,
    rules: options.neutral ? [] : (options.rules ?? settingsRules(settings)),
  };
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
      prompt: 'Prompt',
      negative: 'Negative prompt',
      seed: 'Seed',
      steps: 'Steps',
      sampler: 'Sampler',
      cfg: 'CFG',
      self: 'Self-attention',
      cross: 'Cross-attention',
      target: 'Target',
      compare: 'Compare',
    } as const
  )[key];
}

function readNumber(text: string | null, name: string, range: { min: number; max: number }, notices: string[], integer: boolean): number | undefined {
  if (text === null) return undefined;
  const trimmed = text.trim();
  // Number('') is 0 and Number('0x10') is 16: accept plain decimals only.
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(trimmed)) {
    notices.push(`Ignored invalid ${name} "${short(text)}": not a number.`);
    return undefined;
  }
  // "+ 0" turns -0 into 0: the link writes "0", which must read back as the same number.
  let value = Number(trimmed) + 0;
  if (integer && !Number.isInteger(value)) {
    value = Math.round(value);
    notices.push(`Rounded ${name} ${short(trimmed)} to ${value} (whole numbers only).`);
  }
  if (value < range.min || value > range.max) {
    const clamped = Math.min(range.max, Math.max(range.min, value));
    notices.push(`Clamped ${name} ${short(trimmed)} to ${clamped} (allowed ${range.min}–${range.max}).`);
    value = clamped;
  }
  return value;
}

function short(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
