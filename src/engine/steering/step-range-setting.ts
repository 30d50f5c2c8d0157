// A control's step range as the page has it: one setting (a StepRange), its link field
// (`selfrange=0.2..0.8`, left out when it covers all steps) and two XY axes (`self.start`,
// `self.end`). Every control with a range makes it here, so all of them read and write it alike.
import type { AxisValue, ControlAxis, ControlParameter, LinkField } from './control';
import { readLinkNumber, roundHundredths, shortForNotice } from './link-values';
import { FULL_STEP_RANGE, isFullRange, type StepRange } from './step-range';

const clampFraction = (value: number) => roundHundredths(Math.min(1, Math.max(0, value)));

export const STEP_RANGE_EXPLANATION = 'When during sampling it acts, as fractions of the steps: early steps lay out the picture, late ones its details. Outside, it is off.';

export const RANGE_START_PARAMETER: ControlParameter = {
  id: 'start',
  label: 'from',
  explanation: STEP_RANGE_EXPLANATION,
  min: 0,
  max: 1,
  default: 0,
  step: 0.01,
  clamp: clampFraction,
};

export const RANGE_END_PARAMETER: ControlParameter = { ...RANGE_START_PARAMETER, id: 'end', label: 'to', default: 1 };

/** "0.2..0.8": the link's form and the page's. */
export function formatStepRange(range: Readonly<StepRange>): string {
  return `${range.start}..${range.end}`;
}

/** Reads "start..end" (fractions 0–1); never throws: a bad range is ignored and start > end swapped,
 * each with a notice. */
export function parseStepRange(text: string, label: string, notices: string[]): StepRange | undefined {
  const parts = text.split('..');
  if (parts.length !== 2) {
    notices.push(`Ignored invalid ${label} "${shortForNotice(text)}": expected start..end, fractions of the steps such as 0.2..0.8.`);
    return undefined;
  }
  const start = readLinkNumber(parts[0], `${label} start`, RANGE_START_PARAMETER, notices, false);
  const end = readLinkNumber(parts[1], `${label} end`, RANGE_END_PARAMETER, notices, false);
  if (start === undefined || end === undefined) return undefined;
  const range = { start: clampFraction(start), end: clampFraction(end) };
  if (range.start > range.end) {
    notices.push(`Swapped ${label} ${shortForNotice(text)}: the start comes first (${range.end}..${range.start}).`);
    return { start: range.end, end: range.start };
  }
  return range;
}

export interface StepRangeSetting {
  /** Its key in the page's settings: 'selfRange'. */
  key: string;
  /** People's name: 'Self-attention steps'. */
  label: string;
  field: LinkField<StepRange>;
  /** `<id>.start`, `<id>.end`. */
  axes: readonly [ControlAxis, ControlAxis];
  /** `range` with an XY cell's values of this setting's axes on top. */
  withForced(range: Readonly<StepRange>, forced: readonly AxisValue[]): StepRange;
  /** What a request carries: undefined for all steps, so a full range is the same request as none. */
  toRequest(range: Readonly<StepRange>): StepRange | undefined;
}

/** The step range of control `id` ('self', 'clip'): settings key `<id>Range`, link `<id>range`. */
export function stepRangeSetting(id: string, title: string): StepRangeSetting {
  const label = `${title} steps`;
  const field: LinkField<StepRange> = {
    key: `${id}Range`,
    param: `${id}range`,
    label,
    default: { ...FULL_STEP_RANGE },
    parse: (text, _base, notices) => parseStepRange(text, label, notices),
    write: formatStepRange,
    omit: (range) => isFullRange(range),
  };
  const axis = (parameter: ControlParameter, name: string): ControlAxis => ({
    id: `${id}.${parameter.id}`,
    name: `${title} ${name}`,
    parameter,
    rangeStep: 0.25,
    format: (value) => `${name} ${Math.round(value * 100)}%`,
    untargeted: true,
  });
  const axes = [axis(RANGE_START_PARAMETER, 'from'), axis(RANGE_END_PARAMETER, 'until')] as const;
  return {
    key: field.key,
    label,
    field,
    axes,
    withForced(range, forced) {
      const out = { ...range };
      for (const f of forced) {
        if (f.axis.id === axes[0].id) out.start = RANGE_START_PARAMETER.clamp(f.value);
        if (f.axis.id === axes[1].id) out.end = RANGE_END_PARAMETER.clamp(f.value);
      }
      return out;
    },
    toRequest: (range) => (isFullRange(range) ? undefined : { start: range.start, end: range.end }),
  };
}
