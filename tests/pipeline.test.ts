// The whole text-to-image pipeline on the fixture models: prompt → tokens → CLIP → UNet + scheduler
// with CFG → VAE → RGBA8, and what the playground relies on: determinism, live multipliers,
// cached text embeddings, progress and cancellation.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import type { GenerateRequest, RgbaImage } from '../src/engine';
import { fixturePipelineFolder } from './support/fixture-pipeline';
import { testGpu } from './support/gpu';

let pipeline: DiffusionPipeline;
const base: GenerateRequest = { prompt: 'a photo of a red cat', negativePrompt: 'blurry', seed: 42, steps: 2, sampler: 'euler', cfg: 5, rules: [] };

function differs(a: RgbaImage, b: RgbaImage): number {
  let n = 0;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) n++;
  return n;
}

beforeAll(async () => {
  pipeline = await DiffusionPipeline.load(await testGpu(), fixturePipelineFolder());
});
// Each generation runs the fixture UNet a few times; SwiftShader (a CPU) takes seconds per call.
vi.setConfig({ testTimeout: 20 * 60_000 });

describe('text-to-image pipeline on the fixture models', () => {
  it('describes the model: size from sample_size × VAE upscale, defaults, every attention site', () => {
    expect(pipeline.info).toMatchObject({ width: 32, height: 32, defaults: { sampler: 'euler', steps: 2, cfg: 5 } });
    // 2×2 down + 1 mid + 2×3 up transformer blocks, each with attn1 and attn2.
    expect(pipeline.info.sites.length).toBe(22);
  });

  it('renders a non-blank RGBA image, identical for identical settings, with progress after every step', async () => {
    const steps: number[] = [];
    const first = await pipeline.generate(base, { onProgress: (p) => steps.push(p.step) });
    expect(first.image.width).toBe(32);
    expect(first.image.data.length).toBe(32 * 32 * 4);
    expect(new Set(first.image.data.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(10);
    expect(steps).toEqual([1, 2]);
    const again = await pipeline.generate(base);
    expect(differs(first.image, again.image)).toBe(0);
  });

  it('changes with the seed and with the attention multipliers, without re-encoding the text; a new prompt and back again', async () => {
    const reference = await pipeline.generate(base);
    const encodings = pipeline.stats.textEncodings;
    const otherSeed = await pipeline.generate({ ...base, seed: 43 });
    const scaled = await pipeline.generate({ ...base, rules: [{ kind: 'attn2', target: { all: true }, multipliers: { q: 1, k: 1, v: 3, out: 1 } }] });
    expect(pipeline.stats.textEncodings).toBe(encodings);
    expect(differs(reference.image, otherSeed.image)).toBeGreaterThan(100);
    expect(differs(reference.image, scaled.image)).toBeGreaterThan(100);
    const dog = await pipeline.generate({ ...base, prompt: 'a blue dog' });
    expect(pipeline.stats.textEncodings).toBe(encodings + 1);
    expect(differs(reference.image, dog.image)).toBeGreaterThan(100);
    // Back to the first prompt: the UNet's context (and its cross-attention keys and values) is the
    // first prompt's again, not what the dog left.
    expect(differs(reference.image, (await pipeline.generate(base)).image)).toBe(0);
  });

  it('generates several seeds in one batch, each equal to its own single generation up to rounding', async () => {
    const [a, b] = await pipeline.generateBatch(base, [42, 43]);
    const singleA = await pipeline.generate(base);
    const singleB = await pipeline.generate({ ...base, seed: 43 });
    const maxDiff = (x: RgbaImage, y: RgbaImage) => x.data.reduce((m, v, i) => Math.max(m, Math.abs(v - y.data[i])), 0);
    expect(maxDiff(a.image, singleA.image)).toBeLessThanOrEqual(1);
    expect(maxDiff(b.image, singleB.image)).toBeLessThanOrEqual(1);
    expect(differs(a.image, b.image)).toBeGreaterThan(100);
  });

  it('runs every sampler, and CFG 1 (cond only)', async () => {
    for (const sampler of ['ddim', 'euler_a', 'dpmpp2m'] as const) {
      const result = await pipeline.generate({ ...base, sampler, steps: 1 });
      expect(result.image.data.length).toBe(32 * 32 * 4);
    }
    const unguided = await pipeline.generate({ ...base, cfg: 1, steps: 1 });
    expect(unguided.image.data.some((v) => v !== 255)).toBe(true);
  });

  it('cancels between steps', async () => {
    const controller = new AbortController();
    const run = pipeline.generate({ ...base, steps: 3 }, { signal: controller.signal, onProgress: () => controller.abort() });
    await expect(run).rejects.toThrow(/cancelled/);
    // The pipeline stays usable after a cancel.
    expect((await pipeline.generate({ ...base, steps: 1 })).image.width).toBe(32);
  });

  it('refuses out-of-range settings with a clear message', async () => {
    await expect(pipeline.generate({ ...base, steps: 0 })).rejects.toThrow(/steps/);
    await expect(pipeline.generate({ ...base, cfg: Number.NaN })).rejects.toThrow(/CFG/);
    await expect(pipeline.generate({ ...base, seed: -1 })).rejects.toThrow(/seed/);
  });
});
