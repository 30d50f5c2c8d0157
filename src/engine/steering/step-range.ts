// When during sampling a control acts: start and end as fractions of the steps, outside which it is
// neutral (its factors 1, its extra pass's scale 0). Every control takes one, written in the link as
// `<param>=start..end`.

/** Fractions of sampling in 0–1: step i of N is inside when start ≤ i/N < end (end 1 takes the last). */
export interface StepRange {
  start: number;
  end: number;
}

export const FULL_STEP_RANGE: Readonly<StepRange> = { start: 0, end: 1 };

export function isFullRange(range: Readonly<StepRange> | undefined): boolean {
  return !range || (range.start <= 0 && range.end >= 1);
}

/** Whether 0-based `step` of `steps` lies in `range` (no range: every step). */
export function isStepInRange(range: Readonly<StepRange> | undefined, step: number, steps: number): boolean {
  if (isFullRange(range)) return true;
  const at = step / steps;
  return at >= range!.start && at < range!.end;
}
