// A TAESD as one safetensors file, without its config.json: the config is read from the keys, in
// diffusers' layout (decoder.layers.*) and in madebyollin's taesd_decoder.safetensors (1.weight, ...).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { taesdSpecFromKeys, TaesdDecoder } from '../src/engine/nn/taesd-decoder';
import { bytesSource } from '../src/engine/weights/byte-source';
import { uploadTensor } from '../src/engine/weights/gpu-weights';
import { nodeFileSource, nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { encodeSafetensors, readAllF32 } from '../src/engine/weights/safetensors';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { testGpu } from './support/gpu';

const TAESD = join(fixturesDir(), 'taesd-tiny');

describe('TAESD from a single safetensors file', () => {
  it('reads the config from the keys and decodes as the folder with its config.json does, in both key layouts', async () => {
    const gpu = await testGpu();
    const folder = await TaesdDecoder.load(gpu, nodeModelFolder(TAESD), '');
    const weights = await readAllF32(await nodeFileSource(join(TAESD, 'diffusion_pytorch_model.safetensors')));
    const io = await readAllF32(await nodeFileSource(join(TAESD, 'io.safetensors')));
    const latent = io.get('latent')!;
    const expected = await folder.decodeToImage(uploadTensor(gpu, 'latent', latent.shape, latent.data));

    const diffusers = [...weights].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
    // taesd_decoder.safetensors: the decoder alone, numbered from its Clamp (layer 0).
    const original = diffusers.filter((t) => t.name.startsWith('decoder.layers.')).map((t) => ({ ...t, name: t.name.replace(/^decoder\.layers\.(\d+)/, (_, n: string) => String(Number(n) + 1)) }));
    for (const [name, tensors] of [['taesd.safetensors', diffusers], ['taesd_decoder.safetensors', original]] as const) {
      const spec = taesdSpecFromKeys(tensors, name).spec;
      expect(spec).toMatchObject({ latentChannels: 4, outChannels: 3, numBlocks: [3, 3, 3, 1], blockOutChannels: [8, 8, 8, 8], scalingFactor: 1 });
      const decoder = await TaesdDecoder.loadSingleFile(gpu, bytesSource(name, encodeSafetensors(tensors)));
      const image = await decoder.decodeToImage(uploadTensor(gpu, 'latent', latent.shape, latent.data));
      expect([image.width, image.height]).toEqual([expected.width, expected.height]);
      expect(image.data.every((v, i) => v === expected.data[i]), name).toBe(true);
      decoder.destroy();
    }
    folder.destroy();
  });

  it('refuses a file that is not a TAESD decoder, naming it', () => {
    expect(() => taesdSpecFromKeys([{ name: 'conv_in.weight', shape: [8, 4, 3, 3] }], 'vae.safetensors')).toThrow(/vae\.safetensors: not a TAESD decoder.*conv_in\.weight/);
    expect(() => taesdSpecFromKeys([{ name: 'decoder.layers.0.weight', shape: [8, 4, 3, 3] }, { name: 'decoder.layers.2.conv.0.weight', shape: [8, 8, 3, 3] }], 'cut.safetensors')).toThrow(/cut\.safetensors.*without the conv to RGB/);
  });
});
