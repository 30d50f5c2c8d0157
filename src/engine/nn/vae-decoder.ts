// diffusers AutoencoderKL's decode path (autoencoders/autoencoder_kl.py, autoencoders/vae.py Decoder):
//   z = latent / scaling_factor (+ shift_factor)      (what pipelines do before vae.decode)
//   z = post_quant_conv(z)                            (1x1, when use_post_quant_conv)
//   h = conv_in(z)
//   h = mid_block: resnet, attention, resnet          (UNetMidBlock2D, eps 1e-6, norm_num_groups)
//   h = up_blocks[i]: layers_per_block + 1 resnets, then nearest 2x + 3x3 conv except on the last
//   image = conv_out(silu(conv_norm_out(h)))
// The mid-block attention is one head over all C channels (attention_head_dim = C) on the H*W
// pixels as tokens: x + to_out(attention(to_q(gn), to_k(gn), to_v(gn))), gn = group_norm(x).
import { ConfigReader, type ConfigFields } from './config-fields';
import type { GpuContext } from '../gpu/gpu-context';
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import { conv2d } from '../kernels/conv2d';
import { groupNorm } from '../kernels/norm';
import { linear } from '../kernels/linear';
import { attention } from '../kernels/attention';
import { nchwToTokens, tokensToNchw, upsampleNearest2x } from '../kernels/layout';
import type { ModelFolder } from '../weights/model-folder';
import type { WeightStore } from '../weights/weight-store';
import { resnetBlock } from './resnet-block';
import { loadDecoderParts, scaleShift, WeightedDecoder, type DecodeOptions } from './image-output';

/** config.json of an AutoencoderKL, Hugging Face field names. */
export interface AutoencoderKLConfig {
  latent_channels?: number;
  out_channels?: number;
  up_block_types?: string[];
  block_out_channels?: number[];
  layers_per_block?: number;
  act_fn?: string;
  norm_num_groups?: number;
  scaling_factor?: number;
  shift_factor?: number | null;
  latents_mean?: number[] | null;
  latents_std?: number[] | null;
  use_post_quant_conv?: boolean;
  mid_block_add_attention?: boolean;
}

/** What the decoder reads of the config, with diffusers' defaults filled in and checked. */
export interface VaeDecoderSpec {
  latentChannels: number;
  outChannels: number;
  /** Encoder order, as in the config: the decoder walks it from the last entry to the first. */
  blockOutChannels: number[];
  layersPerBlock: number;
  groups: number;
  scalingFactor: number;
  shiftFactor: number;
  postQuantConv: boolean;
  midBlockAttention: boolean;
}

/** Decoder's GroupNorm eps: fixed at 1e-6 in vae.py (Decoder passes resnet_eps=1e-6 everywhere). */
const EPS = 1e-6;
const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'];

export function parseVaeConfig(config: AutoencoderKLConfig, where = 'config.json'): VaeDecoderSpec {
  const read = new ConfigReader(config as ConfigFields, where);
  const act = config.act_fn ?? 'silu';
  if (act !== 'silu') throw read.refuse('act_fn', act, 'only "silu"');
  const blockOutChannels = read.intList('block_out_channels', [64], 8192);
  const upBlocks = config.up_block_types ?? ['UpDecoderBlock2D'];
  if (!Array.isArray(upBlocks) || upBlocks.length !== blockOutChannels.length || upBlocks.some((t) => t !== 'UpDecoderBlock2D')) {
    throw read.refuse('up_block_types', upBlocks, `one "UpDecoderBlock2D" per entry of block_out_channels ${JSON.stringify(blockOutChannels)}`);
  }
  // SDXL-style per-channel latent statistics change how pipelines unscale latents; not implemented.
  if (config.latents_mean != null) throw read.refuse('latents_mean', config.latents_mean, 'only null');
  if (config.latents_std != null) throw read.refuse('latents_std', config.latents_std, 'only null');
  const groups = read.int('norm_num_groups', 32, 1024);
  const badGroups = blockOutChannels.find((c) => c % groups !== 0);
  if (badGroups !== undefined) throw read.refuse('norm_num_groups', groups, `must divide every block_out_channels entry, not ${badGroups}`);
  return {
    latentChannels: read.int('latent_channels', 4, 64),
    outChannels: read.int('out_channels', 3, 64),
    blockOutChannels,
    layersPerBlock: read.int('layers_per_block', 1, 16),
    groups,
    scalingFactor: read.number('scaling_factor', 0.18215, 0, Infinity),
    shiftFactor: read.number('shift_factor', 0, -Infinity, Infinity),
    postQuantConv: read.bool('use_post_quant_conv', true),
    midBlockAttention: read.bool('mid_block_add_attention', true),
  };
}

/** Records post_quant_conv + Decoder on `z` (already unscaled) [N, latent, h, w] -> [N, out, h * 2^(levels-1), ...]. */
export function vaeDecode(rec: Recorder, z: Tensor, weights: WeightStore, spec: VaeDecoderSpec): Tensor {
  const resnet = { groups: spec.groups, eps: EPS };
  const conv = (x: Tensor, key: string) => conv2d(rec, x, { weight: weights.get(`${key}.weight`), bias: weights.get(`${key}.bias`) }, { label: key });
  /** Replaces `x` with `next`, giving x back to the pool unless it is the caller's. */
  const step = (x: Tensor, next: Tensor) => {
    if (x !== z) rec.release(x);
    return next;
  };

  let x = z;
  if (spec.postQuantConv) x = step(x, conv(x, 'post_quant_conv'));
  x = step(x, conv(x, 'decoder.conv_in'));

  x = step(x, resnetBlock(rec, x, weights, 'decoder.mid_block.resnets.0', resnet));
  if (spec.midBlockAttention) x = step(x, midBlockAttention(rec, x, weights, 'decoder.mid_block.attentions.0', spec));
  x = step(x, resnetBlock(rec, x, weights, 'decoder.mid_block.resnets.1', resnet));

  const levels = spec.blockOutChannels.length;
  for (let i = 0; i < levels; i++) {
    const prefix = `decoder.up_blocks.${i}`;
    for (let r = 0; r <= spec.layersPerBlock; r++) x = step(x, resnetBlock(rec, x, weights, `${prefix}.resnets.${r}`, resnet));
    if (i < levels - 1) {
      x = step(x, upsampleNearest2x(rec, x));
      x = step(x, conv(x, `${prefix}.upsamplers.0.conv`));
    }
  }

  x = step(x, groupNorm(rec, x, weights.get('decoder.conv_norm_out.weight'), weights.get('decoder.conv_norm_out.bias'), { groups: spec.groups, eps: EPS, silu: true, label: 'decoder.conv_norm_out' }));
  return step(x, conv(x, 'decoder.conv_out'));
}

/**
 * diffusers Attention (residual_connection=True, rescale_output_factor=1) on a feature map, one
 * head of all C channels: softmax(q kᵀ / sqrt(C)) v over the H*W pixels.
 */
function midBlockAttention(rec: Recorder, x: Tensor, weights: WeightStore, prefix: string, spec: VaeDecoderSpec): Tensor {
  const [, , height, width] = x.shape;
  const normed = groupNorm(rec, x, weights.get(`${prefix}.group_norm.weight`), weights.get(`${prefix}.group_norm.bias`), { groups: spec.groups, eps: EPS, label: `${prefix}.group_norm` });
  const tokens = nchwToTokens(rec, normed);
  rec.release(normed);
  const project = (input: Tensor, name: ProjectionName, residual?: Tensor) => {
    const { weight, bias } = attentionProjection(weights, prefix, name);
    return linear(rec, input, weight, bias, { residual, label: `${prefix}.${name}` });
  };
  const q = project(tokens, 'to_q');
  const k = project(tokens, 'to_k');
  const v = project(tokens, 'to_v');
  rec.release(tokens);
  const attended = attention(rec, q, k, v, { heads: 1 });
  rec.release(q, k, v);
  // The residual joins in to_out's epilogue, so x is needed as tokens too.
  const residual = nchwToTokens(rec, x);
  const out = project(attended, 'to_out.0', residual);
  rec.release(attended, residual);
  const map = tokensToNchw(rec, out, height, width);
  rec.release(out);
  return map;
}

type ProjectionName = 'to_q' | 'to_k' | 'to_v' | 'to_out.0';

/** Checkpoints converted before diffusers 0.14 name the mid-block attention's projections
 * query / key / value / proj_attn (diffusers maps them in _convert_deprecated_attention_blocks). */
const DEPRECATED_NAMES: Record<ProjectionName, string> = { to_q: 'query', to_k: 'key', to_v: 'value', 'to_out.0': 'proj_attn' };

function attentionProjection(weights: WeightStore, prefix: string, name: ProjectionName): { weight: Tensor; bias: Tensor } {
  const key = weights.has(`${prefix}.${name}.weight`) ? `${prefix}.${name}` : `${prefix}.${DEPRECATED_NAMES[name]}`;
  const weight = weights.get(`${key}.weight`);
  // Some conversions keep the original LDM's 1x1 convolutions, [C, C, 1, 1]: the same numbers as a linear weight.
  const asMatrix = weight.shape.length === 4 && weight.shape[2] === 1 && weight.shape[3] === 1 ? { ...weight, shape: weight.shape.slice(0, 2) } : weight;
  return { weight: asMatrix, bias: weights.get(`${key}.bias`) };
}

/** The SD VAE's decoder with its weights on the GPU. */
export class VaeDecoder extends WeightedDecoder {
  private constructor(
    gpu: GpuContext,
    readonly spec: VaeDecoderSpec,
    weights: WeightStore,
  ) {
    super(gpu, 2 ** (spec.blockOutChannels.length - 1), weights, 'vae');
  }

  get latentChannels(): number {
    return this.spec.latentChannels;
  }

  /** Reads `subdir`/config.json and the decoder's weights (post_quant_conv and decoder.*; the encoder's are not uploaded). */
  static async load(gpu: GpuContext, folder: ModelFolder, subdir = 'vae', opts: { onProgress?: (loaded: number, total: number) => void; preferFp16?: boolean } = {}): Promise<VaeDecoder> {
    const { spec, weights } = await loadDecoderParts(gpu, folder, subdir, parseVaeConfig, {
      weightFiles: opts.preferFp16 ? [...WEIGHT_FILES].reverse() : WEIGHT_FILES,
      keep: (name) => name.startsWith('decoder.') || name.startsWith('post_quant_conv.'),
    }, opts.onProgress);
    return new VaeDecoder(gpu, spec, weights);
  }

  record(rec: Recorder, latent: Tensor, opts: DecodeOptions = {}): Tensor {
    const { scalingFactor, shiftFactor } = this.spec;
    // diffusers pipelines: vae.decode(latents / scaling_factor + shift_factor).
    const z = opts.skipLatentScaling ? latent : scaleShift(rec, latent, 1 / scalingFactor, shiftFactor, 'vae.latent');
    const image = vaeDecode(rec, z, this.weights, this.spec);
    if (z !== latent) rec.release(z);
    return image;
  }
}
