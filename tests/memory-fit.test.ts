// Fit before allocating (memory-fit.ts): the estimate from the configs against what the loader and
// the recorders allocate, here on a tiny pipeline and as measured on the GPU machine for the SD
// layouts at 512×512 (BENCHMARKS.md, seventh session: scripts/bench.ts --only sd15-image,turbo-image,
// GpuContext.peakBytes); and the refusal, with its numbers and a smaller size that fits.
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { parseClipTextConfig } from '../src/engine/nn/clip-text';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { parseVaeConfig } from '../src/engine/nn/vae-decoder';
import { assertFits, estimateMemory, largestFittingSize, type FitRequest } from '../src/engine/sampling/memory-fit';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import { memoryModelFolder } from '../src/engine/weights/model-folder';
import { fixturePipelineFiles } from './support/fixture-pipeline';
import { testGpu } from './support/gpu';

vi.setConfig({ testTimeout: 10 * 60_000 });

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const layout = (name: string, batch: number): FitRequest => {
  const dir = `scripts/bench/layouts/${name}`;
  return {
    unet: parseUNetConfig(json(`${dir}/unet/config.json`)),
    textEncoder: parseClipTextConfig(json(`${dir}/text_encoder/config.json`)),
    vae: parseVaeConfig(json(`${dir}/vae/config.json`)),
    width: 512,
    height: 512,
    batch,
  };
};

/** Measured on an H100 (docs/bench/h100-2026-12-05-session7-images-1.txt): bytes of the loaded
 * pipeline's buffers, and the most live at once while generating images at the layout's defaults. */
const MEASURED = {
  sd15: { weights: 2229721372, peak: 3670337132 },
  'sd-turbo': { weights: 2690308892, peak: 3990477364 },
};

const desktop = { maxStorageBufferBindingSize: 2 ** 31 - 4, maxBufferSize: 2 ** 32 };

describe('the memory estimate', () => {
  it('matches the weights and bounds the peak measured for SD 1.5 and SD-Turbo at 512×512', () => {
    for (const [name, batch] of [['sd15', 2], ['sd-turbo', 1]] as const) {
      const e = estimateMemory(layout(name, batch));
      expect(e.weightBytes / MEASURED[name].weights).toBeCloseTo(1, 2);
      const ratio = e.totalBytes / MEASURED[name].peak;
      expect(ratio).toBeGreaterThanOrEqual(1);
      expect(ratio).toBeLessThan(1.2);
      // SD's VAE decoder holds a 256-channel 512×512 map: 256 MiB in one buffer.
      expect(e.largestBufferBytes).toBe(256 * 2 ** 20);
    }
  });

  it('is within 25% of what a tiny pipeline allocates here, and scales with size and batch', async () => {
    const gpu = await testGpu();
    const files = fixturePipelineFiles();
    const index = JSON.parse(files['model_index.json'] as string);
    index.attention_lab = { ...index.attention_lab, width: 64, height: 64 };
    const folder = memoryModelFolder('tiny-64', { ...files, 'model_index.json': JSON.stringify(index) });
    const request = { prompt: 'a red cat', negativePrompt: '', seed: 1, steps: 1, sampler: 'euler' as const, cfg: 5, rules: [] };
    const estimate = await DiffusionPipeline.estimateMemory(folder, { batch: 2 });
    const before = gpu.live.bytes;
    const pipeline = await DiffusionPipeline.load(gpu, folder);
    try {
      const weights = gpu.live.bytes - before;
      await pipeline.generate(request);
      const peak = gpu.peakBytes - before;
      // The fixtures ship f32 matrices, which stay f32: the estimate's default counts f16 for them.
      const f32 = estimateMemory({ ...(await import('../src/engine/sampling/memory-fit').then((m) => m.folderFitRequest(folder))), matrixBytes: 4 });
      expect(f32.weightBytes / weights).toBeCloseTo(1, 1);
      expect(f32.totalBytes / peak).toBeGreaterThan(0.75);
      expect(f32.totalBytes / peak).toBeLessThan(1.25);
      expect(estimate.weightBytes).toBeLessThan(f32.weightBytes);
    } finally {
      pipeline.destroy();
    }
    const r = layout('sd15', 2);
    expect(estimateMemory({ ...r, batch: 4 }).activationBytes).toBeGreaterThan(estimateMemory(r).activationBytes);
    expect(estimateMemory({ ...r, width: 1024, height: 1024 }).activationBytes).toBeGreaterThan(3.5 * estimateMemory(r).activationBytes);
  });
});

describe('refusing before allocating', () => {
  it('names the numbers and a smaller size that fits', () => {
    const r = { ...layout('sd15', 2), width: 1536, height: 1152 };
    expect(() => assertFits(r, { ...desktop, budgetBytes: 8 * 2 ** 30 }, 'SD 1.5')).toThrow(
      /^SD 1\.5 at 1536×1152, 2 images per UNet call, needs about \d+\.\d\d GiB of GPU memory \(2\.\d\d GiB of weights, \d+\.\d\d GiB of activations; the largest buffer \d+ MiB\): more than the 8\.00 GiB allowed\. Try \d+×\d+ or smaller, or fewer images per batch\.$/,
    );
    const smaller = largestFittingSize(r, { ...desktop, budgetBytes: 8 * 2 ** 30 })!;
    expect(smaller.width / smaller.height).toBeCloseTo(4 / 3, 1);
    expect(estimateMemory({ ...r, ...smaller }).totalBytes).toBeLessThanOrEqual(8 * 2 ** 30);
    expect(smaller.width).toBeLessThan(r.width);
    // Over the binding limit first: 2048×1536's VAE map is 3 GiB in one buffer.
    expect(() => assertFits({ ...r, width: 2048, height: 1536 }, desktop, 'SD 1.5')).toThrow("the largest buffer 3072 MiB): its largest activation is over this GPU's 2048 MiB per buffer. Try ");
  });

  it("refuses 512×512 on a GPU that binds 128 MiB (the VAE's 256 MiB map), suggesting 320×320", () => {
    expect(() => assertFits(layout('sd-turbo', 1), { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 2 ** 30 }, 'SD-Turbo')).toThrow(
      "its largest activation is over this GPU's 128 MiB per buffer. Try 320×320 or smaller.",
    );
  });

  it('DiffusionPipeline.load refuses a model over the budget before allocating anything', async () => {
    const gpu = await testGpu();
    const before = { ...gpu.live };
    await expect(DiffusionPipeline.load(gpu, memoryModelFolder('tiny', fixturePipelineFiles()), undefined, { memoryBudgetBytes: 2 ** 20 })).rejects.toThrow(
      /^tiny at 32×32, 2 images per UNet call, needs about 0\.\d\d GiB .* more than the 0\.00 GiB allowed\. No size of this model fits/,
    );
    expect(gpu.live).toEqual(before);
  });

  it("DiffusionPipeline.generate refuses a request's size or batch over the budget before allocating for it", async () => {
    const gpu = await testGpu();
    const folder = memoryModelFolder('tiny', fixturePipelineFiles());
    const own = await DiffusionPipeline.estimateMemory(folder);
    // Room for the model at its own size, not for 16 times its pixels.
    const pipeline = await DiffusionPipeline.load(gpu, folder, undefined, { memoryBudgetBytes: own.totalBytes + 2 ** 20 });
    try {
      const request = { prompt: 'a', negativePrompt: '', seed: 1, steps: 1, cfg: 2, sampler: 'euler' as const, rules: [] };
      const before = { ...gpu.live };
      const side = pipeline.info.width * 4;
      await expect(pipeline.generate({ ...request, width: side, height: side })).rejects.toThrow(new RegExp(`^fixture pipeline at ${side}×${side}, 2 images per UNet call, needs about .* more than the .* allowed\\. Try `));
      await expect(pipeline.sample(request, { seeds: Array.from({ length: 64 }, (_, i) => i) })).rejects.toThrow(/128 images per UNet call/);
      expect(gpu.live).toEqual(before);
    } finally {
      pipeline.destroy();
    }
  });
});
