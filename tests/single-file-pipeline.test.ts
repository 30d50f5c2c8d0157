// A single-file checkpoint through the same DiffusionPipeline.load as a diffusers folder: the
// SD 2.x-layout fixture (OpenCLIP text encoder, v-prediction guessed from its weights) renders.
// The tokenizer is the test's word-level one: a single file carries none, and the tiny model's
// vocabulary has 1000 entries (the app's CLIP BPE fallback is the tokenizer's own concern).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import { memoryModelFolder, subFolder, type ModelFolder } from '../src/engine/weights/model-folder';
import { UNet } from '../src/engine/nn/unet';
import { nodeFileSource } from '../src/engine/weights/node-byte-source';
import { singleFileModelFolder } from '../src/engine/weights/single-file';
import { testGpu } from './support/gpu';

const dir = fileURLToPath(new URL('./fixtures/sd2-single-file-tiny/', import.meta.url));
const json = (path: string) => JSON.parse(readFileSync(join(dir, path), 'utf8')) as Record<string, unknown>;

/** `folder` with a word-level tokenizer in place of the CLIP tokenizer configs. */
function withWordTokenizer(folder: ModelFolder): ModelFolder {
  const vocab: Record<string, number> = { '[UNK]': 0, '[PAD]': 1, '[BOS]': 998, '[EOS]': 999, a: 2, red: 3, cat: 4, blurry: 5 };
  const files: Record<string, unknown> = {
    'tokenizer/tokenizer.json': { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: { type: 'Lowercase' }, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null, model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab } },
    'tokenizer/tokenizer_config.json': { pad_token: '[PAD]', unk_token: '[UNK]' },
    'tokenizer/special_tokens_map.json': {},
  };
  return {
    ...folder,
    has: async (path) => path in files || folder.has(path),
    readText: async (path) => (path in files ? JSON.stringify(files[path]) : folder.readText(path)),
    readJson: async <T>(path: string) => (path in files ? (files[path] as T) : folder.readJson<T>(path)),
  };
}

describe('a single-file checkpoint in the pipeline', () => {
  it('loads through the virtual diffusers folder with its family defaults and renders, deterministically', async () => {
    const folder = await singleFileModelFolder(await nodeFileSource(join(dir, 'model.safetensors'), 'sd2-tiny.safetensors'), {
      config: { unet: json('config.json'), textEncoder: json('text_encoder/config.json'), vae: json('vae/config.json') },
    });
    expect(folder.prediction).toMatchObject({ type: 'v_prediction', guessed: true });
    const pipeline = await DiffusionPipeline.load(await testGpu(), withWordTokenizer(folder));
    try {
      // 'small' family: the config's 16×16 latents × the VAE's 2× upscale.
      expect(pipeline.info).toMatchObject({ name: 'sd2-tiny', width: 32, height: 32, defaults: { sampler: 'dpmpp2m', steps: 20, cfg: 7 } });
      const request = { prompt: 'a red cat', negativePrompt: 'blurry', seed: 3, steps: 2, sampler: 'dpmpp2m' as const, cfg: 5, rules: [] };
      const first = await pipeline.generate(request);
      expect(new Set(first.image.data.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(10);
      const again = await pipeline.generate(request);
      expect(again.image.data).toEqual(first.image.data);
    } finally {
      pipeline.destroy();
    }
  }, 10 * 60_000);

  it('a diffusers UNet folder may hold only the fp16 variant, or prefer it', async () => {
    const folder = await singleFileModelFolder(await nodeFileSource(join(dir, 'model.safetensors')), { config: { unet: json('config.json') } });
    const unetDir = subFolder(folder, 'unet');
    const weights = await unetDir.open('diffusion_pytorch_model.safetensors');
    const fp16 = await weights.read(0, weights.size);
    const config = await unetDir.readText('config.json');
    const gpu = await testGpu();
    const onlyFp16 = memoryModelFolder('unet', { 'config.json': config, 'diffusion_pytorch_model.fp16.safetensors': fp16 });
    (await UNet.load(gpu, onlyFp16)).destroy();
    const both = memoryModelFolder('unet', { 'config.json': config, 'diffusion_pytorch_model.safetensors': 'not weights', 'diffusion_pytorch_model.fp16.safetensors': fp16 });
    (await UNet.load(gpu, both, undefined, { preferFp16: true })).destroy();
    await expect(UNet.load(gpu, both)).rejects.toThrow(/diffusion_pytorch_model\.safetensors/);
  });
});
