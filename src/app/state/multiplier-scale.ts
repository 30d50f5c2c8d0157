// The multiplier sliders' scale: 0–10 with 1 in the middle of the track, finer near 1, where small
// changes already change the picture, and coarser toward 0 and 10.
//   left half:  value = 1 - (1 - t)²      t = position / HALF in [0, 1]   (0 … 1)
//   right half: value = 1 + 9·u²          u = position / HALF - 1         (1 … 10)
// Both halves have zero slope at 1, so the first slider positions away from 1 move by less than a
// hundredth; the keyboard steps by 0.01 in value instead (see MultiplierSlider).

import { LIMITS, roundHundredths } from './settings-schema';

export const SLIDER_POSITIONS = 1000;
const HALF = SLIDER_POSITIONS / 2;
const TOP = LIMITS.multiplier.max;

export function positionToMultiplier(position: number): number {
  const p = Math.min(SLIDER_POSITIONS, Math.max(0, position));
  if (p <= HALF) {
    const t = p / HALF;
    return roundHundredths(1 - (1 - t) ** 2);
  }
  const u = p / HALF - 1;
  return roundHundredths(1 + (TOP - 1) * u * u);
}

export function multiplierToPosition(value: number): number {
  const v = Math.min(TOP, Math.max(0, value));
  if (v <= 1) return Math.round(HALF * (1 - Math.sqrt(1 - v)));
  return Math.round(HALF * (1 + Math.sqrt((v - 1) / (TOP - 1))));
}
