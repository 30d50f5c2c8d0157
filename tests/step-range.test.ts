// Step ranges: the link and XY form every control shares (steering/step-range-setting.ts), the
// multipliers' per-step site table, and the text encoder's per-step embeddings, on the fixture pipeline.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import { denoise } from '../src/engine/sampling/denoise';
import { createScheduler, parseSchedulerConfig } from '../src/engine/sampling/schedulers';
import { PromptTokenizer } from '../src/engine/nn/tokenizer';
import { gaussianNoise } from '../src/engine/sampling/noise';
import {
  MULTIPLIER_STEP_RANGES,
  attentionMultipliers,
  buildSiteTable,
  isStepInRange,
  parseStepRange,
  siteTablesPerStep,
  stepRangeSetting,
  type GenerateRequest,
  type MultiplierRule,
  type MultiplierSettings,
} from '../src/engine';
import { neutralSiteTable } from '../src/engine/nn/unet-sites';
import { fixturePipelineFolder } from './support/fixture-pipeline';
import { relError, testGpu } from './support/gpu';

const RULES: MultiplierRule[] = [
  { kind: 'attn1', target: { all: true }, multipliers: { q: 2, k: 1.5, v: 0.5, out: 1.5 } },
  { kind: 'attn2', target: { all: true }, multipliers: { q: 1, k: 1, v: 3, out: 1 } },
];

describe('a step range in the link and the XY plot', () => {
  const setting = stepRangeSetting('self', 'Self-attention');

  it('reads and writes start..end, and leaves a full range out of the link', () => {
    const notices: string[] = [];
    expect(setting.field.param).toBe('selfrange');
    expect(setting.field.parse('0.2..0.8', setting.field.default, notices)).toEqual({ start: 0.2, end: 0.8 });
    expect(setting.field.write({ start: 0.2, end: 0.8 })).toBe('0.2..0.8');
    expect(setting.field.omit?.({ start: 0, end: 1 })).toBe(true);
    expect(setting.field.omit?.({ start: 0, end: 0.99 })).toBe(false);
    expect(notices).toEqual([]);
  });

  it('repairs what it can with a notice and ignores the rest', () => {
    const notices: string[] = [];
    expect(parseStepRange('0.8..0.2', 'Self-attention steps', notices)).toEqual({ start: 0.2, end: 0.8 });
    expect(parseStepRange('-1..2', 'Self-attention steps', notices)).toEqual({ start: 0, end: 1 });
    expect(parseStepRange('0.123..0.5', 'Self-attention steps', notices)).toEqual({ start: 0.12, end: 0.5 });
    for (const bad of ['', '0.2', '0.2..', '..0.5', 'a..b', '0.1..0.2..0.3', '0x1..1']) expect(parseStepRange(bad, 'Self-attention steps', notices), bad).toBeUndefined();
    expect(notices.length).toBeGreaterThanOrEqual(9);
    expect(notices[0]).toMatch(/Swapped Self-attention steps/);
  });

  it('acts where start ≤ i/N < end', () => {
    const range = { start: 0.25, end: 0.75 };
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => isStepInRange(range, i, 8))).toEqual([false, false, true, true, true, true, false, false]);
    expect([0, 1, 2, 3].map((i) => isStepInRange({ start: 0.5, end: 0.5 }, i, 4))).toEqual([false, false, false, false]);
  });

  it('gives the multipliers’ rules their set’s range, XY cells included', () => {
    const settings: MultiplierSettings = {
      self: { q: 2, k: 1, v: 1, out: 1 },
      cross: { q: 1, k: 1, v: 2, out: 1 },
      target: 'all',
      selfRange: { start: 0.2, end: 0.8 },
      crossRange: { start: 0, end: 1 },
    };
    const { rules } = attentionMultipliers.toRequest(settings, [], []) as { rules: MultiplierRule[] };
    expect(rules.map((r) => r.range)).toEqual([{ start: 0.2, end: 0.8 }, undefined]);
    const [, end] = MULTIPLIER_STEP_RANGES.cross.axes;
    const forced = attentionMultipliers.toRequest(settings, [{ axis: end, target: 'all', value: 0.5 }], []) as { rules: MultiplierRule[] };
    expect(forced.rules.map((r) => r.range)).toEqual([{ start: 0.2, end: 0.8 }, { start: 0, end: 0.5 }]);
  });
});

describe('the site table per step', () => {
  const sites = Array.from({ length: 4 }, (_, index) => ({ index, kind: index % 2 ? 'attn2' : 'attn1', path: `p${index}`, comfyBlock: 'b', part: 'input', resolution: '1' }) as const);

  it('is written once when no range is partial, and otherwise only when it changes', () => {
    const writes: Float32Array[] = [];
    expect(siteTablesPerStep(sites, { rules: RULES }, 8, (t) => writes.push(t))).toBeUndefined();
    expect(writes).toEqual([buildSiteTable(sites, { rules: RULES })]);

    writes.length = 0;
    const ranged = { rules: [{ ...RULES[0], range: { start: 0.25, end: 0.75 } }] };
    const before = siteTablesPerStep(sites, ranged, 8, (t) => writes.push(t))!;
    for (let i = 0; i < 8; i++) before(i);
    // Neutral at step 0, on at step 2, neutral again at step 6.
    expect(writes).toEqual([neutralSiteTable(sites), buildSiteTable(sites, { rules: [RULES[0]] }), neutralSiteTable(sites)]);
  });
});

let pipeline: DiffusionPipeline;
beforeAll(async () => {
  pipeline = await DiffusionPipeline.load(await testGpu(), fixturePipelineFolder());
});
vi.setConfig({ testTimeout: 20 * 60_000 });

describe('step ranges on the fixture pipeline', () => {
  const base: GenerateRequest = { prompt: 'a photo of a red cat', negativePrompt: 'blurry', seed: 42, steps: 4, sampler: 'euler', cfg: 5, rules: [] };
  let noise: Float32Array;
  let height = 0;
  let width = 0;
  beforeAll(() => {
    ({ height, width } = pipeline.latentSize);
    noise = gaussianNoise(42, pipeline.unetConfig.inChannels * height * width);
  });

  it('a range over all steps is the same bits as no range, and an empty range as no rules', async () => {
    const none = (await pipeline.sample(base, { noise })).latents;
    const rules = (await pipeline.sample({ ...base, rules: RULES }, { noise })).latents;
    const full = (await pipeline.sample({ ...base, rules: RULES.map((r) => ({ ...r, range: { start: 0, end: 1 } })) }, { noise })).latents;
    const empty = (await pipeline.sample({ ...base, rules: RULES.map((r) => ({ ...r, range: { start: 0.5, end: 0.5 } })) }, { noise })).latents;
    expect(relError(rules, none)).toBeGreaterThan(1e-2);
    expect(full).toEqual(rules);
    expect(empty).toEqual(none);
  });

  it('the GPU loop with a partial range equals the CPU loop with the tables written by hand, per step', async () => {
    const ranged = { ...base, rules: [{ ...RULES[0], range: { start: 0.5, end: 1 } }, { ...RULES[1], range: { start: 0, end: 0.25 } }] };
    const ours = (await pipeline.sample(ranged, { noise })).latents;
    const { cond, uncond, scheduler } = await handMade(base);
    const backend = pipeline.backend;
    const tables = [[RULES[1]], [], [RULES[0]], [RULES[0]]].map((rules) => buildSiteTable(backend.sites, { rules }));
    const expected = await denoise({ model: backend.predictor, scheduler, noise, height, width, cond, uncond, guidance: 5, loop: 'cpu', beforeStep: (i) => backend.setSiteTable(tables[i]) });
    expect(relError(ours, expected.latents)).toBeLessThanOrEqual(1e-5);
    expect(relError(ours, (await pipeline.sample(base, { noise })).latents)).toBeGreaterThan(1e-2);
  });

  it('the text encoder’s multipliers in a partial range: the steered embeddings in it, the plain ones outside', async () => {
    const factors = { q: 3, k: 1, v: 2, out: 0.5 };
    const before = pipeline.stats.textEncodings;
    const ours = (await pipeline.sample({ ...base, clip: { multipliers: factors, range: { start: 0, end: 0.5 } } }, { noise })).latents;
    expect(pipeline.stats.textEncodings - before).toBeLessThanOrEqual(2);
    const steered = await handMade(base, factors);
    const plain = await handMade(base);
    pipeline.backend.setSiteTable(neutralSiteTable(pipeline.backend.sites));
    const expected = await denoise({
      model: pipeline.backend.predictor,
      scheduler: steered.scheduler,
      noise,
      height,
      width,
      cond: steered.cond,
      uncond: steered.uncond,
      guidance: 5,
      loop: 'cpu',
      embeddingsAt: (i) => (i < 2 ? steered : plain),
    });
    expect(relError(ours, expected.latents)).toBeLessThanOrEqual(1e-5);
    const full = (await pipeline.sample({ ...base, clip: { multipliers: factors } }, { noise })).latents;
    const none = (await pipeline.sample(base, { noise })).latents;
    expect(relError(ours, full)).toBeGreaterThan(1e-3);
    expect(relError(ours, none)).toBeGreaterThan(1e-3);
    // Off again: the plain embeddings, nothing encoded.
    const encodings = pipeline.stats.textEncodings;
    expect((await pipeline.sample({ ...base, clip: { multipliers: { q: 1, k: 1, v: 1, out: 1 } } }, { noise })).latents).toEqual(none);
    expect(pipeline.stats.textEncodings).toBe(encodings);
  });
});

/** The request's embeddings and scheduler, made without the pipeline (encoded again: new GPU views). */
async function handMade(request: GenerateRequest, factors?: { q: number; k: number; v: number; out: number }) {
  const folder = fixturePipelineFolder();
  const tokenizer = await PromptTokenizer.load(folder, 'tokenizer', pipeline.contextLength);
  const length = pipeline.contextLength;
  const ids = new Int32Array(2 * length);
  [request.negativePrompt, request.prompt].forEach((t, i) => ids.set(tokenizer.encode(t), i * length));
  const [uncond, cond] = await pipeline.backend.encodeText(ids, 2, factors);
  const scheduler = createScheduler(request.sampler, parseSchedulerConfig(await folder.readJson('scheduler/scheduler_config.json')), request.steps);
  return { cond, uncond, scheduler };
}
