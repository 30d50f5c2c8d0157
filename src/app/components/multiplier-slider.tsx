import type { KeyboardEvent } from 'react';
import { LIMITS, clampMultiplier, type MultiplierPart } from '../state/settings-schema';
import { SLIDER_POSITIONS, multiplierToPosition, positionToMultiplier } from '../state/multiplier-scale';
import { useApp } from '../state/store';
import { NumberField } from './number-field';

interface Props {
  which: 'self' | 'cross';
  part: MultiplierPart;
}

export function sliderName(which: 'self' | 'cross', part: MultiplierPart): string {
  return `${which === 'self' ? 'Self' : 'Cross'}-attention ${part}`;
}

/** Keyboard steps in value, not in track positions: near 1 one position is less than 0.01. */
const KEY_STEPS: Record<string, number | 'min' | 'max'> = {
  ArrowRight: 0.01,
  ArrowUp: 0.01,
  ArrowLeft: -0.01,
  ArrowDown: -0.01,
  PageUp: 0.1,
  PageDown: -0.1,
  Home: 'min',
  End: 'max',
};

/** Track marks at these multipliers (1 sits in the middle of the track). */
const TICKS = [0, 0.5, 1, 2, 5, 10];

/**
 * One multiplier: a 0–10 slider, finer near 1 (multiplier-scale.ts), a number field beside it,
 * and double-click to reset to 1.
 */
export function MultiplierSlider({ which, part }: Props) {
  const value = useApp((s) => s.settings[which][part]);
  const setMultiplier = useApp((s) => s.setMultiplier);
  const endDrag = useApp((s) => s.endDrag);
  const name = sliderName(which, part);
  const set = (v: number, change: 'drag' | 'discrete') => {
    const clamped = clampMultiplier(v);
    if (clamped !== value) setMultiplier(which, part, clamped, change);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    const step = KEY_STEPS[e.key];
    if (step === undefined) return;
    e.preventDefault();
    const next = step === 'min' ? LIMITS.multiplier.min : step === 'max' ? LIMITS.multiplier.max : value + step;
    set(next, 'drag');
  };

  return (
    <div className={`multiplier ${value !== 1 ? 'changed' : ''}`}>
      <span className="multiplier-part" aria-hidden="true">
        {part}
      </span>
      <input
        type="range"
        className="multiplier-track"
        aria-label={name}
        aria-valuetext={`×${value}`}
        title="Double-click to reset to 1"
        min={0}
        max={SLIDER_POSITIONS}
        step={1}
        list="multiplier-ticks"
        value={multiplierToPosition(value)}
        onChange={(e) => set(positionToMultiplier(Number(e.target.value)), 'drag')}
        onPointerUp={endDrag}
        onKeyDown={onKeyDown}
        onKeyUp={endDrag}
        onBlur={endDrag}
        onDoubleClick={() => set(1, 'discrete')}
      />
      <NumberField
        className="multiplier-number"
        label={null}
        ariaLabel={`${part} value, ${which}-attention`}
        name={name}
        value={value}
        min={LIMITS.multiplier.min}
        max={LIMITS.multiplier.max}
        step={0.01}
        onCommit={(v, change) => set(v, change)}
      />
      <button type="button" className="reset" aria-label={`Reset ${part} (${which}) to 1`} title="Reset to 1" disabled={value === 1} onClick={() => set(1, 'discrete')}>
        ↺
      </button>
    </div>
  );
}

/** The track marks, shared by all sliders (one datalist per page). */
export function MultiplierTicks() {
  return (
    <datalist id="multiplier-ticks">
      {TICKS.map((t) => (
        <option key={t} value={multiplierToPosition(t)} label={String(t)} />
      ))}
    </datalist>
  );
}
