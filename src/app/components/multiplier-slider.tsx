import { useRef, type KeyboardEvent, type PointerEvent } from 'react';
import { CLIP_MULTIPLIER_AXES, MULTIPLIER_AXES, type MULTIPLIER_PARAMETERS, type MultiplierGroup } from '../../engine';
import { SLIDER_POSITIONS, multiplierToPosition, positionToMultiplier } from '../state/multiplier-scale';
import { useApp } from '../state/store';
import { NumberField } from './number-field';

/** The UNet's self- or cross-attention, or the text encoder's ('clip'). */
type SliderGroup = MultiplierGroup | 'clip';

interface Props {
  which: SliderGroup;
  /** Its range, default, step and label (steering/attention-multipliers.ts). */
  parameter: (typeof MULTIPLIER_PARAMETERS)[number];
}

/** 'Self-attention q': the slider's accessible name, the XY axis's name. */
export function sliderName(which: SliderGroup, part: string): string {
  if (which === 'clip') return CLIP_MULTIPLIER_AXES.find((a) => a.part === part)?.name ?? `${which} ${part}`;
  return MULTIPLIER_AXES.find((a) => a.which === which && a.part === part)?.name ?? `${which} ${part}`;
}

/** Page Up/Down step by 0.1 (the native range would step by a tenth of 0–10). */
const PAGE_STEPS: Record<string, number> = { PageUp: 0.1, PageDown: -0.1 };

/** Track marks at these multipliers (1 sits in the middle of the track). */
const TICKS = [0, 0.5, 1, 2, 5, 10];
/** Half the drawn thumb's width: the track's ends are this far in, so the thumb stays inside. */
const THUMB_RADIUS = 8;

/** Where `value` sits along the track, 0–1, on the finer-near-1 scale. */
function trackFraction(value: number): number {
  return multiplierToPosition(value) / SLIDER_POSITIONS;
}

/**
 * One multiplier: a 0–10 slider, finer near 1, a number field beside it, double-click to reset.
 * The native range input carries the value (0–10, step 0.01: keyboard, screen readers, form
 * tools) and is laid transparently over a drawn track; a pointer drag maps the pointer through
 * the finer-near-1 scale (multiplier-scale.ts) instead of the input's linear one.
 */
export function MultiplierSlider({ which, parameter }: Props) {
  const part = parameter.id;
  const { min, max, step } = parameter;
  const neutral = parameter.default;
  const value = useApp((s) => s.settings[which][part]);
  const setMultiplier = useApp((s) => s.setMultiplier);
  const endDrag = useApp((s) => s.endDrag);
  const dragging = useRef(false);
  const name = sliderName(which, part);
  const set = (v: number, change: 'drag' | 'discrete') => {
    const clamped = parameter.clamp(v);
    if (clamped !== useApp.getState().settings[which][part]) setMultiplier(which, part, clamped, change);
  };

  const fromPointer = (e: PointerEvent<HTMLInputElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const fraction = (e.clientX - rect.left - THUMB_RADIUS) / Math.max(1, rect.width - 2 * THUMB_RADIUS);
    set(positionToMultiplier(Math.round(Math.min(1, Math.max(0, fraction)) * SLIDER_POSITIONS)), 'drag');
  };

  const onPointerDown = (e: PointerEvent<HTMLInputElement>) => {
    if (e.button !== 0) return;
    e.preventDefault();
    e.currentTarget.focus();
    e.currentTarget.setPointerCapture(e.pointerId);
    dragging.current = true;
    fromPointer(e);
  };
  const onPointerMove = (e: PointerEvent<HTMLInputElement>) => {
    if (dragging.current) fromPointer(e);
  };
  const onPointerUp = (e: PointerEvent<HTMLInputElement>) => {
    if (!dragging.current) return;
    dragging.current = false;
    if (e.currentTarget.hasPointerCapture(e.pointerId)) e.currentTarget.releasePointerCapture(e.pointerId);
    endDrag();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    const step = PAGE_STEPS[e.key];
    if (step === undefined) return;
    e.preventDefault();
    set(value + step, 'drag');
  };

  const at = trackFraction(value);
  const one = trackFraction(neutral);
  const place = (fraction: number) => `calc(${THUMB_RADIUS}px + ${fraction} * (100% - ${2 * THUMB_RADIUS}px))`;

  return (
    <div className={`multiplier ${value !== neutral ? 'changed' : ''}`}>
      <span className="multiplier-part" aria-hidden="true">
        {part}
      </span>
      <div className="slider">
        <div className="slider-rail" aria-hidden="true" />
        {TICKS.map((t) => (
          <div key={t} className={`slider-tick ${t === 1 ? 'one' : ''}`} style={{ left: place(trackFraction(t)) }} aria-hidden="true" />
        ))}
        <div
          className="slider-fill"
          aria-hidden="true"
          style={{ left: place(Math.min(at, one)), width: `calc(${Math.abs(at - one)} * (100% - ${2 * THUMB_RADIUS}px))` }}
        />
        <div className="slider-thumb" style={{ left: place(at) }} aria-hidden="true" />
        <input
          type="range"
          className="slider-input"
          aria-label={name}
          aria-valuetext={`×${value}`}
          title="Drag (finer near 1), arrow keys ±0.01; double-click to reset to 1"
          min={min}
          max={max}
          step={step}
          value={value}
          onChange={(e) => {
            // During a pointer drag the pointer decides; the input's own linear reading would jump.
            if (!dragging.current) set(Number(e.target.value), 'drag');
          }}
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onPointerCancel={onPointerUp}
          onMouseDown={(e) => e.preventDefault()}
          onKeyDown={onKeyDown}
          onKeyUp={endDrag}
          onBlur={endDrag}
          onDoubleClick={() => set(neutral, 'discrete')}
        />
      </div>
      <NumberField
        className="multiplier-number"
        label={null}
        ariaLabel={which === 'clip' ? `${part} value, text encoder attention` : `${part} value, ${which}-attention`}
        name={name}
        value={value}
        min={min}
        max={max}
        step={step}
        onCommit={(v, change) => set(v, change)}
      />
      <button type="button" className="reset" aria-label={`Reset ${part} (${which === 'clip' ? 'text encoder' : which}) to 1`} title="Reset to 1" disabled={value === neutral} onClick={() => set(neutral, 'discrete')}>
        ↺
      </button>
    </div>
  );
}
