import { STEP_RANGE_EXPLANATION, type StepRange, type StepRangeSetting } from '../../engine';
import type { Settings } from '../state/settings-schema';
import { useApp } from '../state/store';
import { NumberField } from './number-field';

/** "Steps from 0 to 1" under a control: its step range (steering/step-range-setting.ts), as fractions
 * of sampling. A start past the end moves the end with it, and the other way round. */
export function StepRangeInput({ setting }: { setting: StepRangeSetting }) {
  const key = setting.key as keyof Settings;
  const range = useApp((s) => s.settings[key]) as StepRange;
  const update = useApp((s) => s.update);
  const set = (next: StepRange, change: 'drag' | 'discrete') => {
    if (next.start !== range.start || next.end !== range.end) update({ [key]: next } as Partial<Settings>, change);
  };
  const [start, end] = setting.axes.map((a) => a.parameter);
  const full = range.start <= 0 && range.end >= 1;
  return (
    <div className={`step-range ${full ? '' : 'changed'}`} data-testid={`${setting.field.param}`}>
      <span className="step-range-label">Steps from</span>
      <NumberField
        className="step-range-number"
        label={null}
        ariaLabel={`${setting.label}: from`}
        name={`${setting.label} from`}
        value={range.start}
        min={start.min}
        max={start.max}
        step={start.step}
        onCommit={(v, change) => set({ start: v, end: Math.max(v, range.end) }, change)}
      />
      <span className="step-range-label">to</span>
      <NumberField
        className="step-range-number"
        label={null}
        ariaLabel={`${setting.label}: to`}
        name={`${setting.label} to`}
        value={range.end}
        min={end.min}
        max={end.max}
        step={end.step}
        onCommit={(v, change) => set({ start: Math.min(v, range.start), end: v }, change)}
      />
      <button type="button" className="reset" aria-label={`Reset ${setting.label} to all steps`} title="All steps" disabled={full} onClick={() => set({ start: 0, end: 1 }, 'discrete')}>
        ↺
      </button>
      <p className="hint">{STEP_RANGE_EXPLANATION}</p>
    </div>
  );
}
