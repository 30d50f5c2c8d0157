// 12,000 links as visitors and broken shares produce them: known keys with valid, odd and hostile
// values, repeated keys, unknown keys, broken escapes, long and emoji-heavy prompts. Every one must
// parse without throwing into settings inside their limits, and the link written from them must
// read back to the same settings with no notice.
import { describe, expect, it } from 'vitest';
import { LIMITS, LINK_KEYS, isValidTarget, parseSettings, serializeSettings, type Settings } from '../src/app/state/settings-schema';
import { parseModelRef } from '../src/app/models/model-source';
import { BACKEND_NAMES, DECODER_CHOICES, SAMPLER_NAMES } from '../src/engine';
import { PREDICTION_TYPES } from '../src/engine/weights/prediction-type';
import { rng } from './support/random';


const KEYS = ['model', 'w', 'h', 'pred', 'dec', 'backend', 'prompt', 'neg', 'seed', 'steps', 'sampler', 'cfg', 'self', 'cross', 'target', 'compare', 'selfrange', 'crossrange', 'clip', 'cliprange', 'freeu', 'freeurange', 'pag', 'pagt', 'pagr', 'map', 'mapo', 'mapstep', 'xy', 'bogus', ''];
const MAPS = ['none', 'token:0', 'token:3', 'token:76', 'token:77', 'token:-1', 'token:x', 'point:0.42,0.61', 'point:0.42,0.61@mid_block', 'point:1,0@up_blocks.1.attentions.0.transformer_blocks.0.attn1', 'point:2,-1', 'point:0.5', 'point:a,b', 'point:0.1,0.2@<b>', 'point:0.0005,1e-9@mid_block', 'POINT:0,0', ''];
const SIZES = ['64', '512', '768', '63', '8', '7', '2048', '2056', '4096', '-64', '1e3', '0x40', '64.5', ''];
const MODELS = ['emoji-64', 'hf:stabilityai/sd-turbo@main', 'hf:a/b@refs/pr/1', 'hf:a/b', 'hf:../b@main', 'hf:a/b@..', 'file:dreamshaper.safetensors@0123456789abcdef', 'folder:my model@0123456789abcdef', 'file:a/b@0123456789abcdef', 'file:x@0123', 'https://example.com/x', '<img src=x>'];
const PREDICTIONS = [...PREDICTION_TYPES, '', 'sample', 'V_PREDICTION', '__proto__'];
const NUMBERS = ['0', '1', '-1', '1.5', '1e400', '-0', 'NaN', 'Infinity', '0x10', '  7 ', '1,5', '', '99999999999', '4294967296', '2.675'];
const TEXTS = ['cat', '<script>alert(1)</script>', '%', '%E0%A4%A', '😀'.repeat(300), 'a'.repeat(600), '\u0000\u001f', '👩‍👩‍👧 '.repeat(80), '&amp;', 'é'.normalize('NFD').repeat(300)];

function randomLink(rand: () => number): string {
  const pick = <T,>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
  const parts: string[] = [];
  for (let i = 0, n = Math.floor(rand() * 10); i < n; i++) {
    const key = pick(KEYS);
    let value: string;
    if (key.endsWith('range') || key === 'pagr') value = rand() < 0.8 ? `${pick(NUMBERS)}..${pick(NUMBERS)}` : pick([...NUMBERS, '0..1..2', '..', '0.5.']);
    else if (key === 'self' || key === 'cross' || key === 'clip') value = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(NUMBERS)).join(',');
    else if (['seed', 'steps', 'cfg', 'compare', 'pag'].includes(key)) value = pick(NUMBERS);
    else if (key === 'sampler') value = pick([...SAMPLER_NAMES, 'heun', '']);
    else if (key === 'w' || key === 'h') value = pick([...SIZES, ...NUMBERS]);
    else if (key === 'model') value = pick([...MODELS, ...TEXTS]);
    else if (key === 'pred') value = pick(PREDICTIONS);
    else if (key === 'backend') value = pick([...BACKEND_NAMES, 'cuda', 'WEBGPU', '']);
    else if (key === 'dec') value = pick([...DECODER_CHOICES, 'TAESD', 'vae2', '']);
    else if (key === 'freeu') value = pick(['off', 'v1', 'v2', 'v3', 'V1', '', `v${pick(['1', '2'])},${Array.from({ length: 3 + Math.floor(rand() * 3) }, () => pick(NUMBERS)).join(',')}`]);
    else if (key === 'freeurange') value = pick(['0..1', '0.2..0.8', '0.8..0.2', '0.5', '..', '-1..2', `${pick(NUMBERS)}..${pick(NUMBERS)}`]);
    else if (key === 'map') value = pick(MAPS);
    else if (key === 'mapo' || key === 'mapstep') value = pick([...NUMBERS, 'all', '0.35']);
    else if (key === 'target' || key === 'pagt') value = pick(['all', 'output', 'input_blocks.4', 'middle_block', 'up_blocks.1', '<b>']);
    else value = pick(TEXTS);
    // Sometimes raw (broken escapes stay broken), usually escaped as a browser would.
    parts.push(`${key}=${rand() < 0.2 ? value : encodeURIComponent(value)}`);
  }
  return `?${parts.join('&')}`;
}

function expectWithinLimits(s: Settings): void {
  expect(Number.isInteger(s.seed) && s.seed >= LIMITS.seed.min && s.seed <= LIMITS.seed.max).toBe(true);
  expect(Number.isInteger(s.steps) && s.steps >= LIMITS.steps.min && s.steps <= LIMITS.steps.max).toBe(true);
  expect(s.cfg >= LIMITS.cfg.min && s.cfg <= LIMITS.cfg.max).toBe(true);
  for (const r of [s.selfRange, s.crossRange, s.clipRange]) expect(r.start >= 0 && r.start <= r.end && r.end <= 1, JSON.stringify(r)).toBe(true);
  for (const m of [s.self, s.cross, s.clip]) for (const v of Object.values(m)) expect(v >= LIMITS.multiplier.min && v <= LIMITS.multiplier.max).toBe(true);
  for (const v of [s.freeu.b1, s.freeu.b2, s.freeu.s1, s.freeu.s2]) expect(v >= 0 && v <= 10).toBe(true);
  expect([1, 2]).toContain(s.freeu.version);
  expect(s.freeuRange.start >= 0 && s.freeuRange.start <= s.freeuRange.end && s.freeuRange.end <= 1).toBe(true);
  expect(SAMPLER_NAMES).toContain(s.sampler);
  expect(isValidTarget(s.target)).toBe(true);
  expect(isValidTarget(s.pagTarget)).toBe(true);
  expect(s.pag >= 0 && s.pag <= 10).toBe(true);
  expect(s.pagRange.start >= 0 && s.pagRange.start < s.pagRange.end && s.pagRange.end <= 1, JSON.stringify(s.pagRange)).toBe(true);
  for (const size of [s.width, s.height]) expect(Number.isInteger(size) && size >= LIMITS.size.min && size <= LIMITS.size.max && size % LIMITS.size.multiple === 0, `size ${size}`).toBe(true);
  expect(parseModelRef(s.model), s.model).toBeDefined();
  expect(['', ...PREDICTION_TYPES]).toContain(s.prediction);
  expect(BACKEND_NAMES).toContain(s.backend);
  expect(DECODER_CHOICES).toContain(s.decoder);
  expect(s.mapOpacity >= 0 && s.mapOpacity <= 1).toBe(true);
  expect(Number.isInteger(s.mapStep) && s.mapStep >= 0 && s.mapStep <= 150).toBe(true);
  if (s.map.kind === 'point') expect(s.map.x >= 0 && s.map.x <= 1 && s.map.y >= 0 && s.map.y <= 1).toBe(true);
  if (s.map.kind === 'token') expect(Number.isInteger(s.map.index) && s.map.index >= 0 && s.map.index < 77).toBe(true);
  for (const text of [s.prompt, s.negative]) {
    expect(text.length).toBeLessThanOrEqual(LIMITS.promptLength);
    expect(text).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/); // no lone surrogate
  }
}

describe('fuzzed links', () => {
  it('every link key the settings schema reads is among those tried', () => {
    // A key added to the schema (or to a steering control's link fields) fails here until the fuzzer tries it.
    expect(LINK_KEYS).toContain('w');
    expect(LINK_KEYS).toContain('self');
    for (const key of LINK_KEYS) expect(KEYS, key).toContain(key);
  });

  it('12,000 links parse into valid settings, and what they show writes a link that reads back the same', () => {
    for (let n = 0; n < 12_000; n++) {
      const link = randomLink(rng(n + 1));
      let parsed!: ReturnType<typeof parseSettings>;
      expect(() => (parsed = parseSettings(link)), link).not.toThrow();
      expectWithinLimits(parsed.settings);
      const again = parseSettings(serializeSettings(parsed.settings));
      expect(again.settings, link).toEqual(parsed.settings);
      expect(again.notices, link).toEqual([]);
    }
  });
});
