import { describe, expect, it } from 'vitest';
import { buildSiteTable, STEERING_CONTROLS, type AttentionSite } from '../src/engine';
import {
  DEFAULT_SETTINGS,
  label,
  parseSettings,
  rulesWithOverrides,
  serializeSettings,
  settingsRules,
  toGenerateRequest,
  withModelDefaults,
  type Settings,
} from '../src/app/state/settings-schema';

const changed: Settings = {
  ...DEFAULT_SETTINGS,
  model: 'hf:stabilityai/sd-turbo@main',
  width: 512,
  height: 768,
  prediction: 'v_prediction',
  backend: 'onnxruntime',
  decoder: 'taesd',
  prompt: 'a red heart, glossy & bright?',
  negative: 'blurry',
  seed: 123456789,
  steps: 12,
  sampler: 'dpmpp2m',
  cfg: 6.5,
  self: { q: 1.37, k: 1, v: 0.25, out: 10 },
  cross: { q: 0, k: 1, v: 1, out: 2.5 },
  target: 'output_blocks.4',
  selfRange: { start: 0.2, end: 0.8 },
  crossRange: { start: 0, end: 0.5 },
  clip: { q: 1.5, k: 1, v: 0.5, out: 1 },
  clipRange: { start: 0.25, end: 1 },
  freeu: { on: true, version: 2, b1: 1.5, b2: 1.25, s1: 0.5, s2: 0.3 },
  freeuRange: { start: 0.2, end: 0.75 },
  compare: true,
  map: { kind: 'point', x: 0.42, y: 0.61, site: 'up_blocks.1.attentions.0.transformer_blocks.0.attn1' },
  mapOpacity: 0.35,
  mapStep: 3,
};

describe('settings in the URL', () => {
  it('reads back exactly what it wrote', () => {
    const query = serializeSettings(changed);
    const parsed = parseSettings(query);
    expect(parsed.settings).toEqual(changed);
    expect(parsed.notices).toEqual([]);
    // Settings the link leaves out at their default (the text encoder's, here) are not given.
    const omitted = STEERING_CONTROLS.flatMap((c) => c.linkFields).filter((f) => f.omit?.((changed as unknown as Record<string, unknown>)[f.key]));
    expect(parsed.given.size).toBe(Object.keys(changed).length - omitted.length);
  });

  it('writes a step range as start..end, and none over all steps', () => {
    expect(serializeSettings(changed)).toContain('selfrange=0.2..0.8');
    expect(serializeSettings(changed)).toContain('clip=1.5,1,0.5,1&cliprange=0.25..1');
    expect(serializeSettings(DEFAULT_SETTINGS)).not.toMatch(/range=/);
    expect(parseSettings('?crossrange=0.9..0.1').notices).toEqual(['Swapped Cross-attention steps 0.9..0.1: the start comes first (0.1..0.9).']);
  });

  it('names the backend only when it is not our engine, and refuses unknown ones', () => {
    expect(serializeSettings(changed)).toContain('backend=onnxruntime');
    expect(serializeSettings(DEFAULT_SETTINGS)).not.toContain('backend');
    const parsed = parseSettings('?backend=tensorflow');
    expect(parsed.settings.backend).toBe('webgpu');
    expect(parsed.notices).toEqual(['Ignored unknown backend "tensorflow": expected webgpu or onnxruntime.']);
  });

  it('names unknown parameters, and leaves the XY plot\'s own (xy) to it', () => {
    const parsed = parseSettings('?seed=3&foo=1&xy=seed:1,2;none');
    expect(parsed.settings.seed).toBe(3);
    expect(parsed.notices).toEqual(['Ignored unknown URL parameter: foo.']);
  });

  it('writes multipliers readably', () => {
    expect(serializeSettings(changed)).toContain('self=1.37,1,0.25,10');
  });

  it('an empty query gives the defaults and no notices', () => {
    const parsed = parseSettings('');
    expect(parsed.settings).toEqual(DEFAULT_SETTINGS);
    expect(parsed.notices).toEqual([]);
    expect(parsed.given.size).toBe(0);
  });

  it('clamps out-of-range numbers and says so', () => {
    const parsed = parseSettings('?steps=5000&cfg=-3&seed=99999999999&self=12,1,-1,1');
    expect(parsed.settings.steps).toBe(100);
    expect(parsed.settings.cfg).toBe(1);
    expect(parsed.settings.seed).toBe(2 ** 32 - 1);
    expect(parsed.settings.self).toEqual({ q: 10, k: 1, v: 0, out: 1 });
    expect(parsed.notices).toHaveLength(5);
    expect(parsed.notices).toContain('Clamped Steps 5000 to 100 (allowed 1–100).');
  });

  it('ignores malformed values, keeps the rest, and names each one', () => {
    const parsed = parseSettings('?seed=abc&steps=0x10&sampler=plms&self=1,2&cross=1,x,1,1&target=../../etc&compare=yes&prompt=ok&bogus=1');
    expect(parsed.settings.seed).toBe(DEFAULT_SETTINGS.seed);
    expect(parsed.settings.steps).toBe(DEFAULT_SETTINGS.steps);
    expect(parsed.settings.sampler).toBe(DEFAULT_SETTINGS.sampler);
    expect(parsed.settings.self).toEqual(DEFAULT_SETTINGS.self);
    expect(parsed.settings.cross).toEqual({ q: 1, k: 1, v: 1, out: 1 });
    expect(parsed.settings.target).toBe('all');
    expect(parsed.settings.compare).toBe(false);
    expect(parsed.settings.prompt).toBe('ok');
    expect(parsed.notices).toHaveLength(8);
    expect(parsed.given.has('seed')).toBe(false);
    expect(parsed.given.has('prompt')).toBe(true);
  });

  it('rounds seeds and steps to whole numbers and multipliers to hundredths', () => {
    const parsed = parseSettings('?seed=7.6&steps=3.2&cross=1.2345,1,1,1');
    expect(parsed.settings.seed).toBe(8);
    expect(parsed.settings.steps).toBe(3);
    expect(parsed.settings.cross.q).toBe(1.23);
    expect(parsed.notices).toHaveLength(2);
  });

  it('cuts a huge prompt and drops control characters', () => {
    const parsed = parseSettings(`?prompt=${'a'.repeat(2000)}&neg=x%00y`);
    expect(parsed.settings.prompt).toHaveLength(500);
    expect(parsed.settings.negative).toBe('x y');
    expect(parsed.notices).toHaveLength(1);
  });

  it('cuts a long prompt between characters, never inside an emoji, and the cut prompt round-trips', () => {
    const emoji = '👩‍👩‍👧'; // 8 UTF-16 units: surrogate pairs joined by zero-width joiners
    const parsed = parseSettings(`?prompt=${encodeURIComponent('a'.repeat(495) + emoji.repeat(3))}`);
    expect(parsed.settings.prompt).toBe('a'.repeat(495));
    expect(parsed.notices).toEqual(['Prompt cut to 500 characters.']);
    const long = parseSettings(`?prompt=${encodeURIComponent('😀'.repeat(400))}`).settings;
    expect(long.prompt).toBe('😀'.repeat(250));
    expect(parseSettings(serializeSettings(long)).settings).toEqual(long);
  });

  it('a key given twice keeps the first value and says so', () => {
    const parsed = parseSettings('?seed=1&seed=2&prompt=cat');
    expect(parsed.settings.seed).toBe(1);
    expect(parsed.notices).toEqual(['The link gives seed 2 times; using the first (1).']);
  });

  it('accepts part targets, ComfyUI blocks and diffusers paths only', () => {
    for (const ok of ['all', 'input', 'middle', 'output', 'input_blocks.1', 'middle_block', 'up_blocks.1.attentions.2.transformer_blocks.0.attn1']) {
      expect(parseSettings(`?target=${ok}`).settings.target).toBe(ok);
    }
    for (const bad of ['everything', 'output_blocks', 'up_blocks.1', '<script>']) {
      const parsed = parseSettings(`?target=${encodeURIComponent(bad)}`);
      expect(parsed.settings.target).toBe('all');
      expect(parsed.notices).toHaveLength(1);
    }
  });

  it('never throws on junk', () => {
    for (const junk of ['?%', '?self=,,,', '?cfg=&steps=', '?seed=1e400', '?=&=&&', '?prompt=%E0%A4%A', '?self=NaN,Infinity,-0,1']) {
      expect(() => parseSettings(junk)).not.toThrow();
    }
    expect(parseSettings('?seed=1e400').settings.seed).toBe(2 ** 32 - 1);
  });
});

describe('model defaults', () => {
  it('fill only the settings the URL did not give', () => {
    const parsed = parseSettings('?steps=8');
    const settings = withModelDefaults(parsed.settings, { sampler: 'ddim', steps: 25, cfg: 7, prompt: 'a dog' }, parsed.given);
    expect(settings.steps).toBe(8);
    expect(settings.sampler).toBe('ddim');
    expect(settings.cfg).toBe(7);
    expect(settings.prompt).toBe('a dog');
  });
});

const sites: AttentionSite[] = [
  { index: 0, kind: 'attn1', path: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1', comfyBlock: 'input_blocks.1', part: 'input', resolution: '32×32' },
  { index: 1, kind: 'attn2', path: 'down_blocks.0.attentions.0.transformer_blocks.0.attn2', comfyBlock: 'input_blocks.1', part: 'input', resolution: '32×32' },
  { index: 2, kind: 'attn1', path: 'mid_block.attentions.0.transformer_blocks.0.attn1', comfyBlock: 'middle_block', part: 'middle', resolution: '8×8' },
  { index: 3, kind: 'attn2', path: 'mid_block.attentions.0.transformer_blocks.0.attn2', comfyBlock: 'middle_block', part: 'middle', resolution: '8×8' },
  { index: 4, kind: 'attn1', path: 'up_blocks.1.attentions.0.transformer_blocks.0.attn1', comfyBlock: 'output_blocks.3', part: 'output', resolution: '32×32' },
];

describe('settings to a GenerateRequest', () => {
  it('has no rules when every multiplier is 1', () => {
    expect(toGenerateRequest(DEFAULT_SETTINGS).rules).toEqual([]);
  });

  it('makes one rule per attention type that is changed, on the target', () => {
    const settings: Settings = { ...DEFAULT_SETTINGS, self: { q: 2, k: 1, v: 1, out: 1 }, target: 'output' };
    expect(settingsRules(settings)).toEqual([{ kind: 'attn1', target: { part: 'output' }, multipliers: { q: 2, k: 1, v: 1, out: 1 } }]);
    expect(toGenerateRequest({ ...settings, target: 'middle_block' }).rules[0].target).toEqual({ path: 'middle_block' });
    expect(toGenerateRequest(settings, { neutral: true }).rules).toEqual([]);
  });

  it('an XY override changes one factor on its sites and keeps the others as the settings set them', () => {
    const settings: Settings = { ...DEFAULT_SETTINGS, self: { q: 2, k: 1, v: 0.5, out: 1 }, target: 'input' };
    const rules = rulesWithOverrides(settings, [{ which: 'self', part: 'k', target: 'all', value: 3 }], sites);
    expect(rules).toEqual([
      { kind: 'attn1', target: { path: sites[0].path }, multipliers: { q: 2, k: 3, v: 0.5, out: 1 } },
      { kind: 'attn1', target: { path: sites[2].path }, multipliers: { q: 1, k: 3, v: 1, out: 1 } },
      { kind: 'attn1', target: { path: sites[4].path }, multipliers: { q: 1, k: 3, v: 1, out: 1 } },
    ]);
    // What the engine makes of them: each site's factors once, never the settings' twice.
    const row = (index: number) => Array.from(buildSiteTable(sites, { rules }).slice(index * 4, index * 4 + 4));
    expect([row(0), row(1), row(2), row(4)]).toEqual([[2, 3, 0.5, 1], [1, 1, 1, 1], [1, 3, 1, 1], [1, 3, 1, 1]]);
  });

  it('an XY cell at the page’s own value renders what the page renders', () => {
    const settings: Settings = { ...DEFAULT_SETTINGS, self: { q: 1.5, k: 0.5, v: 2, out: 1 }, cross: { q: 1, k: 1, v: 1, out: 0.5 }, target: 'output' };
    const page = buildSiteTable(sites, toGenerateRequest(settings));
    for (const override of [{ which: 'self', part: 'k', target: 'output', value: 0.5 }, { which: 'cross', part: 'q', target: 'all', value: 1 }] as const) {
      expect(buildSiteTable(sites, { rules: rulesWithOverrides(settings, [override], sites) })).toEqual(page);
    }
    // An override on other sites leaves the settings' rule as it was.
    expect(rulesWithOverrides(settings, [{ which: 'self', part: 'q', target: 'middle', value: 3 }], sites)[0]).toEqual(settingsRules(settings)[0]);
  });
});

describe('steering controls bring their own settings', () => {
  it('every link field of every control is a setting, with its default, label and parameter', async () => {
    const { STEERING_CONTROLS } = await import('../src/engine');
    const query = new URLSearchParams(serializeSettings(DEFAULT_SETTINGS));
    for (const field of STEERING_CONTROLS.flatMap((c) => c.linkFields)) {
      expect(DEFAULT_SETTINGS[field.key as keyof Settings]).toEqual(field.default);
      expect(label(field.key as keyof Settings)).toBe(field.label);
      expect(query.get(field.param)).toBe(field.omit?.(field.default) || field.omitAtDefault ? null : field.write(field.default));
    }
  });
});

describe('FreeU in the link', () => {
  it('is left out while off, and its factors, version and step range read back', () => {
    expect(serializeSettings(DEFAULT_SETTINGS)).not.toMatch(/freeu/);
    const on: Settings = { ...DEFAULT_SETTINGS, freeu: { on: true, version: 1, b1: 1.3, b2: 1.2, s1: 0.9, s2: 0.2 }, freeuRange: { start: 0, end: 0.5 } };
    const query = serializeSettings(on);
    expect(query).toContain('freeu=v1,1.3,1.2,0.9,0.2');
    expect(query).toContain('freeurange=0..0.5');
    expect(parseSettings(query).settings.freeu).toEqual(on.freeu);
    expect(toGenerateRequest(on).freeu).toEqual({ version: 1, b1: 1.3, b2: 1.2, s1: 0.9, s2: 0.2, range: { start: 0, end: 0.5 } });
    expect(toGenerateRequest(on, { neutral: true }).freeu).toBeUndefined();
    expect(toGenerateRequest(DEFAULT_SETTINGS).freeu).toBeUndefined();
  });

  it('takes a version alone as its defaults, and repairs bad values with a notice', () => {
    expect(parseSettings('?freeu=v2').settings.freeu).toEqual({ on: true, version: 2, b1: 1.3, b2: 1.4, s1: 0.9, s2: 0.2 });
    const clamped = parseSettings('?freeu=v1,12,1,x,0.5');
    expect(clamped.settings.freeu).toEqual({ on: true, version: 1, b1: 10, b2: 1, s1: 0.9, s2: 0.5 });
    expect(clamped.notices).toEqual(['Clamped FreeU b1 12 to 10 (allowed 0–10).', 'Ignored invalid FreeU s1 "x": not a number.']);
    const bad = parseSettings('?freeu=v3,1,1,1,1');
    expect(bad.settings.freeu.on).toBe(false);
    expect(bad.notices[0]).toMatch(/Ignored invalid FreeU "v3,1,1,1,1"/);
  });
});

describe('attention maps in the link', () => {
  const read = (query: string) => parseSettings(query);
  it('is left out while no map is shown, and names the token or the point, block, opacity and step', () => {
    expect(serializeSettings(DEFAULT_SETTINGS)).not.toMatch(/map/);
    const token = serializeSettings({ ...DEFAULT_SETTINGS, map: { kind: 'token', index: 3 } });
    expect(token).toContain('map=token:3');
    expect(read(token).settings.map).toEqual({ kind: 'token', index: 3 });
    const point = serializeSettings({ ...DEFAULT_SETTINGS, map: { kind: 'point', x: 0.42, y: 0.61, site: 'mid_block' }, mapOpacity: 0.8, mapStep: 2 });
    expect(point).toMatch(/map=point:0\.42,0\.61(&|$)/);
    expect(point).toContain('mapo=0.8');
    expect(point).toContain('mapstep=2');
    expect(read('?map=point:0.42,0.61@mid_block').settings.map).toEqual({ kind: 'point', x: 0.42, y: 0.61, site: 'mid_block' });
  });

  it('asks the engine for DAAM maps for a token, a point map for a point, nothing otherwise', () => {
    expect(toGenerateRequest(DEFAULT_SETTINGS).attentionMaps).toBeUndefined();
    expect(toGenerateRequest({ ...DEFAULT_SETTINGS, map: { kind: 'token', index: 5 } }).attentionMaps).toEqual({ crossAttention: true });
    const point = toGenerateRequest({ ...DEFAULT_SETTINGS, map: { kind: 'point', x: 0.5, y: 0.25, site: 'mid_block' }, mapStep: 4 });
    expect(point.attentionMaps).toEqual({ selfAttention: { site: 'mid_block', x: 0.5, y: 0.25, step: 3 } });
    expect(toGenerateRequest({ ...DEFAULT_SETTINGS, map: { kind: 'token', index: 5 } }, { neutral: true }).attentionMaps).toBeUndefined();
  });

  it('repairs bad map values with a notice', () => {
    const parsed = read('?map=point:2,-1&mapo=3&mapstep=0');
    expect(parsed.settings.map).toEqual({ kind: 'point', x: 1, y: 0, site: 'mid_block' });
    expect(parsed.settings.mapOpacity).toBe(1);
    expect(parsed.settings.mapStep).toBe(1);
    expect(parsed.notices.length).toBe(4);
    expect(read('?map=token:x').notices[0]).toMatch(/invalid attention map "token:x"/);
  });
});
