// Attention maps: PyTorch's bicubic upsampling and DAAM's aggregation on the CPU, the probes inside
// the fixture UNet (recorded only when asked for), and the maps a generation returns.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import { bicubicResize, daamTokenMaps, type GenerateRequest, type RgbaImage } from '../src/engine';
import { fixturePipelineFolder } from './support/fixture-pipeline';
import { randn, rng, testGpu } from './support/gpu';

vi.setConfig({ testTimeout: 20 * 60_000 });

describe('bicubic upsampling as torch.nn.functional.interpolate(mode="bicubic", align_corners=False)', () => {
  it('gives PyTorch 2.x numbers for a 2×2 → 4×4 ramp', () => {
    // torch.nn.functional.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4), mode='bicubic')
    const torch = [0.68359375, 1.015625, 1.5625, 1.89453125, 1.34765625, 1.6796875, 2.2265625, 2.55859375, 2.44140625, 2.7734375, 3.3203125, 3.65234375, 3.10546875, 3.4375, 3.984375, 4.31640625];
    const out = bicubicResize([1, 2, 3, 4], 1, 2, 2, 4, 4);
    out.forEach((v, i) => expect(v).toBeCloseTo(torch[i], 6));
  });

  it('keeps a map at its own size, and a constant map constant at odd sizes', () => {
    const random = rng(2);
    const map = randn(3 * 5 * 7, random);
    expect(Array.from(bicubicResize(map, 3, 5, 7, 5, 7))).toEqual(Array.from(map));
    const constant = bicubicResize(new Float32Array(2 * 3 * 5).fill(0.25), 2, 3, 5, 12, 20);
    constant.forEach((v) => expect(v).toBeCloseTo(0.25, 6));
  });

  it('DAAM: each site upsampled, clamped at 0, then averaged over the sites', () => {
    const siteA = { height: 1, width: 1, values: [-1, 2] };
    const siteB = { height: 2, width: 2, values: [1, 1, 1, 1, 4, 4, 4, 4] };
    const out = daamTokenMaps([siteA, siteB], 2, 2, 2);
    expect(Array.from(out)).toEqual([0.5, 0.5, 0.5, 0.5, 3, 3, 3, 3]);
  });
});

describe('attention maps on the fixture pipeline', () => {
  let pipeline: DiffusionPipeline;
  const base: GenerateRequest = { prompt: 'a photo of a red cat', negativePrompt: 'blurry', seed: 7, steps: 2, sampler: 'euler', cfg: 5, rules: [] };
  const same = (a: RgbaImage, b: RgbaImage) => a.data.every((v, i) => v === b.data[i]);

  beforeAll(async () => {
    pipeline = await DiffusionPipeline.load(await testGpu(), fixturePipelineFolder());
  });

  it('probes inside the UNet: every cross-attention column and self-attention row is a distribution; no probe means no extra dispatch', async () => {
    const unet = pipeline.unet;
    const { height, width } = pipeline.latentSize;
    const L = pipeline.contextLength;
    const plain = unet.prepare(2, height, width, L);
    const site = unet.sites.find((s) => s.kind === 'attn1' && s.path.startsWith('up_blocks.1'))!.path;
    unet.setProbes({ crossAttention: true, selfAttentionSite: site, selfAttentionQueries: 3, batchIndex: 1 });
    const probed = unet.prepare(2, height, width, L);
    unet.setProbes(undefined);
    expect(unet.prepare(2, height, width, L)).toBe(plain);
    const attn2 = unet.sites.filter((s) => s.kind === 'attn2').length;
    // Two dispatches per probed site (row statistics, then the probabilities).
    expect(probed.plan.steps.length - plain.plan.steps.length).toBe(2 * (attn2 + 1));

    const gpu = unet.gpu;
    const random = rng(11);
    gpu.write(probed.sample.buffer, randn(2 * 4 * height * width, random));
    gpu.write(probed.timesteps.buffer, new Float32Array([500, 500]));
    gpu.write(probed.context.buffer, randn(2 * L * unet.config.crossAttentionDim, random));
    const probes = probed.probes!;
    probes.reset([0, 5, 0]);
    probes.setStepWeights(0.5, 0.5);
    probed.contextPlan.run();
    probed.plan.run();
    probed.plan.run();
    const readings = await probes.read();
    expect(readings.cross.length).toBe(attn2);
    for (const r of readings.cross) {
      expect(r.keys).toBe(L);
      for (let i = 0; i < r.height * r.width; i++) {
        let sum = 0;
        for (let t = 0; t < L; t++) sum += r.values[t * r.height * r.width + i];
        expect(sum).toBeCloseTo(1, 4);
      }
    }
    const self = readings.self!;
    expect(self.keys).toBe(self.height * self.width);
    const rows = [0, 1, 2].map((r) => Array.from(self.values.subarray(r * self.keys, (r + 1) * self.keys)));
    rows.forEach((row) => expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4));
    expect(rows[2]).toEqual(rows[0]);
    expect(rows[1]).not.toEqual(rows[0]);
  });

  it('a generation with maps makes the same image, the prompt tokens, DAAM maps at the latent size and a point map', async () => {
    const plain = await pipeline.generate(base);
    expect(plain.attentionMaps).toBeUndefined();
    expect(plain.promptTokens).toEqual(pipeline.promptTokens(base.prompt));
    const tokens = plain.promptTokens!.length;

    const cross = await pipeline.generate({ ...base, attentionMaps: { crossAttention: true } });
    expect(same(cross.image, plain.image)).toBe(true);
    const { height, width } = pipeline.latentSize;
    expect(cross.attentionMaps?.cross).toMatchObject({ height, width });
    expect(cross.attentionMaps!.cross!.values.length).toBe(tokens * height * width);
    expect(cross.attentionMaps!.cross!.values.every((v) => v >= 0 && Number.isFinite(v))).toBe(true);

    const point = (x: number, y: number, step?: number) => pipeline.generate({ ...base, attentionMaps: { selfAttention: { site: 'mid_block', x, y, step } } });
    const all = await point(0.1, 0.1);
    expect(same(all.image, plain.image)).toBe(true);
    const map = all.attentionMaps!.self!;
    expect(map.site).toMatch(/^mid_block\..*attn1$/);
    expect(map.values.length).toBe(map.height * map.width);
    expect(map.values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    const last = (await point(0.1, 0.1, 1)).attentionMaps!.self!;
    expect(last.values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(Array.from(last.values)).not.toEqual(Array.from(map.values));
    const other = (await point(0.9, 0.9)).attentionMaps!.self!;
    expect(Array.from(other.values)).not.toEqual(Array.from(map.values));

    // The next generation without maps probes nothing.
    await pipeline.generate(base);
    expect(pipeline.unet.activeProbes).toBeUndefined();
  });

  it('an unknown self-attention block falls back to the middle one with a notice', async () => {
    const result = await pipeline.generate({ ...base, cfg: 1, attentionMaps: { selfAttention: { site: 'up_blocks.9', x: 0.5, y: 0.5 } } });
    expect(result.notices?.[0]).toMatch(/no self-attention block "up_blocks.9"/);
    expect(result.attentionMaps?.self?.site).toMatch(/^mid_block/);
  });
});
