// The XY grid's text and export size (src/app/components/xy-grid-drawing.ts).
import { describe, expect, it } from 'vitest';
import { cellSize, exportPixelRatio, plural, sharedLine, wrapText } from '../src/app/components/xy-grid-drawing';
import { DEFAULT_SETTINGS } from '../src/app/state/settings-schema';

describe('the XY grid', () => {
  it('says "1 step" and "2 steps"', () => {
    expect(plural(1, 'step')).toBe('1 step');
    expect(plural(2, 'step')).toBe('2 steps');
    const axis = { kind: 'seed' as const, target: 'all', values: [1, 2] };
    const none = { kind: 'none' as const, target: 'all', values: [] };
    expect(sharedLine({ ...DEFAULT_SETTINGS, steps: 1, prompt: 'a cat' }, axis, none)).toBe('Euler · 1 step · CFG 5 · “a cat”');
    expect(sharedLine({ ...DEFAULT_SETTINGS, steps: 3 }, axis, none)).toBe('Euler · 3 steps · CFG 5 · no prompt');
  });

  it('wraps a long Y title into lines instead of squeezing it', () => {
    const measure = (t: string) => t.length * 8;
    expect(wrapText('Y: Cross-attention out (output blocks) ↓', 180, measure)).toEqual(['Y: Cross-attention out', '(output blocks) ↓']);
    expect(wrapText('Y: Seed ↓', 160, measure)).toEqual(['Y: Seed ↓']);
  });

  it('saves cells of at least 256 px, by whole pixels, or at the model’s own size', () => {
    for (const width of [32, 64, 128, 512]) {
      const ratio = exportPixelRatio(width);
      const saved = cellSize(width, width).w * ratio;
      expect(saved).toBeGreaterThanOrEqual(Math.max(256, width));
      if (width < 256) expect(saved % width).toBe(0);
    }
    expect(cellSize(64, 64).w * exportPixelRatio(64)).toBe(256);
  });
});
