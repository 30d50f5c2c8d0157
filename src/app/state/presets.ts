// Named starting points for the attention sliders. A preset sets the multipliers and the target
// and keeps the prompt, seed and sampler, so the same picture can be compared across presets.

import { NEUTRAL_MULTIPLIERS, type AttentionMultipliers } from '../../engine';
import type { Settings, Target } from './settings-schema';

export interface Preset {
  name: string;
  /** What to look for, in one line. */
  hint: string;
  self: AttentionMultipliers;
  cross: AttentionMultipliers;
  target: Target;
}

const one = NEUTRAL_MULTIPLIERS;

export const PRESETS: readonly Preset[] = [
  { name: 'Neutral', hint: 'Every multiplier at 1: the model as trained.', self: { ...one }, cross: { ...one }, target: 'all' },
  {
    name: 'Sharp self-attention',
    hint: 'Self q and k at 1.4: each pixel attends to fewer, more similar pixels — crisper, more contrasty detail.',
    self: { ...one, q: 1.4, k: 1.4 },
    cross: { ...one },
    target: 'all',
  },
  {
    name: 'Soft self-attention',
    hint: 'Self q at 0.3: attention spreads evenly over the image — smoother, blurrier shapes.',
    self: { ...one, q: 0.3 },
    cross: { ...one },
    target: 'all',
  },
  {
    name: 'Prompt emphasis',
    hint: 'Cross v at 1.6: the prompt pushes harder on every block.',
    self: { ...one },
    cross: { ...one, v: 1.6 },
    target: 'all',
  },
  {
    name: 'Ignore the prompt',
    hint: 'Cross out at 0: the prompt has no way in; what is left is the model’s unconditional guess.',
    self: { ...one },
    cross: { ...one, out: 0 },
    target: 'all',
  },
  {
    name: 'Output detail boost',
    hint: 'Self out at 1.5 in the output blocks only: fine texture changes, layout stays.',
    self: { ...one, out: 1.5 },
    cross: { ...one },
    target: 'output',
  },
];

export function applyPreset(settings: Readonly<Settings>, preset: Preset): Settings {
  return { ...settings, self: { ...preset.self }, cross: { ...preset.cross }, target: preset.target };
}

/** The preset these settings match exactly, if any. */
export function matchingPreset(settings: Readonly<Settings>): Preset | undefined {
  const same = (a: AttentionMultipliers, b: AttentionMultipliers) => a.q === b.q && a.k === b.k && a.v === b.v && a.out === b.out;
  return PRESETS.find((p) => same(p.self, settings.self) && same(p.cross, settings.cross) && (p.target === settings.target || p.name === 'Neutral'));
}
