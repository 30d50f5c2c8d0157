import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../src/app/state/settings-schema';
import { axisTitle, cellRequest, parseAxisValues } from '../src/app/state/xy-axes';
import { multiplierToPosition, positionToMultiplier, SLIDER_POSITIONS } from '../src/app/state/multiplier-scale';

describe('XY axis values', () => {
  it('reads a list', () => {
    expect(parseAxisValues('self.q', '0.5, 1, 1.5')).toEqual({ values: [0.5, 1, 1.5], problems: [], ok: true });
    expect(parseAxisValues('cfg', '1 4 7').values).toEqual([1, 4, 7]);
  });

  it('reads a range with both ends', () => {
    expect(parseAxisValues('cross.v', '0..2 step 0.5').values).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(parseAxisValues('steps', '10..4 step 3').values).toEqual([10, 7, 4]);
    expect(parseAxisValues('seed', '5..7').values).toEqual([5, 6, 7]);
  });

  it('clamps into the axis range and says so', () => {
    const parsed = parseAxisValues('self.out', '-1, 5, 20');
    expect(parsed.values).toEqual([0, 5, 10]);
    expect(parsed.ok).toBe(true);
    expect(parsed.problems[0]).toMatch(/-1 became 0, 20 became 10/);
    expect(parseAxisValues('steps', '2.6').values).toEqual([3]);
  });

  it('refuses text that is not values, and too many values', () => {
    expect(parseAxisValues('self.q', 'a, b').ok).toBe(false);
    expect(parseAxisValues('self.q', '').ok).toBe(false);
    expect(parseAxisValues('self.q', '0..10 step 0.01').ok).toBe(false);
    expect(parseAxisValues('self.q', '0..2 step 0').ok).toBe(false);
  });

  it('names axes with their target', () => {
    expect(axisTitle({ kind: 'self.q', target: 'output' })).toBe('Self-attention q (output blocks)');
    expect(axisTitle({ kind: 'seed', target: 'all' })).toBe('Seed');
  });

  it('a cell keeps the shared seed unless an axis sets it', () => {
    const request = cellRequest(DEFAULT_SETTINGS, [], [
      { axis: { kind: 'cfg', target: 'all' }, value: 3 },
      { axis: { kind: 'steps', target: 'all' }, value: 9 },
    ]);
    expect(request.seed).toBe(DEFAULT_SETTINGS.seed);
    expect(request.cfg).toBe(3);
    expect(request.steps).toBe(9);
    expect(cellRequest(DEFAULT_SETTINGS, [], [{ axis: { kind: 'seed', target: 'all' }, value: 77 }]).seed).toBe(77);
  });
});

describe('multiplier slider scale', () => {
  it('spans 0 to 10 with 1 in the middle', () => {
    expect(positionToMultiplier(0)).toBe(0);
    expect(positionToMultiplier(SLIDER_POSITIONS / 2)).toBe(1);
    expect(positionToMultiplier(SLIDER_POSITIONS)).toBe(10);
  });

  it('is finer near 1 than near 10', () => {
    const nearOne = positionToMultiplier(SLIDER_POSITIONS / 2 + 50) - 1;
    const nearTen = 10 - positionToMultiplier(SLIDER_POSITIONS - 50);
    expect(nearOne).toBeLessThan(0.2);
    expect(nearTen).toBeGreaterThan(1.5);
  });

  it('is monotonic and maps values back to nearby positions', () => {
    let previous = -1;
    for (let p = 0; p <= SLIDER_POSITIONS; p++) {
      const v = positionToMultiplier(p);
      expect(v).toBeGreaterThanOrEqual(previous);
      previous = v;
    }
    for (const v of [0, 0.25, 0.5, 0.99, 1, 1.01, 1.5, 2, 5, 9.99, 10]) {
      expect(Math.abs(positionToMultiplier(multiplierToPosition(v)) - v)).toBeLessThan(0.05);
    }
  });
});
