// The first steering control: ComfyUI's UNetSelfAttentionMultiply and UNetCrossAttentionMultiply,
// live. Those nodes scale the weights and biases of to_q, to_k, to_v and to_out.0 of every attn1 or
// attn2 module; we put the same factors in the per-site table, where the attention kernels apply
// them (q·k scales the logits, v the gathered values, out the branch): see the reference below.
import { NEUTRAL_MULTIPLIERS, type AttentionKind, type AttentionMultipliers, type AttentionSite, type MultiplierRule } from '../api';
import type { AxisValue, ControlAxis, ControlParameter, LinkField, SamplingStep, SteeringControl } from './control';
import { readLinkNumber, roundHundredths, shortForNotice } from './link-values';
import { SITE_TABLE_WIDTH } from '../nn/unet-sites';
import { isLinkTarget, siteInTarget, siteTarget, type TargetText } from './site-target';
import { scaleAttentionWeights } from './attention-multipliers-reference';
import { isFullRange, isStepInRange, type StepRange } from './step-range';
import { RANGE_END_PARAMETER, RANGE_START_PARAMETER, stepRangeSetting, type StepRangeSetting } from './step-range-setting';

export const MULTIPLIER_PARTS = ['q', 'k', 'v', 'out'] as const;
export type MultiplierPart = (typeof MULTIPLIER_PARTS)[number];

/** The two modules a multiplier set acts on, with the names the page and link give them. */
export const MULTIPLIER_GROUPS = [
  {
    which: 'self',
    kind: 'attn1',
    title: 'Self-attention',
    about: 'How the picture looks at itself: layout, shape and texture stay consistent across it.',
  },
  {
    which: 'cross',
    kind: 'attn2',
    title: 'Cross-attention',
    about: 'How the picture looks at the prompt: how much, and where, the words steer it.',
  },
] as const;
export type MultiplierGroup = (typeof MULTIPLIER_GROUPS)[number]['which'];

const FOCUS = 'How sharply attention focuses. The two multiply: above 1 each place attends to a few best matches; below 1 it spreads out, and 0 averages everything evenly.';
const EXPLANATIONS: Record<MultiplierPart, string> = {
  q: FOCUS,
  k: FOCUS,
  v: 'How strongly what attention gathers is passed on.',
  out: 'How strongly the whole attention branch acts on the picture; 0 switches it off.',
};

/** ComfyUI's nodes take 0–10. */
export const MULTIPLIER_RANGE = { min: 0, max: 10 } as const;

export function clampMultiplier(value: number): number {
  return roundHundredths(Math.min(MULTIPLIER_RANGE.max, Math.max(MULTIPLIER_RANGE.min, value)));
}

/** The q, k, v and out parameters of a multiplier control (the UNet's or the text encoder's), each
 * with its one-line explanation. */
export function multiplierParameters(explanations: Readonly<Record<MultiplierPart, string>>): readonly (ControlParameter & { id: MultiplierPart })[] {
  return MULTIPLIER_PARTS.map((id) => ({
    id,
    label: id,
    explanation: explanations[id],
    ...MULTIPLIER_RANGE,
    default: 1,
    step: 0.01,
    clamp: clampMultiplier,
  }));
}

export const MULTIPLIER_PARAMETERS = multiplierParameters(EXPLANATIONS);

export function isNeutral(m: Readonly<AttentionMultipliers>): boolean {
  return MULTIPLIER_PARTS.every((p) => m[p] === 1);
}

/** What the page sets for this control. */
export interface MultiplierSettings {
  self: AttentionMultipliers;
  cross: AttentionMultipliers;
  /** Where both sets act. */
  target: TargetText;
  /** When each set acts: fractions of sampling. */
  selfRange: StepRange;
  crossRange: StepRange;
}

/** Each set's step range: `selfrange=` / `crossrange=` in the link, XY axes self.start, self.end, … */
export const MULTIPLIER_STEP_RANGES = Object.fromEntries(MULTIPLIER_GROUPS.map((g) => [g.which, stepRangeSetting(g.which, g.title)])) as Record<MultiplierGroup, StepRangeSetting>;

/** The settings key of a set's range (MULTIPLIER_STEP_RANGES[which].key). */
const rangeKey = (which: MultiplierGroup) => `${which}Range` as const;

const rangeOf = (settings: Readonly<MultiplierSettings>, which: MultiplierGroup): StepRange | undefined => MULTIPLIER_STEP_RANGES[which].toRequest(settings[rangeKey(which)]);

/** A rule with `range` where it is not all of sampling (a full range is written as none). */
const withRange = (rule: MultiplierRule, range: StepRange | undefined): MultiplierRule => (range ? { ...rule, range } : rule);

const KIND_OF = Object.fromEntries(MULTIPLIER_GROUPS.map((g) => [g.which, g.kind])) as Record<MultiplierGroup, AttentionKind>;

/** The rules of `settings`: one per attention type that is not all ones. */
export function multiplierRules(settings: Readonly<MultiplierSettings>): MultiplierRule[] {
  const rules: MultiplierRule[] = [];
  for (const { which, kind } of MULTIPLIER_GROUPS) {
    if (isNeutral(settings[which])) continue;
    rules.push(withRange({ kind, target: siteTarget(settings.target), multipliers: { ...settings[which] } }, rangeOf(settings, which)));
  }
  return rules;
}

/** One multiplier forced to a value on the sites of a target (an XY plot axis). */
export interface MultiplierOverride {
  which: MultiplierGroup;
  part: MultiplierPart;
  target: TargetText;
  value: number;
}

/**
 * The rules for `settings` with `overrides` applied on top. Each override changes one factor on
 * its target's sites and leaves the other three as the settings put them there, so it is written
 * per site, and the settings' own rule keeps to the sites no override touches: rules that overlap
 * multiply, so it would otherwise apply the settings' factors twice.
 */
export function multiplierRulesWithOverrides(settings: Readonly<MultiplierSettings>, overrides: readonly MultiplierOverride[], sites: readonly AttentionSite[]): MultiplierRule[] {
  if (!overrides.length) return multiplierRules(settings);
  const perSite = new Map<number, { site: AttentionSite; multipliers: AttentionMultipliers; range?: StepRange }>();
  for (const o of overrides) {
    const kind = KIND_OF[o.which];
    for (const site of sites) {
      if (site.kind !== kind || !siteInTarget(site, o.target)) continue;
      let entry = perSite.get(site.index);
      if (!entry) {
        const base = siteInTarget(site, settings.target) ? settings[o.which] : NEUTRAL_MULTIPLIERS;
        entry = { site, multipliers: { ...base }, range: rangeOf(settings, o.which) };
        perSite.set(site.index, entry);
      }
      entry.multipliers[o.part] = clampMultiplier(o.value);
    }
  }
  const onSite = (site: AttentionSite, multipliers: AttentionMultipliers, range?: StepRange): MultiplierRule => withRange({ kind: site.kind, target: { path: site.path }, multipliers }, range);
  const rules = multiplierRules(settings).flatMap((rule) => {
    const reached = sites.filter((site) => site.kind === rule.kind && siteInTarget(site, rule.target));
    if (!reached.some((site) => perSite.has(site.index))) return [rule];
    return reached.filter((site) => !perSite.has(site.index)).map((site) => onSite(site, { ...rule.multipliers }, rule.range));
  });
  for (const { site, multipliers, range } of perSite.values()) rules.push(onSite(site, multipliers, range));
  return rules;
}

/** Multiplies every rule's factors into the table, on the sites of its kind that its target names:
 * overlapping rules compose by multiplication, as chained ComfyUI nodes multiply one weight twice.
 * With `at`, a rule whose step range leaves that step out is skipped (neutral there). */
export function applyMultiplierRules(table: Float32Array, sites: readonly AttentionSite[], rules: readonly MultiplierRule[], at?: SamplingStep): void {
  for (const rule of rules) {
    if (at && !isStepInRange(rule.range, at.step, at.steps)) continue;
    for (const site of sites) {
      if (site.kind !== rule.kind || !siteInTarget(site, rule.target)) continue;
      const at = site.index * SITE_TABLE_WIDTH;
      MULTIPLIER_PARTS.forEach((part, i) => (table[at + i] *= rule.multipliers[part]));
    }
  }
}

/** Four factors q,k,v,out under `key` (the settings key and the link's parameter): `self=1.5,1,1,1`. */
export function multipliersLinkField(key: string, title: string): LinkField<AttentionMultipliers> {
  return {
    key,
    param: key,
    label: title,
    default: { ...NEUTRAL_MULTIPLIERS },
    parse(text, base, notices) {
      const values = text.split(',');
      if (values.length !== 4) {
        notices.push(`Ignored invalid ${title} multipliers "${shortForNotice(text)}": expected four numbers q,k,v,out.`);
        return undefined;
      }
      const out = { ...base };
      MULTIPLIER_PARTS.forEach((part, i) => {
        const value = readLinkNumber(values[i], `${title} ${part}`, MULTIPLIER_RANGE, notices, false);
        if (value !== undefined) out[part] = clampMultiplier(value);
      });
      return out;
    },
    write: (m) => MULTIPLIER_PARTS.map((p) => String(m[p])).join(','),
  };
}

const targetField: LinkField<TargetText> = {
  key: 'target',
  param: 'target',
  label: 'Target',
  default: 'all',
  parse(text, _base, notices) {
    if (isLinkTarget(text)) return text;
    notices.push(`Ignored unknown target "${shortForNotice(text)}"; using all blocks.`);
    return undefined;
  },
  write: (target) => target,
};

export const MULTIPLIER_AXES: readonly (ControlAxis & { which: MultiplierGroup; part: MultiplierPart })[] = MULTIPLIER_GROUPS.flatMap((group) =>
  MULTIPLIER_PARAMETERS.map((parameter) => ({
    id: `${group.which}.${parameter.id}`,
    name: `${group.title} ${parameter.id}`,
    parameter,
    rangeStep: 0.5,
    format: (value: number) => `×${value}`,
    which: group.which,
    part: parameter.id,
  })),
);

/** The multiplier axis an XY value belongs to, if any. */
function multiplierAxisOf(value: AxisValue): (typeof MULTIPLIER_AXES)[number] | undefined {
  return MULTIPLIER_AXES.find((a) => a.id === value.axis.id);
}

export const attentionMultipliers: SteeringControl<MultiplierSettings, { scaleAttentionWeights: typeof scaleAttentionWeights }> = {
  id: 'attention-multipliers',
  label: 'Attention',
  explanation: 'Scales the query, key, value and output of self- or cross-attention, as ComfyUI’s attention-multiply nodes do.',
  parameters: [...MULTIPLIER_PARAMETERS, RANGE_START_PARAMETER, RANGE_END_PARAMETER],
  linkFields: [...MULTIPLIER_GROUPS.map((g) => multipliersLinkField(g.which, g.title)), targetField, ...MULTIPLIER_GROUPS.map((g) => MULTIPLIER_STEP_RANGES[g.which].field)],
  axes: [...MULTIPLIER_AXES, ...MULTIPLIER_GROUPS.flatMap((g) => MULTIPLIER_STEP_RANGES[g.which].axes)],
  toRequest(settings, forced, sites) {
    const ranged = { ...settings };
    for (const { which } of MULTIPLIER_GROUPS) ranged[rangeKey(which)] = MULTIPLIER_STEP_RANGES[which].withForced(settings[rangeKey(which)], forced);
    settings = ranged;
    const overrides = forced.flatMap((f) => {
      const axis = multiplierAxisOf(f);
      return axis ? [{ which: axis.which, part: axis.part, target: f.target, value: f.value }] : [];
    });
    return { rules: multiplierRulesWithOverrides(settings, overrides, sites) };
  },
  off: { rules: [] },
  hook: {
    kind: 'site-table',
    isActive: (request) => request.rules.length > 0,
    isStepwise: (request) => request.rules.some((rule) => !isFullRange(rule.range)),
    apply: (table, sites, request, at) => applyMultiplierRules(table, sites, request.rules, at),
  },
  reference: { cites: 'ComfyUI comfy_extras/nodes_attention_multiply.py', scaleAttentionWeights },
};
