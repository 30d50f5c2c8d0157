import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../src/app/state/settings-schema';
import { axisTitle, cellRequest, parseAxisValues, parseXYAxes, readXYAxes, serializeXYAxes, type XYAxes } from '../src/app/state/xy-axes';
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

describe('XY axes in the URL', () => {
  it('round-trips a grid, with a target only where a multiplier axis has one', () => {
    const grids: XYAxes[] = [
      { x: { kind: 'self.q', target: 'all', values: [0.2, 1, 3] }, y: { kind: 'cross.out', target: 'output', values: [0, 1, 2] } },
      { x: { kind: 'seed', target: 'all', values: [4294967295, 0] }, y: { kind: 'none', target: 'all', values: [] } },
      { x: { kind: 'cfg', target: 'all', values: [1, 7.5] }, y: { kind: 'self.v', target: 'input_blocks.4', values: [0.5] } },
    ];
    expect(grids.map(serializeXYAxes)).toEqual(['self.q:0.2,1,3;cross.out@output:0,1,2', 'seed:4294967295,0;none', 'cfg:1,7.5;self.v@input_blocks.4:0.5']);
    for (const grid of grids) expect(parseXYAxes(serializeXYAxes(grid))).toEqual({ axes: grid, notices: [] });
  });

  it('is read from the `xy` parameter of a query, which may be absent', () => {
    expect(readXYAxes('?seed=3&xy=seed:1,2;none').axes).toEqual({ x: { kind: 'seed', target: 'all', values: [1, 2] }, y: { kind: 'none', target: 'all', values: [] } });
    expect(readXYAxes('?xy=self.q%40output%3A0.5%2C1%3Bnone').axes?.x).toEqual({ kind: 'self.q', target: 'output', values: [0.5, 1] });
    expect(readXYAxes('?seed=3')).toEqual({ notices: [] });
  });

  it('clamps values as the dialog does, and says so', () => {
    const parsed = parseXYAxes('self.q:0.5,20;steps:2.6');
    expect(parsed.axes?.x.values).toEqual([0.5, 10]);
    expect(parsed.axes?.y).toEqual({ kind: 'steps', target: 'all', values: [3] });
    expect(parsed.notices.join(' ')).toMatch(/X axis: .*20 became 10.*Y axis: .*2\.6 became 3/);
  });

  it('drops what it cannot use, with a notice that names it', () => {
    const refused = (text: string) => {
      const parsed = parseXYAxes(text);
      expect(parsed.axes).toBeUndefined();
      expect(parsed.notices).toHaveLength(1);
      return parsed.notices[0];
    };
    expect(refused('self.q:1,2')).toMatch(/expected two axes/);
    expect(refused('none;self.q:1')).toMatch(/X axis cannot be None/);
    expect(refused('self.z:1;none')).toMatch(/X axis "self.z:1" is not/);
    expect(refused('self.q@nowhere:1;none')).toMatch(/unknown target "nowhere"/);
    expect(refused('seed@output:1;none')).toMatch(/unknown target/);
    expect(refused('self.q:a,b;none')).toMatch(/X values: Not a number/);
    expect(refused('self.q:;none')).toMatch(/X values/);
    expect(refused('seed:1,2,3,4,5,6,7,8,9,10;cfg:1,2,3,4,5,6,7,8,9,10,11')).toMatch(/110 cells; at most 100/);
    expect(refused(`${'x'.repeat(200)}`)).toMatch(/…"\)/);
  });
});

describe('FreeU as an XY axis', () => {
  it('reads freeu.b1 from a link, and its cells turn FreeU on with that factor', () => {
    const { axes, notices } = parseXYAxes('freeu.b1:1,1.5;freeu.s2:0.2,1');
    expect(notices).toEqual([]);
    expect(serializeXYAxes(axes!)).toBe('freeu.b1:1,1.5;freeu.s2:0.2,1');
    const request = cellRequest(DEFAULT_SETTINGS, [], [
      { axis: axes!.x, value: 1.5 },
      { axis: axes!.y, value: 0.2 },
    ]);
    expect(request.freeu).toEqual({ version: 1, b1: 1.5, b2: 1.2, s1: 0.9, s2: 0.2 });
    expect(cellRequest(DEFAULT_SETTINGS, [], [{ axis: { kind: 'seed', target: 'all' }, value: 3 }]).freeu).toBeUndefined();
  });
});
