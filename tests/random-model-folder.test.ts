// The benchmark's random-weight pipeline folder (scripts/bench/random-model-folder.ts): the shapes it
// writes for CLIP and the VAE decoder are the fixtures' (made by transformers and diffusers), its
// safetensors files read the same in any slicing, and a tiny layout loads and renders through
// DiffusionPipeline as the SD layouts do on the GPU machine.
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { clipTextWeightShapes, randomModelFolder, randomSafetensors, vaeDecoderWeightShapes } from '../scripts/bench/random-model-folder';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { parseClipTextConfig } from '../src/engine/nn/clip-text';
import { parseVaeConfig } from '../src/engine/nn/vae-decoder';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import { bytesSource } from '../src/engine/weights/byte-source';
import { parseSafetensorsHeader, readAllF32 } from '../src/engine/weights/safetensors';
import { testGpu } from './support/gpu';

vi.setConfig({ testTimeout: 10 * 60_000 });

const fixture = (dir: string, file: string) => join(fixturesDir(), dir, file);
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

async function fileShapes(path: string, keep: (name: string) => boolean): Promise<Map<string, number[]>> {
  const header = await parseSafetensorsHeader(bytesSource(path, readFileSync(path)));
  return new Map(header.tensors.filter((t) => keep(t.name)).map((t) => [t.name, [...t.shape]]));
}

describe('random model folder', () => {
  it('writes the tensors transformers and diffusers hold for CLIP text and the VAE decoder', async () => {
    const clip = clipTextWeightShapes(parseClipTextConfig(json(fixture('clip-text-tiny', 'config.json'))));
    expect(clip).toEqual(await fileShapes(fixture('clip-text-tiny', 'model.safetensors'), (n) => n.startsWith('text_model.') && !n.endsWith('position_ids')));
    const vae = vaeDecoderWeightShapes(parseVaeConfig(json(fixture('vae-kl-tiny', 'config.json'))));
    expect(vae).toEqual(await fileShapes(fixture('vae-kl-tiny', 'diffusion_pytorch_model.safetensors'), (n) => n.startsWith('decoder.') || n.startsWith('post_quant_conv.')));
  });

  it('reads the same bytes in any slicing, with finite values of the intended size', async () => {
    const source = randomSafetensors('t', new Map([['a.weight', [3, 5, 3, 3]], ['norm.weight', [7]], ['b.weight', [9, 4]]]));
    const whole = await source.read(0, source.size);
    const pieces: number[] = [];
    for (let at = 0; at < source.size; at += 13) pieces.push(...(await source.read(at, Math.min(13, source.size - at))));
    expect(new Uint8Array(pieces)).toEqual(whole);
    const tensors = await readAllF32(bytesSource('t', whole));
    const a = tensors.get('a.weight')!.data;
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(3 / 45) + 1e-3);
    expect(new Set(a).size).toBeGreaterThan(100); // not one repeated value
    expect(tensors.get('norm.weight')!.data.every((v) => v > 0.89 && v < 1.11)).toBe(true);
  });

  it('loads a tiny layout through DiffusionPipeline and renders finite pixels', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'random-layout-'));
    for (const [sub, from] of [['unet', 'unet-sd15-tiny'], ['text_encoder', 'clip-text-tiny'], ['vae', 'vae-kl-tiny']]) {
      mkdirSync(join(dir, sub));
      writeFileSync(join(dir, sub, 'config.json'), readFileSync(fixture(from, 'config.json')));
    }
    mkdirSync(join(dir, 'scheduler'));
    writeFileSync(join(dir, 'scheduler', 'scheduler_config.json'), readFileSync('scripts/bench/layouts/sd-turbo/scheduler/scheduler_config.json'));
    writeFileSync(join(dir, 'model_index.json'), JSON.stringify({ vae: ['diffusers', 'AutoencoderKL'], attention_lab: { defaults: { sampler: 'euler', steps: 1, cfg: 1 } } }));
    // The tiny CLIP has 1000 ids, fewer than the layouts' tokenizer uses: the same tokenizer with ids below 1000.
    const tokenizerDir = join(dir, 'tokenizer');
    mkdirSync(tokenizerDir);
    const text = readFileSync('scripts/bench/layouts/tokenizer/tokenizer.json', 'utf8').replaceAll('49406', '998').replaceAll('49407', '999');
    writeFileSync(join(tokenizerDir, 'tokenizer.json'), text);
    writeFileSync(join(tokenizerDir, 'tokenizer_config.json'), readFileSync('scripts/bench/layouts/tokenizer/tokenizer_config.json'));
    const gpu = await testGpu();
    const pipeline = await DiffusionPipeline.load(gpu, randomModelFolder(dir, tokenizerDir));
    try {
      for (const cfg of [1, 7]) {
        const { image } = await pipeline.generate({ prompt: 'a photograph of an astronaut', negativePrompt: '', seed: 1, steps: 2, sampler: cfg === 1 ? 'euler' : 'dpmpp2m', cfg, rules: [] });
        expect(image.width).toBe(pipeline.info.width);
        const pixels = new Set(image.data);
        expect(pixels.size).toBeGreaterThan(10); // an image, not one flat colour
      }
    } finally {
      pipeline.destroy();
    }
  });
});
