// Presets of one's own (src/app/state/user-presets.ts).
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../src/app/state/settings-schema';
import { applyUserPreset, exportJson, matchingUserPreset, parseImport, presetQuery, renamed, withPreset } from '../src/app/state/user-presets';

const mine = { ...DEFAULT_SETTINGS, prompt: 'blue whale', seed: 3, steps: 4, cfg: 2.5, self: { q: 1.4, k: 1, v: 1, out: 1 }, target: 'output' };

describe('presets of one’s own', () => {
  it('keep the image’s settings, not the model, its size, the backend or view', () => {
    const query = presetQuery({ ...mine, backend: 'onnxruntime', compare: true, width: 512, height: 768, prediction: 'v_prediction' });
    expect(query).toBe('?prompt=blue+whale&neg=&seed=3&steps=4&sampler=euler&cfg=2.5&self=1.4,1,1,1&cross=1,1,1,1&target=output&clip=1,1,1,1&pag=0&pagt=middle');
    const applied = applyUserPreset({ ...DEFAULT_SETTINGS, compare: true }, { name: 'whale', query });
    expect(applied.settings).toEqual({ ...mine, compare: true });
    expect(applied.notices).toEqual([]);
    expect(matchingUserPreset(mine, [{ name: 'other', query: '?seed=9' }, { name: 'whale', query }])?.name).toBe('whale');
    expect(matchingUserPreset(DEFAULT_SETTINGS, [{ name: 'whale', query }])).toBeUndefined();
  });

  it('are saved, renamed and deleted by name', () => {
    let list = withPreset([], { name: 'a', query: '?seed=1' });
    list = withPreset(list, { name: 'b', query: '?seed=2' });
    list = withPreset(list, { name: 'a', query: '?seed=3' });
    expect(list).toEqual([{ name: 'a', query: '?seed=3' }, { name: 'b', query: '?seed=2' }]);
    expect(renamed(list, 'a', '  c\n')).toEqual([{ name: 'c', query: '?seed=3' }, { name: 'b', query: '?seed=2' }]);
    expect(renamed(list, 'a', 'b')).toEqual([{ name: 'b', query: '?seed=3' }]);
    expect(list.filter((p) => p.name !== 'b')).toEqual([{ name: 'a', query: '?seed=3' }]);
  });

  it('export and import as JSON, and a bad file is named with its field', () => {
    const list = [{ name: 'whale', query: presetQuery(mine) }];
    expect(parseImport(exportJson(list), 'presets.json')).toEqual(list);
    expect(() => parseImport('{', 'x.json')).toThrow(/x.json is not JSON/);
    expect(() => parseImport('{"presets": []}', 'x.json')).toThrow(/not an Attention Lab presets file/);
    expect(() => parseImport('{"format": "attention-lab-presets", "presets": [{"name": "", "query": "?a"}]}', 'x.json')).toThrow('x.json: presets[0].name');
    expect(() => parseImport('{"format": "attention-lab-presets", "presets": [{"name": "a", "query": 3}]}', 'x.json')).toThrow('x.json: presets[0].query');
  });

  it('repair what a link would repair, with a notice that names the preset', () => {
    const applied = applyUserPreset(DEFAULT_SETTINGS, { name: 'old', query: '?steps=999&seed=5' });
    expect(applied.settings.steps).toBe(100);
    expect(applied.settings.seed).toBe(5);
    expect(applied.notices[0]).toMatch(/^Preset “old”: Clamped Steps/);
  });
});
