import { useEffect, useId, useState, type ReactNode } from 'react';
import { useApp } from '../state/store';

interface Props {
  label: ReactNode;
  /** The accessible name when `label` is not plain text, or differs from it. */
  ariaLabel?: string;
  value: number;
  min: number;
  max: number;
  step: number;
  integer?: boolean;
  /** Named in notices: "Steps 500 is above 100; using 100." */
  name: string;
  onCommit(value: number, change: 'drag' | 'discrete'): void;
  className?: string;
  describedBy?: string;
}

/**
 * A number input that applies each valid keystroke at once and, on leaving the field, clamps what
 * is out of range (with a notice) or restores the last good value when the text is not a number.
 */
export function NumberField({ label, ariaLabel, value, min, max, step, integer, name, onCommit, className, describedBy }: Props) {
  const id = useId();
  const [draft, setDraft] = useState(String(value));
  const [editing, setEditing] = useState(false);
  useEffect(() => {
    if (!editing) setDraft(String(value));
  }, [value, editing]);

  const parse = (text: string): number | undefined => {
    if (!/^\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*$/.test(text)) return undefined;
    const n = Number(text);
    return integer ? Math.round(n) : Math.round(n * 100) / 100;
  };

  const finish = () => {
    setEditing(false);
    const n = parse(draft);
    if (n === undefined) {
      if (draft.trim() !== '') useApp.getState().notify(`Ignored invalid ${name} "${draft.slice(0, 20)}": not a number; kept ${value}.`, 'warning');
      setDraft(String(value));
      return;
    }
    const clamped = Math.min(max, Math.max(min, n));
    if (clamped !== n) useApp.getState().notify(`Clamped ${name} ${n} to ${clamped} (allowed ${min}–${max}).`, 'warning');
    setDraft(String(clamped));
    if (clamped !== value) onCommit(clamped, 'discrete');
    else useApp.getState().endDrag();
  };

  return (
    <span className={`number-field ${className ?? ''}`}>
      {label !== undefined && label !== null && (
        <label htmlFor={id} className="field-label">
          {label}
        </label>
      )}
      <input
        id={id}
        type="number"
        inputMode={integer ? 'numeric' : 'decimal'}
        aria-label={ariaLabel}
        aria-describedby={describedBy}
        min={min}
        max={max}
        step={step}
        value={draft}
        onFocus={() => setEditing(true)}
        onChange={(e) => {
          setEditing(true);
          setDraft(e.target.value);
          const n = parse(e.target.value);
          if (n !== undefined && n >= min && n <= max && n !== value) onCommit(n, 'drag');
        }}
        onBlur={finish}
        onKeyDown={(e) => {
          if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
        }}
      />
    </span>
  );
}
