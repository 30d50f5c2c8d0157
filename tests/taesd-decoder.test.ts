import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTaesdConfig, TaesdDecoder } from '../src/engine/nn/taesd-decoder';
import { reference as outputReference } from '../src/engine/nn/image-output';
import { uploadTensor } from '../src/engine/weights/gpu-weights';
import { nodeFileSource, nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { readAllF32 } from '../src/engine/weights/safetensors';
import { relError, testGpu } from './support/gpu';

// CI clones the repository with shared/ beside it.
const FIXTURES = process.env.FIXTURES_DIR ?? join(fileURLToPath(new URL('..', import.meta.url)), '../shared/fixtures');
const TAESD = join(FIXTURES, 'taesd-tiny');

describe('TAESD decoder (diffusers AutoencoderTiny)', () => {
  it('matches diffusers on the taesd-tiny golden: decoded = decode(latent).sample', async () => {
    const gpu = await testGpu();
    const decoder = await TaesdDecoder.load(gpu, nodeModelFolder(TAESD), '');
    const io = await readAllF32(await nodeFileSource(join(TAESD, 'io.safetensors')));
    const latent = io.get('latent')!;
    const expected = io.get('decoded')!;
    const image = decoder.decode(uploadTensor(gpu, 'latent', latent.shape, latent.data), { skipLatentScaling: true });
    expect(image.shape).toEqual(expected.shape);
    const actual = await gpu.readF32(image.buffer, expected.data.length, image.byteOffset / 4);
    const error = relError(actual, expected.data);
    console.log(`taesd-tiny decoded: rel error ${error.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(1e-3);

    // The same decode, straight to canvas pixels: x / 2 + 0.5, clamped, x 255, rounded.
    const rgba = await decoder.decodeToImage(uploadTensor(gpu, 'latent', latent.shape, latent.data));
    expect([rgba.width, rgba.height]).toEqual([64, 64]);
    const expectedRgba = outputReference.toRgba8(actual, expected.shape);
    let off = 0;
    for (let i = 0; i < expectedRgba.length; i++) if (rgba.data[i] !== expectedRgba[i]) off++;
    expect(off).toBe(0);
    decoder.destroy();
  });

  it('refuses configs it cannot run, naming the field', () => {
    expect(() => parseTaesdConfig({ act_fn: 'silu' })).toThrow(/act_fn/);
    expect(() => parseTaesdConfig({ upsampling_scaling_factor: 4 })).toThrow(/upsampling_scaling_factor/);
    expect(() => parseTaesdConfig({ upsample_fn: 'bilinear' })).toThrow(/upsample_fn/);
    expect(parseTaesdConfig({}).numBlocks).toEqual([3, 3, 3, 1]);
  });
});
