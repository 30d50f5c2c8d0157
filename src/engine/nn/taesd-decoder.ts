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
import type { ByteSource } from '../weights/byte-source';
import { loadWeights } from '../weights/gpu-weights';
import type { ModelFolder } from '../weights/model-folder';
import { parseSafetensorsHeader } from '../weights/safetensors';
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

/** Where the decoder's nn.Sequential keys start: diffusers' `decoder.layers.0` is the first conv;
 * madebyollin's own taesd_decoder.safetensors numbers from the root, with the Clamp as layer 0. */
export interface TaesdKeyLayout {
  prefix: string;
  first: number;
}
export const DIFFUSERS_TAESD_KEYS: TaesdKeyLayout = { prefix: 'decoder.layers', first: 0 };

/** Records DecoderTiny on `latent` [N, latent_channels, h, w] -> [N, out_channels, 8h, 8w] in [-1, 1]. */
export function taesdDecode(rec: Recorder, latent: Tensor, weights: WeightStore, spec: TaesdDecoderSpec, keys: TaesdKeyLayout = DIFFUSERS_TAESD_KEYS): Tensor {
  const layer = (index: number) => (keys.prefix ? `${keys.prefix}.${index}` : String(index));
  const conv = (x: Tensor, index: number, name = '', residual?: Tensor) => {
    const key = `${layer(index)}${name}`;
    const bias = weights.has(`${key}.bias`) ? weights.get(`${key}.bias`) : undefined;
    return conv2d(rec, x, { weight: weights.get(`${key}.weight`), bias }, { residual, label: key });
  };
  /** Replaces `x` with `next`, giving x back to the pool unless it is the caller's. */
  const step = (x: Tensor, next: Tensor) => {
    if (x !== latent) rec.release(x);
    return next;
  };

  let x = step(latent, scaledTanh(rec, latent, LATENT_CLAMP));
  x = step(x, conv(x, keys.first));
  x = step(x, relu(rec, x));
  let index = keys.first + 2; // the layer after the first conv is its ReLU
  spec.numBlocks.forEach((count, level) => {
    for (let b = 0; b < count; b++) x = step(x, tinyBlock(rec, x, weights, layer(index++)));
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
    private readonly keys: TaesdKeyLayout = DIFFUSERS_TAESD_KEYS,
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

  /** One safetensors file without a config: a diffusers AutoencoderTiny's weights (`decoder.layers.*`)
   * or madebyollin's taesd_decoder.safetensors (`1.weight`, `3.conv.0.weight`, ...). The config is
   * read from the keys and shapes (taesdSpecFromKeys); the scaling factor is TAESD's, 1. */
  static async loadSingleFile(gpu: GpuContext, source: ByteSource, opts: { onProgress?: (loaded: number, total: number) => void } = {}): Promise<TaesdDecoder> {
    const { tensors } = await parseSafetensorsHeader(source);
    const { spec, keys } = taesdSpecFromKeys(tensors, source.name);
    const layer = keys.prefix ? `${keys.prefix}.` : '';
    const weights = await loadWeights(gpu, source, { filter: (name) => name.startsWith(layer) && /^\d/.test(name.slice(layer.length)), onProgress: opts.onProgress });
    return new TaesdDecoder(gpu, spec, weights, keys);
  }

  record(rec: Recorder, latent: Tensor, opts: DecodeOptions = {}): Tensor {
    const { scalingFactor, shiftFactor } = this.spec;
    const unscale = !opts.skipLatentScaling && (scalingFactor !== 1 || shiftFactor !== 0);
    // diffusers pipelines decode latents / scaling_factor (+ shift_factor); TAESD's is usually 1.
    const input = unscale ? scaleShift(rec, latent, 1 / scalingFactor, shiftFactor, 'taesd.latent') : latent;
    const image = taesdDecode(rec, input, this.weights, this.spec, this.keys);
    if (input !== latent) rec.release(input);
    return image;
  }
}

/**
 * DecoderTiny's spec from a weight file's keys and shapes, walking its nn.Sequential as
 * taesdDecode does: the first conv gives latent_channels; each level is a run of blocks
 * (`N.conv.0.weight`, whose out channels are the level's), then either a weightless Upsample and a
 * conv, or, on the last level, the conv to out_channels.
 */
export function taesdSpecFromKeys(tensors: readonly { name: string; shape: readonly number[] }[], file: string): { spec: TaesdDecoderSpec; keys: TaesdKeyLayout } {
  const shapes = new Map(tensors.map((t) => [t.name, t.shape]));
  const keys = shapes.has('decoder.layers.0.weight') ? DIFFUSERS_TAESD_KEYS : shapes.has('1.weight') && shapes.has('3.conv.0.weight') ? { prefix: '', first: 1 } : undefined;
  if (!keys) {
    const some = tensors.slice(0, 3).map((t) => t.name).join(', ');
    throw new Error(`${file}: not a TAESD decoder (expected decoder.layers.0.weight, as diffusers' AutoencoderTiny saves it, or 1.weight as in taesd_decoder.safetensors; found ${some || 'no tensors'})`);
  }
  const shape = (index: number, name = '.weight') => shapes.get(`${keys.prefix ? `${keys.prefix}.` : ''}${index}${name}`);
  const first = shape(keys.first);
  if (first?.length !== 4) throw new Error(`${file}: the first conv of the TAESD decoder has shape ${JSON.stringify(first)}, expected [out, latent_channels, 3, 3]`);
  const numBlocks: number[] = [];
  const blockOutChannels: number[] = [];
  let index = keys.first + 2;
  for (let level = 0; level < 16; level++) {
    let count = 0;
    let channels = first[0];
    for (let block = shape(index, '.conv.0.weight'); block; block = shape(index, '.conv.0.weight')) {
      channels = block[0];
      count++;
      index++;
    }
    numBlocks.push(count);
    blockOutChannels.push(channels);
    const conv = shape(index);
    if (conv) {
      // No Upsample before it: the last level's conv to out_channels.
      return { spec: { latentChannels: first[1], outChannels: conv[0], blockOutChannels, numBlocks, scalingFactor: 1, shiftFactor: 0 }, keys };
    }
    if (!shape(index + 1)) throw new Error(`${file}: the TAESD decoder's layers end at layer ${index} without the conv to RGB`);
    index += 2;
  }
  throw new Error(`${file}: more than 16 levels of TAESD decoder blocks`);
}
