// diffusers AutoencoderTiny's decoder (TAESD, madebyollin/taesd), from autoencoders/vae.py DecoderTiny:
//   x = tanh(x / 3) * 3                                   (Clamp)
//   layers: conv(latent -> C0) + ReLU,
//           per level i: num_decoder_blocks[i] x AutoencoderTinyBlock,
//                        then, except on the last level, Upsample(x2, nearest) + conv(no bias),
//                        on the last level conv(C -> out_channels, with bias)
//   return x * 2 - 1                                      ([0, 1] -> diffusers' [-1, 1])
// AutoencoderTinyBlock: relu(conv.4(relu(conv.2(relu(conv.0(x))))) + skip(x)), skip = 1x1 conv
// without bias when the channels change, else identity. Keys are `decoder.layers.<n>...`, numbered
// as nn.Sequential numbers them (ReLU and Upsample take numbers but hold no weights).
import { ConfigReader, type ConfigFields } from './config-fields';
import type { GpuContext } from '../gpu/gpu-context';
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import { conv2d } from '../kernels/conv2d';
import { relu, scaledTanh } from '../kernels/activation';
import { upsampleNearest2x } from '../kernels/layout';
import type { ModelFolder } from '../weights/model-folder';
import type { WeightStore } from '../weights/weight-store';
import { loadDecoderParts, scaleShift, WeightedDecoder, type DecodeOptions } from './image-output';

/** config.json of an AutoencoderTiny, Hugging Face field names. */
export interface AutoencoderTinyConfig {
  latent_channels?: number;
  out_channels?: number;
  decoder_block_out_channels?: number[];
  /** Older configs name the decoder's channels this way. */
  block_out_channels?: number[];
  num_decoder_blocks?: number[];
  upsampling_scaling_factor?: number;
  upsample_fn?: string;
  act_fn?: string;
  scaling_factor?: number;
  shift_factor?: number | null;
}

/** What the decoder reads of the config, with diffusers' defaults filled in and checked. */
export interface TaesdDecoderSpec {
  latentChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  numBlocks: number[];
  scalingFactor: number;
  shiftFactor: number;
}

/** TAESD's Clamp bound, tanh(x / 3) * 3: fixed in DecoderTiny.forward, not a config field. */
const LATENT_CLAMP = 3;
const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'];

export function parseTaesdConfig(config: AutoencoderTinyConfig, where = 'config.json'): TaesdDecoderSpec {
  const read = new ConfigReader(config as ConfigFields, where);
  const act = config.act_fn ?? 'relu';
  if (act !== 'relu') throw read.refuse('act_fn', act, 'only "relu"');
  const upsample = config.upsample_fn ?? 'nearest';
  if (upsample !== 'nearest') throw read.refuse('upsample_fn', upsample, 'only "nearest"');
  const factor = config.upsampling_scaling_factor ?? 2;
  if (factor !== 2) throw read.refuse('upsampling_scaling_factor', factor, 'only 2');
  const channelsField = config.decoder_block_out_channels != null ? 'decoder_block_out_channels' : 'block_out_channels';
  const blockOutChannels = read.intList(channelsField, [64, 64, 64, 64], 8192);
  const numBlocks = read.intList('num_decoder_blocks', [3, 3, 3, 1], 64);
  if (numBlocks.length !== blockOutChannels.length) {
    throw read.refuse('num_decoder_blocks', numBlocks, `one count per entry of ${channelsField} ${JSON.stringify(blockOutChannels)}`);
  }
  return {
    latentChannels: read.int('latent_channels', 4, 64),
    outChannels: read.int('out_channels', 3, 64),
    blockOutChannels,
    numBlocks,
    scalingFactor: read.number('scaling_factor', 1, 0, Infinity),
    shiftFactor: read.number('shift_factor', 0, -Infinity, Infinity),
  };
}

/** Records DecoderTiny on `latent` [N, latent_channels, h, w] -> [N, out_channels, 8h, 8w] in [-1, 1]. */
export function taesdDecode(rec: Recorder, latent: Tensor, weights: WeightStore, spec: TaesdDecoderSpec, prefix = 'decoder.layers'): Tensor {
  const conv = (x: Tensor, index: number, name = '', residual?: Tensor) => {
    const key = `${prefix}.${index}${name}`;
    const bias = weights.has(`${key}.bias`) ? weights.get(`${key}.bias`) : undefined;
    return conv2d(rec, x, { weight: weights.get(`${key}.weight`), bias }, { residual, label: key });
  };
  /** Replaces `x` with `next`, giving x back to the pool unless it is the caller's. */
  const step = (x: Tensor, next: Tensor) => {
    if (x !== latent) rec.release(x);
    return next;
  };

  let x = step(latent, scaledTanh(rec, latent, LATENT_CLAMP));
  x = step(x, conv(x, 0));
  x = step(x, relu(rec, x));
  let index = 2; // layers.1 is the ReLU
  spec.numBlocks.forEach((count, level) => {
    for (let b = 0; b < count; b++) x = step(x, tinyBlock(rec, x, weights, `${prefix}.${index++}`));
    const last = level === spec.numBlocks.length - 1;
    if (!last) {
      x = step(x, upsampleNearest2x(rec, x));
      index++;
    }
    x = step(x, conv(x, index++));
  });
  return step(x, scaleShift(rec, x, 2, -1, 'taesd.image'));
}

function tinyBlock(rec: Recorder, x: Tensor, weights: WeightStore, prefix: string): Tensor {
  const conv = (input: Tensor, name: string, opts: { residual?: Tensor; bias?: boolean } = {}) =>
    conv2d(
      rec,
      input,
      { weight: weights.get(`${prefix}.${name}.weight`), bias: opts.bias === false ? undefined : weights.get(`${prefix}.${name}.bias`) },
      { residual: opts.residual, label: `${prefix}.${name}` },
    );
  const skip = weights.has(`${prefix}.skip.weight`) ? conv(x, 'skip', { bias: false }) : x;
  const h0 = conv(x, 'conv.0');
  const a0 = relu(rec, h0);
  rec.release(h0);
  const h2 = conv(a0, 'conv.2');
  rec.release(a0);
  const a2 = relu(rec, h2);
  rec.release(h2);
  // The skip is added in conv.4's epilogue, before the fusing ReLU.
  const sum = conv(a2, 'conv.4', { residual: skip });
  rec.release(a2);
  if (skip !== x) rec.release(skip);
  const out = relu(rec, sum);
  rec.release(sum);
  return out;
}

/** TAESD's decoder with its weights on the GPU. */
export class TaesdDecoder extends WeightedDecoder {
  private constructor(
    gpu: GpuContext,
    readonly spec: TaesdDecoderSpec,
    weights: WeightStore,
  ) {
    super(gpu, 2 ** (spec.numBlocks.length - 1), weights, 'taesd');
  }

  get latentChannels(): number {
    return this.spec.latentChannels;
  }

  /** Reads `subdir`/config.json and the decoder's weights (the encoder's are not uploaded). */
  static async load(gpu: GpuContext, folder: ModelFolder, subdir = 'vae', opts: { onProgress?: (loaded: number, total: number) => void } = {}): Promise<TaesdDecoder> {
    const { spec, weights } = await loadDecoderParts(gpu, folder, subdir, parseTaesdConfig, {
      weightFiles: WEIGHT_FILES,
      keep: (name) => name.startsWith('decoder.'),
    }, opts.onProgress);
    return new TaesdDecoder(gpu, spec, weights);
  }

  record(rec: Recorder, latent: Tensor, opts: DecodeOptions = {}): Tensor {
    const { scalingFactor, shiftFactor } = this.spec;
    const unscale = !opts.skipLatentScaling && (scalingFactor !== 1 || shiftFactor !== 0);
    // diffusers pipelines decode latents / scaling_factor (+ shift_factor); TAESD's is usually 1.
    const input = unscale ? scaleShift(rec, latent, 1 / scalingFactor, shiftFactor, 'taesd.latent') : latent;
    const image = taesdDecode(rec, input, this.weights, this.spec);
    if (input !== latent) rec.release(input);
    return image;
  }
}
