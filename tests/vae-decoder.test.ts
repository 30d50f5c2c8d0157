import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseVaeConfig, VaeDecoder } from '../src/engine/nn/vae-decoder';
import { DecodeRunner, IdentityDecoder, reference, scaleShift, toRgba8, readRgba } from '../src/engine/nn/image-output';
import { Recorder } from '../src/engine/gpu/recorder';
import { uploadTensor } from '../src/engine/weights/gpu-weights';
import { memoryModelFolder } from '../src/engine/weights/model-folder';
import { nodeFileSource, nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { readAllF32 } from '../src/engine/weights/safetensors';
import { randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

// CI clones the repository with shared/ beside it.
const FIXTURES = process.env.FIXTURES_DIR ?? join(fileURLToPath(new URL('..', import.meta.url)), '../shared/fixtures');
const VAE = join(FIXTURES, 'vae-kl-tiny');

/** A safetensors file (F32 only) from named arrays. */
function safetensorsBytes(tensors: Map<string, { shape: number[]; data: Float32Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

async function golden() {
  const io = await readAllF32(await nodeFileSource(join(VAE, 'io.safetensors')));
  return { latent: io.get('latent')!, decoded: io.get('decoded')! };
}

describe('SD VAE decoder (diffusers AutoencoderKL)', () => {
  it('matches diffusers on the vae-kl-tiny golden: decoded = vae.decode(latent).sample', async () => {
    const gpu = await testGpu();
    const vae = await VaeDecoder.load(gpu, nodeModelFolder(VAE), '');
    const { latent, decoded } = await golden();
    const image = vae.decode(uploadTensor(gpu, 'latent', latent.shape, latent.data), { skipLatentScaling: true });
    expect(image.shape).toEqual(decoded.shape);
    const error = relError(await gpu.readF32(image.buffer, decoded.data.length, image.byteOffset / 4), decoded.data);
    console.log(`vae-kl-tiny decoded: rel error ${error.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(1e-3);

    // Without skipLatentScaling the decoder first divides by scaling_factor (0.18215), as pipelines do.
    const scaled = latent.data.map((v) => v * 0.18215);
    const fromPipeline = vae.decode(uploadTensor(gpu, 'scaled', latent.shape, scaled));
    expect(relError(await gpu.readF32(fromPipeline.buffer, decoded.data.length, fromPipeline.byteOffset / 4), decoded.data)).toBeLessThanOrEqual(1e-3);
    vae.destroy();
  });

  it('reads checkpoints with the old query/key/value/proj_attn names and 1x1-conv shapes', async () => {
    const gpu = await testGpu();
    const weights = await readAllF32(await nodeFileSource(join(VAE, 'diffusion_pytorch_model.safetensors')));
    const renamed = new Map<string, { shape: number[]; data: Float32Array }>();
    const old = { to_q: 'query', to_k: 'key', to_v: 'value', 'to_out.0': 'proj_attn' };
    for (const [name, t] of weights) {
      const match = /^(decoder\.mid_block\.attentions\.0)\.(to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/.exec(name);
      if (!match) renamed.set(name, t);
      else renamed.set(`${match[1]}.${old[match[2] as keyof typeof old]}.${match[3]}`, match[3] === 'weight' ? { shape: [...t.shape, 1, 1], data: t.data } : t);
    }
    const folder = memoryModelFolder('old-vae', {
      'vae/config.json': await readFile(join(VAE, 'config.json'), 'utf8'),
      'vae/diffusion_pytorch_model.safetensors': safetensorsBytes(renamed),
    });
    const vae = await VaeDecoder.load(gpu, folder);
    const { latent, decoded } = await golden();
    const image = vae.decode(uploadTensor(gpu, 'latent', latent.shape, latent.data), { skipLatentScaling: true });
    expect(relError(await gpu.readF32(image.buffer, decoded.data.length, image.byteOffset / 4), decoded.data)).toBeLessThanOrEqual(1e-3);
    vae.destroy();
  });

  it('refuses configs it cannot run, naming the field', () => {
    expect(() => parseVaeConfig({ act_fn: 'relu' })).toThrow(/act_fn/);
    expect(() => parseVaeConfig({ block_out_channels: [16, 32], up_block_types: ['UpDecoderBlock2D', 'AttnUpDecoderBlock2D'] })).toThrow(/up_block_types/);
    expect(() => parseVaeConfig({ latents_mean: [0, 0, 0, 0] })).toThrow(/latents_mean/);
    expect(() => parseVaeConfig({ block_out_channels: [48], norm_num_groups: 32 })).toThrow(/norm_num_groups/);
  });
});

describe('image output: decoded [-1, 1] to canvas pixels', () => {
  const random = rng(5);

  it('maps x to round(clamp(x / 2 + 0.5, 0, 1) * 255), alpha 255, for the chosen image of a batch', async () => {
    const gpu = await testGpu();
    const shape = [2, 3, 5, 7];
    const image = randn(2 * 3 * 5 * 7, random, 0.8);
    // Exact edges: -1 -> 0, 1 -> 255, 0 -> 127.5 -> 128 (half to even), beyond the range -> clamped.
    const plane = 5 * 7;
    const imageOne = 3 * plane;
    for (const [pixel, rgb] of [[0, [-1, 1, 0]], [1, [-3, 3, 0.5]]] as const) rgb.forEach((v, c) => (image[imageOne + c * plane + pixel] = v));
    const gpuImage = tensorFrom(gpu, shape, image);
    for (const index of [0, 1]) {
      const rec = new Recorder(gpu, 'rgba');
      const pixels = rec.keep(toRgba8(rec, gpuImage, index));
      const plan = rec.finish();
      plan.run();
      const rgba = await readRgba(gpu, pixels);
      plan.destroy();
      expect([rgba.width, rgba.height]).toEqual([7, 5]);
      expect([...rgba.data]).toEqual([...reference.toRgba8(image, shape, index)]);
    }
    // 0.5 -> 0.75 * 255 = 191.25 -> 191.
    expect([...reference.toRgba8(image, shape, 1).subarray(0, 8)]).toEqual([0, 255, 128, 255, 0, 255, 191, 255]);
  });

  it('shows a one-channel image as grey', async () => {
    const gpu = await testGpu();
    const image = Float32Array.from([-1, 0.5, 1]);
    const runner = new DecodeRunner(gpu, new IdentityDecoder(1));
    const rgba = await runner.decodeToImage(tensorFrom(gpu, [1, 1, 1, 3], image));
    expect([...rgba.data]).toEqual([0, 0, 0, 255, 191, 191, 191, 255, 255, 255, 255, 255]);
    runner.destroy();
  });

  it('a pixel-space model decodes through the identity decoder', async () => {
    const gpu = await testGpu();
    const shape = [1, 3, 4, 6];
    const sample = randn(72, random, 0.5);
    const runner = new DecodeRunner(gpu, new IdentityDecoder());
    const rgba = await runner.decodeToImage(tensorFrom(gpu, shape, sample));
    expect([...rgba.data]).toEqual([...reference.toRgba8(sample, shape)]);
    runner.destroy();
  });

  it('scaleShift computes x * scale + shift', async () => {
    const gpu = await testGpu();
    const x = randn(1000, random);
    const out = await runOnce(gpu, (rec) => scaleShift(rec, tensorFrom(gpu, [1000], x), 1 / 0.18215, 0.1));
    expect(relError(out, reference.scaleShift(x, 1 / 0.18215, 0.1))).toBeLessThan(1e-6);
  });
});
