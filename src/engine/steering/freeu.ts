// FreeU and FreeU_V2, as ComfyUI's nodes_freelunch.py: where a decoder resnet joins its hidden state
// h and its skip connection hsp, the first half of h's channels is scaled by b (V2: by (b−1)·hm+1, hm
// h's channel mean scaled to 0–1) and hsp's lowest frequencies by s; (b1, s1) at the level whose h has
// model_channels·4 channels, (b2, s2) at ·2. The UNet records it only while it is on (kernels/freeu.ts)
// and reads the factors from a buffer, so sliders and the step range never re-record anything.
import type { FreeURequest } from '../api';
// Types only: the page's settings (and Playwright's Node) load this file without the kernels' WGSL.
import type { FreeUFactors } from '../kernels/freeu';
import type { AxisValue, ControlAxis, ControlParameter, LinkField, SteeringControl } from './control';
import { fourierFilter, freeuPatch } from './freeu-reference';
import { readLinkNumber, roundHundredths, shortForNotice } from './link-values';
import { isFullRange, isStepInRange, type StepRange } from './step-range';
import { RANGE_END_PARAMETER, RANGE_START_PARAMETER, stepRangeSetting } from './step-range-setting';

export const FREEU_PARTS = ['b1', 'b2', 's1', 's2'] as const;
export type FreeUPart = (typeof FREEU_PARTS)[number];
export type FreeUVersion = 1 | 2;

/** ComfyUI's defaults: FreeU's and FreeU_V2's. */
export const FREEU_DEFAULTS: Readonly<Record<FreeUVersion, Readonly<Record<FreeUPart, number>>>> = {
  1: { b1: 1.1, b2: 1.2, s1: 0.9, s2: 0.2 },
  2: { b1: 1.3, b2: 1.4, s1: 0.9, s2: 0.2 },
};

/** ComfyUI's nodes take 0–10 in steps of 0.01. */
export const FREEU_RANGE = { min: 0, max: 10 } as const;

const clampFactor = (value: number) => roundHundredths(Math.min(FREEU_RANGE.max, Math.max(FREEU_RANGE.min, value)));

const BACKBONE = 'Boosts the decoder’s backbone features: more detail and contrast; too much burns colours in. 1 leaves them.';
const SKIP = 'Damps the lowest frequencies of the skip connections (the encoder’s coarse layout passed across): below 1 the backbone’s picture counts more. 1 leaves them.';
const EXPLANATIONS: Record<FreeUPart, string> = {
  b1: `${BACKBONE} (Deepest level.)`,
  b2: `${BACKBONE} (Next level up.)`,
  s1: `${SKIP} (Deepest level.)`,
  s2: `${SKIP} (Next level up.)`,
};

export const FREEU_PARAMETERS: readonly (ControlParameter & { id: FreeUPart })[] = FREEU_PARTS.map((id) => ({
  id,
  label: id,
  explanation: EXPLANATIONS[id],
  ...FREEU_RANGE,
  default: FREEU_DEFAULTS[1][id],
  step: 0.01,
  clamp: clampFactor,
}));

/** FreeU as the page holds it: off keeps the values, so turning it on again brings them back. */
export interface FreeUValues extends Record<FreeUPart, number> {
  on: boolean;
  version: FreeUVersion;
}

export const DEFAULT_FREEU: Readonly<FreeUValues> = { on: false, version: 1, ...FREEU_DEFAULTS[1] };

/** What the page sets for this control. */
export interface FreeUSettings {
  freeu: FreeUValues;
  freeuRange: StepRange;
}

/** `values` switched to `version`: still at the old version's defaults, they take the new one's. */
export function withFreeUVersion(values: Readonly<FreeUValues>, version: FreeUVersion): FreeUValues {
  const untouched = FREEU_PARTS.every((p) => values[p] === FREEU_DEFAULTS[values.version][p]);
  return { ...values, version, ...(untouched && FREEU_DEFAULTS[version]) };
}

/** `freeu=v2,1.3,1.4,0.9,0.2` (version,b1,b2,s1,s2), `freeu=v2` (its defaults) or `freeu=off`; left
 * out of the link while off, so links without FreeU read as before. */
const freeuField: LinkField<FreeUValues> = {
  key: 'freeu',
  param: 'freeu',
  label: 'FreeU',
  default: { ...DEFAULT_FREEU },
  parse(text, base, notices) {
    if (text === 'off') return { ...base, on: false };
    const m = /^v([12])(?:,(.*))?$/.exec(text);
    if (!m) {
      notices.push(`Ignored invalid FreeU "${shortForNotice(text)}": expected v1 or v2, then ,b1,b2,s1,s2 (such as v1,1.1,1.2,0.9,0.2), or off.`);
      return undefined;
    }
    const version = Number(m[1]) as FreeUVersion;
    const out: FreeUValues = { on: true, version, ...FREEU_DEFAULTS[version] };
    if (m[2] === undefined) return out;
    const values = m[2].split(',');
    if (values.length !== 4) {
      notices.push(`Ignored FreeU's factors "${shortForNotice(m[2])}": expected four numbers b1,b2,s1,s2; using FreeU v${version}'s defaults.`);
      return out;
    }
    FREEU_PARTS.forEach((part, i) => {
      const value = readLinkNumber(values[i], `FreeU ${part}`, FREEU_RANGE, notices, false);
      if (value !== undefined) out[part] = clampFactor(value);
    });
    return out;
  },
  write: (v) => (v.on ? `v${v.version},${FREEU_PARTS.map((p) => String(v[p])).join(',')}` : 'off'),
  omit: (v) => !v.on,
};

export const FREEU_STEP_RANGE = stepRangeSetting('freeu', 'FreeU');

/** One factor over the plot's cells; an axis of FreeU turns it on in its cells. */
export const FREEU_AXES: readonly (ControlAxis & { part: FreeUPart })[] = FREEU_PARAMETERS.map((parameter) => ({
  id: `freeu.${parameter.id}`,
  name: `FreeU ${parameter.id}`,
  parameter,
  rangeStep: 0.1,
  format: (value: number) => `×${value}`,
  // FreeU picks its decoder levels itself.
  untargeted: true,
  part: parameter.id,
}));

/** The request part for `values`: none while off. */
export function freeuRequest(values: Readonly<FreeUValues>, range: Readonly<StepRange>): FreeURequest | undefined {
  if (!values.on) return undefined;
  const inRequest = FREEU_STEP_RANGE.toRequest(range);
  return { version: values.version, b1: values.b1, b2: values.b2, s1: values.s1, s2: values.s2, ...(inRequest && { range: inRequest }) };
}

function forcedValues(values: Readonly<FreeUValues>, forced: readonly AxisValue[]): FreeUValues {
  const out = { ...values };
  for (const f of forced) {
    const axis = FREEU_AXES.find((a) => a.id === f.axis.id);
    if (!axis) continue;
    out[axis.part] = clampFactor(f.value);
    out.on = true;
  }
  return out;
}

export const freeu: SteeringControl<FreeUSettings, { freeuPatch: typeof freeuPatch; fourierFilter: typeof fourierFilter }> = {
  id: 'freeu',
  label: 'FreeU',
  explanation: 'Reweighs the decoder: its backbone features up (b), the low frequencies its skip connections pass down (s), as ComfyUI’s FreeU and FreeU_V2 nodes do.',
  parameters: [...FREEU_PARAMETERS, RANGE_START_PARAMETER, RANGE_END_PARAMETER],
  linkFields: [freeuField, FREEU_STEP_RANGE.field],
  axes: [...FREEU_AXES, ...FREEU_STEP_RANGE.axes],
  toRequest: (settings, forced) => ({ freeu: freeuRequest(forcedValues(settings.freeu, forced), FREEU_STEP_RANGE.withForced(settings.freeuRange, forced)) }),
  off: { freeu: undefined },
  hook: {
    kind: 'skip-scaling',
    factors(request, at) {
      const f = request.freeu;
      if (!f) return undefined;
      if (at && !isStepInRange(f.range, at.step, at.steps)) return { version: f.version, b1: 1, s1: 1, b2: 1, s2: 1 };
      return { version: f.version, b1: f.b1, s1: f.s1, b2: f.b2, s2: f.s2 } satisfies FreeUFactors;
    },
    isStepwise: (request) => !!request.freeu && !isFullRange(request.freeu.range),
  },
  reference: { cites: 'ComfyUI comfy_extras/nodes_freelunch.py (FreeU, FreeU_V2)', freeuPatch, fourierFilter },
};
