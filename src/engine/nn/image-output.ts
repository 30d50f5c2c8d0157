// From the sampler's latent to a canvas: the decoder interface that the SD VAE, TAESD and pixel-space
// models share, the RGBA8 conversion on the GPU, and a runner that records each decode once per
// latent shape and replays it.
import wgsl from '../../../shaders/image-output.wgsl?raw';
import type { GpuContext } from '../gpu/gpu-context';
import { params } from '../gpu/params';
import { grid1d, Recorder, type Plan } from '../gpu/recorder';
import { byteSize, numel, shapeString, type Tensor } from '../gpu/tensor';
import type { RgbaImage } from '../api';
import { loadWeights } from '../weights/gpu-weights';
import { subFolder, type ModelFolder } from '../weights/model-folder';
import type { WeightStore } from '../weights/weight-store';

const WORKGROUP = 256;

export interface DecodeOptions {
  /** Decode `latent` as given, without the 1 / scaling_factor (+ shift_factor) that maps a
   * sampler's latent back to the VAE's own scale (diffusers: `vae.decode(latent)` rather than
   * `vae.decode(latent / vae.config.scaling_factor)`). */
  skipLatentScaling?: boolean;
}

export interface ImageDecoder {
  /** Channels of the latents it reads. */
  readonly latentChannels: number;
  /** Image pixels per latent pixel along each side: 8 for SD's VAE and TAESD, 1 in pixel space. */
  readonly upscale: number;
  /** Records latent [N, latentChannels, h, w] -> image [N, 3, h * upscale, w * upscale] in [-1, 1].
   * Leaves `latent` alone (the caller releases it); may return `latent` itself. */
  record(rec: Recorder, latent: Tensor, opts?: DecodeOptions): Tensor;
}

/** Pixel-space models: the UNet's sample already is the image. */
export class IdentityDecoder implements ImageDecoder {
  readonly upscale = 1;
  constructor(readonly latentChannels = 3) {}
  record(_rec: Recorder, latent: Tensor): Tensor {
    return latent;
  }
}

/** out = x * scale + shift. */
export function scaleShift(rec: Recorder, x: Tensor, scale: number, shift: number, label = `${x.label}*${scale}+${shift}`): Tensor {
  const out = rec.alloc(x.shape, label);
  const count = numel(x.shape);
  rec.dispatch({
    label: `scale_shift:${label}`,
    pipeline: rec.gpu.pipeline('image-output', wgsl, 'scale_shift'),
    params: params().u32(count, 0, 0, 0).f32(scale, shift),
    bindings: [x, out],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
  return out;
}

/**
 * Records image `index` of `image` [N, C, H, W] (C = 3, or 1 for grey) in [-1, 1] as RGBA8 pixels:
 * a [H, W] tensor whose every 4-byte element is one packed pixel. Read it with `readRgba`.
 */
export function toRgba8(rec: Recorder, image: Tensor, index = 0, label = `rgba(${image.label})`): Tensor {
  const [batch, channels, height, width] = image.shape;
  if (image.shape.length !== 4 || (channels !== 3 && channels !== 1)) {
    throw new Error(`toRgba8: expected an image [N, 3 or 1, H, W], got ${shapeString(image.shape)} (${image.label})`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= batch) throw new Error(`toRgba8: image ${index} of a batch of ${batch}`);
  const pixels = rec.alloc([height, width], label);
  const count = height * width;
  rec.dispatch({
    label: `to_rgba8:${label}`,
    pipeline: rec.gpu.pipeline('image-output', wgsl, 'to_rgba8'),
    params: params().u32(count, channels, index * channels * count, 0).f32(0, 0),
    bindings: [image, null, pixels],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
  return pixels;
}

/** The pixels `toRgba8` wrote, ready for `new ImageData(data, width, height)`. */
export async function readRgba(gpu: GpuContext, pixels: Tensor): Promise<RgbaImage> {
  const [height, width] = pixels.shape;
  const bytes = await gpu.readBytes(pixels.buffer, height * width * 4, pixels.byteOffset);
  return { width, height, data: new Uint8ClampedArray(bytes) };
}

interface DecodePlan {
  plan: Plan;
  input: Tensor;
  image: Tensor;
  pixels?: Tensor;
}

/**
 * Runs an ImageDecoder through one Plan per (latent shape, options, output), recorded on first use.
 * Each run copies the latent into the plan's own input buffer in the same command encoder, so the
 * caller's latent may live anywhere.
 */
export class DecodeRunner {
  private readonly plans = new Map<string, DecodePlan>();

  constructor(
    private readonly gpu: GpuContext,
    private readonly decoder: ImageDecoder,
    private readonly label = 'decode',
  ) {}

  /** The decoded image [N, 3, H, W] in [-1, 1] on the GPU; valid until the next decode of this shape. */
  decode(latent: Tensor, opts: DecodeOptions = {}): Tensor {
    return this.run(latent, opts, false).image;
  }

  /** Decodes and converts image `index` of the batch to RGBA8 on the GPU, then reads it back. */
  async decodeToImage(latent: Tensor, opts: DecodeOptions & { index?: number } = {}): Promise<RgbaImage> {
    const { pixels } = this.run(latent, opts, true, opts.index ?? 0);
    return readRgba(this.gpu, pixels!);
  }

  private run(latent: Tensor, opts: DecodeOptions, withPixels: boolean, index = 0): DecodePlan {
    if (latent.dtype !== 'f32') throw new Error(`${this.label}: latents must be f32, got ${latent.dtype}`);
    const key = `${latent.shape.join('x')}|${opts.skipLatentScaling ? 'raw' : 'scaled'}|${withPixels ? `rgba${index}` : 'image'}`;
    let entry = this.plans.get(key);
    if (!entry) {
      const rec = new Recorder(this.gpu, `${this.label}:${key}`);
      const input = rec.keep(rec.alloc(latent.shape, 'latent'));
      const image = rec.keep(this.decoder.record(rec, input, opts));
      const pixels = withPixels ? rec.keep(toRgba8(rec, image, index)) : undefined;
      entry = { plan: rec.finish(), input, image, pixels };
      this.plans.set(key, entry);
    }
    const encoder = this.gpu.device.createCommandEncoder({ label: entry.plan.label });
    encoder.copyBufferToBuffer(latent.buffer, latent.byteOffset, entry.input.buffer, entry.input.byteOffset, byteSize(latent.shape));
    entry.plan.encode(encoder);
    this.gpu.device.queue.submit([encoder.finish()]);
    return entry;
  }

  destroy(): void {
    for (const entry of this.plans.values()) entry.plan.destroy();
    this.plans.clear();
  }
}

/** The first of `names` that `folder` holds: checkpoints ship f32 or fp16 variants of one file. */
/** A decoder with its own weights on the GPU (SD's VAE, TAESD): decode and decodeToImage replay its
 * `record` through a DecodeRunner; destroy frees the plans and the weights. */
export abstract class WeightedDecoder implements ImageDecoder {
  abstract readonly latentChannels: number;
  private readonly runner: DecodeRunner;

  protected constructor(
    gpu: GpuContext,
    readonly upscale: number,
    protected readonly weights: WeightStore,
    label: string,
  ) {
    this.runner = new DecodeRunner(gpu, this, label);
  }

  abstract record(rec: Recorder, latent: Tensor, opts?: DecodeOptions): Tensor;

  /** The decoded image [N, 3, H, W] in [-1, 1] on the GPU, valid until the next decode of this shape. */
  decode(latent: Tensor, opts: DecodeOptions = {}): Tensor {
    return this.runner.decode(latent, opts);
  }

  decodeToImage(latent: Tensor, opts: DecodeOptions & { index?: number } = {}): Promise<RgbaImage> {
    return this.runner.decodeToImage(latent, opts);
  }

  destroy(): void {
    this.runner.destroy();
    this.weights.destroy();
  }
}

/** A diffusers autoencoder folder's config.json, checked by `parse` before anything is uploaded,
 * and the weights `keep` selects from its first safetensors file of `weightFiles` (the decoder's:
 * the encoder's are never uploaded). */
export async function loadDecoderParts<Config, Spec>(
  gpu: GpuContext,
  folder: ModelFolder,
  subdir: string,
  parse: (config: Config, where: string) => Spec,
  files: { weightFiles: readonly string[]; keep: (name: string) => boolean },
  onProgress?: (loaded: number, total: number) => void,
): Promise<{ spec: Spec; weights: WeightStore }> {
  const dir = subdir ? subFolder(folder, subdir) : folder;
  const spec = parse(await dir.readJson<Config>('config.json'), `${dir.name}/config.json`);
  const file = await firstPresent(dir, files.weightFiles);
  const weights = await loadWeights(gpu, await dir.open(file), { filter: files.keep, onProgress });
  return { spec, weights };
}

export async function firstPresent(folder: ModelFolder, names: readonly string[]): Promise<string> {
  for (const name of names) if (await folder.has(name)) return name;
  throw new Error(`${folder.name}: none of ${names.join(', ')} found`);
}

// CPU references, used by the tests.
export const reference = {
  toRgba8(image: Float32Array, shape: readonly number[], index = 0): Uint8ClampedArray {
    const [, channels, height, width] = shape;
    const count = height * width;
    const out = new Uint8ClampedArray(count * 4);
    const toByte = (x: number) => roundHalfEven(Math.fround(Math.min(Math.max(Math.fround(x / 2 + 0.5), 0), 1) * 255));
    for (let i = 0; i < count; i++) {
      for (let c = 0; c < 3; c++) out[i * 4 + c] = toByte(image[(index * channels + (channels === 3 ? c : 0)) * count + i]);
      out[i * 4 + 3] = 255;
    }
    return out;
  },
  scaleShift: (x: Float32Array, scale: number, shift: number) => x.map((v) => v * scale + shift),
};

/** numpy's round: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
