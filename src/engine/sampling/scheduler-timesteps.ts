// The timesteps each diffusers scheduler class picks in set_timesteps(steps). The three spacings
// are those of Lin et al. 2023 (https://arxiv.org/abs/2305.08891), Table 2, but each class
// writes them slightly differently, and those differences are kept here on purpose:
//   DDIM       integers; linspace rounds np.linspace(0, N−1, steps).
//   Euler (a)  float32; linspace keeps np.linspace(0, N−1, steps) unrounded.
//   DPM++      integers; linspace and leading divide [0, last] into steps + 1 and drop 0,
//              where `last` is N less the timesteps below lambda_min_clipped.
// numpy arithmetic is float64; rounding is numpy's half-to-even.
import type { SchedulerConfig, TimestepSpacing } from './scheduler-config';
import { numpyArange, numpyLinspace, roundHalfEven } from './scheduler-schedule';

export type TimestepFamily = 'ddim' | 'euler' | 'dpmpp';

/**
 * Timesteps, high noise first. `trainedSteps` is where DPM++ stops after clipping (else N).
 * Trailing spacing can yield one more value than `steps` (np.arange's float length, e.g. 61 steps
 * of 1000), ending at −1; diffusers keeps it, and so do we.
 */
export function timestepsFor(family: TimestepFamily, spacing: TimestepSpacing, config: SchedulerConfig, steps: number, trainedSteps = config.num_train_timesteps): number[] {
  const n = config.num_train_timesteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > n) throw new Error(`scheduler: steps must be an integer in [1, ${n}], got ${steps}`);
  const offset = config.steps_offset;
  // DPM++ divides the range into steps + 1 points and drops the last (timestep 0).
  const points = family === 'dpmpp' ? steps + 1 : steps;
  const dropZero = (ts: number[]) => (family === 'dpmpp' ? ts.slice(0, -1) : ts);

  if (spacing === 'trailing') return numpyArange(trainedSteps, 0, -n / steps).map((t) => roundHalfEven(t) - 1);
  if (spacing === 'leading') {
    const ratio = Math.floor(trainedSteps / points);
    return dropZero(Array.from({ length: points }, (_, i) => (points - 1 - i) * ratio)).map((t) => t + offset);
  }
  const line = numpyLinspace(0, trainedSteps - 1, points).reverse();
  return dropZero(family === 'euler' ? line : line.map(roundHalfEven));
}
