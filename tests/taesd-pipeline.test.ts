// TAESD beside a model's own VAE (DiffusionPipeline.setFastDecoder): the final image when a request
// asks for `decoder: 'taesd'`, and the step previews while it is there.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { TaesdDecoder } from '../src/engine/nn/taesd-decoder';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import type { GenerateProgress, GenerateRequest } from '../src/engine';
import { uploadTensor } from '../src/engine/weights/gpu-weights';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { fixturePipelineFolder } from './support/fixture-pipeline';
import { testGpu } from './support/gpu';

let pipeline: DiffusionPipeline;
let taesd: TaesdDecoder;
const base: GenerateRequest = { prompt: 'a photo of a red cat', negativePrompt: 'blurry', seed: 42, steps: 2, sampler: 'euler', cfg: 5, rules: [] };

beforeAll(async () => {
  const gpu = await testGpu();
  pipeline = await DiffusionPipeline.load(gpu, fixturePipelineFolder());
  // taesd-tiny: 4 latent channels like the fixture UNet's, 3 upsamplings (8×) where vae-kl-tiny has 1.
  taesd = await TaesdDecoder.load(gpu, nodeModelFolder(join(fixturesDir(), 'taesd-tiny')), '');
});
// SwiftShader (a CPU) takes seconds per UNet call.
vi.setConfig({ testTimeout: 20 * 60_000 });

describe('TAESD as the fast decoder of a pipeline', () => {
  it('refuses a TAESD whose latent channels are not the model\'s, naming both, and decoder "taesd" before one is given', async () => {
    const wrong = { latentChannels: 16 } as TaesdDecoder;
    expect(() => pipeline.setFastDecoder(wrong)).toThrow(/16-channel latents.*4-channel latents/);
    expect(pipeline.hasFastDecoder).toBe(false);
    await expect(pipeline.generate({ ...base, decoder: 'taesd' })).rejects.toThrow(/no TAESD is loaded/);
    await expect(pipeline.generate({ ...base, decoder: 'nope' as 'vae' })).rejects.toThrow(/decoder must be one of vae, taesd/);
  });

  it('previews each slow step with the CPU projection without a TAESD, and with TAESD\'s decode with one', async () => {
    const previews: GenerateProgress[] = [];
    await pipeline.generate({ ...base, preview: true }, { onProgress: (p) => previews.push(p) });
    // The first step counts as slow (its time is not known yet): the CPU projection, at latent size.
    expect(previews[0].preview).toMatchObject({ width: 16, height: 16 });

    pipeline.setFastDecoder(taesd);
    const decodes = vi.spyOn(taesd, 'decodeToImage');
    const withTaesd: GenerateProgress[] = [];
    const vae = await pipeline.generate({ ...base, preview: true }, { onProgress: (p) => withTaesd.push(p) });
    const previewed = withTaesd.filter((p) => p.preview);
    expect(previewed.length).toBeGreaterThan(0);
    // TAESD's image of x0: 8 pixels per latent pixel, and one TAESD decode per preview, none for the final image.
    for (const p of previewed) expect(p.preview).toMatchObject({ width: 128, height: 128 });
    expect(decodes).toHaveBeenCalledTimes(previewed.length);
    expect(vae.image.width).toBe(32);
    decodes.mockRestore();
  });

  it('renders with decoder "taesd" exactly what TAESD itself makes of the same final latents', async () => {
    pipeline.setFastDecoder(taesd);
    const result = await pipeline.generate({ ...base, decoder: 'taesd' });
    const { latents } = await pipeline.sample(base);
    expect(latents.length).toBe(4 * 16 * 16);
    const own = await taesd.decodeToImage(uploadTensor(pipeline.gpu, 'final latents', [1, 4, 16, 16], latents));
    expect([result.image.width, result.image.height]).toEqual([128, 128]);
    let off = 0;
    for (let i = 0; i < own.data.length; i++) if (own.data[i] !== result.image.data[i]) off++;
    expect(off).toBe(0);
    expect(new Set(result.image.data.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(10);

    // Taken away again: previews and images are the VAE's, and "taesd" is refused.
    pipeline.setFastDecoder(undefined);
    await expect(pipeline.generate({ ...base, decoder: 'taesd' })).rejects.toThrow(/no TAESD/);
    expect((await pipeline.generate(base)).image.width).toBe(32);
  });
});
