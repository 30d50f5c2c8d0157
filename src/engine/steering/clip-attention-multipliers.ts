// ComfyUI's CLIPAttentionMultiply, live: it scales the weights and biases of q_proj, k_proj, v_proj
// and out_proj of every self-attention of the text encoder. Our encoder applies the same factors at
// run time from a small buffer (nn/clip-text.ts: logits × q·k, values × v, out_proj × out), so a
// slider move encodes the prompt again without recording anything. It acts on the embeddings the
// UNet's cross-attention reads; its step range picks the steps that get them (the others get the
// plain encoder's).
import type { AttentionMultipliers, ClipMultiplierRequest } from '../api';
import { clampMultiplier, isNeutral, multiplierParameters, multipliersLinkField, type MultiplierPart } from './attention-multipliers';
import { scaleAttentionWeights } from './attention-multipliers-reference';
import type { ControlAxis, SteeringControl } from './control';
import { RANGE_END_PARAMETER, RANGE_START_PARAMETER, stepRangeSetting } from './step-range-setting';
import type { StepRange } from './step-range';

export const CLIP_GROUP = {
  which: 'clip',
  title: 'Text encoder attention',
  about: 'How the prompt’s words look at each other inside the text encoder (CLIP), before the picture sees them.',
} as const;

const FOCUS = 'How sharply each word attends to the words before it. The two multiply: above 1 a word takes in a few others; below 1 it blends them all.';
const EXPLANATIONS: Record<MultiplierPart, string> = {
  q: FOCUS,
  k: FOCUS,
  v: 'How strongly what a word gathers from the others is passed on.',
  out: 'How strongly the words’ attention acts on their meaning; 0 switches it off in every layer.',
};

export const CLIP_MULTIPLIER_PARAMETERS = multiplierParameters(EXPLANATIONS);

/** What the page sets for this control. */
export interface ClipMultiplierSettings {
  clip: AttentionMultipliers;
  clipRange: StepRange;
}

export const CLIP_STEP_RANGE = stepRangeSetting(CLIP_GROUP.which, CLIP_GROUP.title);

export const CLIP_MULTIPLIER_AXES: readonly (ControlAxis & { part: MultiplierPart })[] = CLIP_MULTIPLIER_PARAMETERS.map((parameter) => ({
  id: `${CLIP_GROUP.which}.${parameter.id}`,
  name: `${CLIP_GROUP.title} ${parameter.id}`,
  parameter,
  rangeStep: 0.5,
  format: (value: number) => `×${value}`,
  // The encoder has one set of factors for all its layers.
  untargeted: true,
  part: parameter.id,
}));

/** The request part for `settings`: none while all four factors are 1. */
export function clipRequest(settings: Readonly<ClipMultiplierSettings>): ClipMultiplierRequest | undefined {
  if (isNeutral(settings.clip)) return undefined;
  const range = CLIP_STEP_RANGE.toRequest(settings.clipRange);
  return { multipliers: { ...settings.clip }, ...(range && { range }) };
}

export const clipAttentionMultipliers: SteeringControl<ClipMultiplierSettings, { scaleAttentionWeights: typeof scaleAttentionWeights }> = {
  id: 'clip-attention-multipliers',
  label: CLIP_GROUP.title,
  explanation: 'Scales the query, key, value and output of the text encoder’s self-attention, as ComfyUI’s CLIPAttentionMultiply does.',
  parameters: [...CLIP_MULTIPLIER_PARAMETERS, RANGE_START_PARAMETER, RANGE_END_PARAMETER],
  linkFields: [multipliersLinkField(CLIP_GROUP.which, CLIP_GROUP.title), CLIP_STEP_RANGE.field],
  axes: [...CLIP_MULTIPLIER_AXES, ...CLIP_STEP_RANGE.axes],
  toRequest(settings, forced) {
    const clip = { ...settings.clip };
    for (const f of forced) {
      const axis = CLIP_MULTIPLIER_AXES.find((a) => a.id === f.axis.id);
      if (axis) clip[axis.part] = clampMultiplier(f.value);
    }
    return { clip: clipRequest({ clip, clipRange: CLIP_STEP_RANGE.withForced(settings.clipRange, forced) }) };
  },
  off: { clip: undefined },
  hook: {
    kind: 'text-encoder',
    factors: (request) => (request.clip && !isNeutral(request.clip.multipliers) ? request.clip.multipliers : undefined),
    range: (request) => request.clip?.range,
  },
  // The same patch as the UNet's multipliers, on each encoder layer's self_attn.{q,k,v,out}_proj.
  reference: { cites: 'ComfyUI comfy_extras/nodes_attention_multiply.py (CLIPAttentionMultiply)', scaleAttentionWeights },
};
