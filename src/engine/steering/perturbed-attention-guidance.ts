// Perturbed-Attention Guidance (Ahn et al. 2024), as ComfyUI's comfy_extras/nodes_pag.py and
// diffusers' PAG pipelines run it: a third, conditional item in the same UNet call as CFG's two,
// whose self-attention at the chosen sites returns v (softmax acts as the identity; to_out and the
// v and out multipliers still apply), and
//   eps = eps_uncond + g·(eps_cond − eps_uncond) + scale·(eps_cond − eps_perturbed).
// ComfyUI adds the same term in x0 space, which for one step is the same sum.
import type { AttentionSite, PerturbedAttentionRequest } from '../api';
import type { AxisValue, ControlAxis, ControlParameter, LinkField, SteeringControl } from './control';
import { readLinkNumber, roundHundredths, shortForNotice } from './link-values';
import { isLinkTarget, siteInTarget, siteTarget, type TargetText } from './site-target';
import { FULL_STEP_RANGE, isFullRange, isStepInRange, type StepRange } from './step-range';
import { identityAttentionModule, pagGuidance } from './perturbed-attention-reference';

/** 0–10: the PAG paper and diffusers' examples use 1–5 (3 by default, as ComfyUI's node); ComfyUI
 * allows up to 100, but past about 10 every image is burnt, so a slider there only hides the range
 * people use. */
export const PAG_SCALE_RANGE = { min: 0, max: 10 } as const;
/** The scale people start from (ComfyUI's and diffusers' default) when they switch PAG on. */
export const PAG_USUAL_SCALE = 3;
/** ComfyUI perturbs ("middle", 0) and diffusers' default pag_applied_layers is ["mid"]: every
 * self-attention of the middle block (SD 1.x and 2.x have one). */
export const PAG_DEFAULT_TARGET: TargetText = 'middle';

export function clampPagScale(value: number): number {
  return roundHundredths(Math.min(PAG_SCALE_RANGE.max, Math.max(PAG_SCALE_RANGE.min, value)));
}

export const PAG_SCALE: ControlParameter = {
  id: 'scale',
  label: 'PAG scale',
  explanation: 'Sharpens structure by steering away from a version of the image whose self-attention is blurred out. 0 is off; about 3 is usual.',
  ...PAG_SCALE_RANGE,
  default: 0,
  step: 0.01,
  clamp: clampPagScale,
};

/** What the page sets for this control. */
export interface PagSettings {
  /** 0: off. */
  pag: number;
  /** Where the self-attention is perturbed (only its attn1 sites count). */
  pagTarget: TargetText;
  /** When during sampling PAG acts; outside, its scale is 0. */
  pagRange: StepRange;
}

/** The self-attention sites of `target`, by diffusers path. */
export function pagSites(sites: readonly AttentionSite[], target: PerturbedAttentionRequest['target']): string[] {
  return sites.filter((s) => s.kind === 'attn1' && siteInTarget(s, target)).map((s) => s.path);
}

/** The perturbed pass of `request` on a model with `sites` over `steps` steps: the sites whose
 * attention is the identity, and each step's scale (0 outside the range). Undefined where PAG is off
 * or its target names no self-attention of this model. */
export function perturbedAttentionPass(request: Readonly<PerturbedAttentionRequest> | undefined, sites: readonly AttentionSite[], steps: number): { sites: string[]; scales: number[] } | undefined {
  if (!request || !(request.scale > 0)) return undefined;
  const chosen = pagSites(sites, request.target);
  if (!chosen.length) return undefined;
  const scales = Array.from({ length: steps }, (_, i) => (isStepInRange(request.range, i, steps) ? request.scale : 0));
  return scales.some((s) => s > 0) ? { sites: chosen, scales } : undefined;
}

const scaleField: LinkField<number> = {
  key: 'pag',
  param: 'pag',
  label: 'PAG scale',
  default: 0,
  parse(text, _base, notices) {
    const value = readLinkNumber(text, 'PAG scale', PAG_SCALE_RANGE, notices, false);
    return value === undefined ? undefined : clampPagScale(value);
  },
  write: String,
};

const targetField: LinkField<TargetText> = {
  key: 'pagTarget',
  param: 'pagt',
  label: 'PAG blocks',
  default: PAG_DEFAULT_TARGET,
  parse(text, _base, notices) {
    if (isLinkTarget(text)) return text;
    notices.push(`Ignored unknown PAG blocks "${shortForNotice(text)}"; using the middle block.`);
    return undefined;
  },
  write: (target) => target,
};

/** "start..end" as fractions 0–1 with start < end. */
const rangeField: LinkField<StepRange> = {
  key: 'pagRange',
  param: 'pagr',
  label: 'PAG steps',
  default: { ...FULL_STEP_RANGE },
  parse(text, _base, notices) {
    const parts = text.split('..');
    const ignore = (why: string) => (notices.push(`Ignored PAG steps "${shortForNotice(text)}": ${why}`), undefined);
    if (parts.length !== 2) return ignore('expected start..end as fractions, e.g. 0..0.5.');
    const [start, end] = parts.map((p, i) => readLinkNumber(p, i ? 'PAG steps end' : 'PAG steps start', { min: 0, max: 1 }, notices, false));
    if (start === undefined || end === undefined) return undefined;
    const range = { start: roundHundredths(start), end: roundHundredths(end) };
    if (range.start >= range.end) return ignore('the start must come before the end.');
    return range;
  },
  write: (range) => `${range.start}..${range.end}`,
  // All of sampling is left out of the link, as every control's step range is.
  omit: (range) => isFullRange(range),
};

export const PAG_AXIS: ControlAxis = {
  id: 'pag.scale',
  name: 'PAG scale',
  parameter: PAG_SCALE,
  rangeStep: 1,
  format: (value) => String(value),
};

/** The request part of a scale on the settings' blocks and steps (none at scale 0). */
function pagRequest(settings: Readonly<PagSettings>, scale: number): PerturbedAttentionRequest | undefined {
  if (!(scale > 0)) return undefined;
  return { scale, target: siteTarget(settings.pagTarget), ...(!isFullRange(settings.pagRange) && { range: { ...settings.pagRange } }) };
}

export const perturbedAttentionGuidance: SteeringControl<PagSettings, { identityAttentionModule: typeof identityAttentionModule; pagGuidance: typeof pagGuidance }> = {
  id: 'perturbed-attention-guidance',
  label: 'Perturbed-Attention Guidance',
  explanation: 'Sharpens structure by steering away from a version of the image whose self-attention is blurred out. Costs one more image per UNet call (about half again the time with CFG).',
  parameters: [PAG_SCALE],
  linkFields: [scaleField, targetField, rangeField],
  axes: [PAG_AXIS],
  // The axis varies the scale on the settings' own blocks and steps; an XY axis's target is ignored.
  toRequest(settings, forced: readonly AxisValue[]) {
    const axis = forced.find((f) => f.axis.id === PAG_AXIS.id);
    return { pag: pagRequest(settings, axis ? clampPagScale(axis.value) : settings.pag) };
  },
  off: { pag: undefined },
  hook: {
    kind: 'guidance-pass',
    isActive: (request) => !!request.pag && request.pag.scale > 0,
    perturbedPass: (request, sites, steps) => perturbedAttentionPass(request.pag, sites, steps),
  },
  reference: { cites: 'ComfyUI comfy_extras/nodes_pag.py; diffusers PAGCFGIdentitySelfAttnProcessor2_0 and pipelines/pag', identityAttentionModule, pagGuidance },
};
