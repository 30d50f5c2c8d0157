// Reads a diffusers UNet2DConditionModel config.json into the resolved per-block structure the
// engine builds from. Every field SD 1.x, SD 2.x / SD-Turbo and BK-SDM use is supported; any
// field set to something else is refused with an error that names it, never silently ignored.

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';

export interface ResolvedBlock {
  type: DownBlockType | UpBlockType;
  hasCrossAttention: boolean;
  inChannels: number;
  outChannels: number;
  /** Resnets in this block (up blocks have layers_per_block + 1). */
  layers: number;
  heads: number;
  transformerLayers: number;
  /** Downsampler (down blocks) or upsampler (up blocks) at the end. */
  resample: boolean;
  /** Up blocks: channels of the block before this one (the first resnet's input). */
  prevOutChannels?: number;
}

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  down: ResolvedBlock[];
  mid: { channels: number; heads: number; transformerLayers: number; outputScaleFactor: number } | null;
  up: ResolvedBlock[];
  normGroups: number;
  normEps: number;
  crossAttentionDim: number;
  useLinearProjection: boolean;
  flipSinToCos: boolean;
  freqShift: number;
  timeEmbedDim: number;
  sampleSize?: number;
}

type Json = Record<string, unknown>;

/** Fields that must hold exactly these values (null/false/default) because we do not implement the alternative. */
const FIXED_FIELDS: Record<string, unknown[]> = {
  _class_name: ['UNet2DConditionModel', undefined],
  center_input_sample: [false, undefined],
  only_cross_attention: [false, undefined],
  dual_cross_attention: [false, undefined],
  class_embed_type: [null, undefined],
  addition_embed_type: [null, undefined],
  num_class_embeds: [null, undefined],
  encoder_hid_dim: [null, undefined],
  encoder_hid_dim_type: [null, undefined],
  time_cond_proj_dim: [null, undefined],
  timestep_post_act: [null, undefined],
  time_embedding_act_fn: [null, undefined],
  time_embedding_type: ['positional', undefined],
  resnet_time_scale_shift: ['default', undefined],
  resnet_skip_time_act: [false, undefined],
  resnet_out_scale_factor: [1, 1.0, undefined],
  act_fn: ['silu', undefined],
  attention_type: ['default', undefined],
  conv_in_kernel: [3, undefined],
  conv_out_kernel: [3, undefined],
  downsample_padding: [1, undefined],
  cross_attention_norm: [null, undefined],
  projection_class_embeddings_input_dim: [null, undefined],
  class_embeddings_concat: [false, undefined],
  mid_block_only_cross_attention: [null, false, undefined],
  addition_time_embed_dim: [null, undefined],
};

/**
 * Upper bounds far above every real checkpoint (SD 1.x/2.x, SDXL: channels ≤ 1280, ≤ 3 resnets
 * per block, ≤ 20 heads, ≤ 10 transformer layers, sample_size ≤ 128), so that a broken or hostile
 * config is refused by name instead of allocating absurd buffers later.
 */
const LIMITS = {
  blocks: 8,
  channels: 8192,
  inOutChannels: 64,
  layersPerBlock: 16,
  heads: 256,
  transformerLayers: 64,
  normGroups: 1024,
  crossAttentionDim: 8192,
  timeEmbedDim: 32768,
  sampleSize: 1024,
} as const;

export class UnsupportedConfigError extends Error {
  constructor(field: string, value: unknown, what = 'is not supported') {
    super(`UNet config: ${field} = ${JSON.stringify(value)} ${what}`);
    this.name = 'UnsupportedConfigError';
  }
}

export function parseUNetConfig(json: unknown): UNetConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('UNet config: config.json is not a JSON object');
  const c = json as Json;
  for (const [field, allowed] of Object.entries(FIXED_FIELDS)) {
    if (!allowed.includes(c[field] as never)) throw new UnsupportedConfigError(field, c[field]);
  }

  const downTypes = stringList(c, 'down_block_types', ['CrossAttnDownBlock2D', 'DownBlock2D']) as DownBlockType[];
  const upTypes = stringList(c, 'up_block_types', ['CrossAttnUpBlock2D', 'UpBlock2D']) as UpBlockType[];
  const blocks = downTypes.length;
  if (blocks > LIMITS.blocks) throw new UnsupportedConfigError('down_block_types', c.down_block_types, `has ${blocks} blocks; at most ${LIMITS.blocks} are supported`);
  if (upTypes.length !== blocks) throw new UnsupportedConfigError('up_block_types', c.up_block_types, `must have as many entries as down_block_types (${blocks})`);
  const channels = intList(c, 'block_out_channels', blocks, undefined, LIMITS.channels);
  const midType = c.mid_block_type === undefined ? 'UNetMidBlock2DCrossAttn' : c.mid_block_type;
  if (midType !== 'UNetMidBlock2DCrossAttn' && midType !== null) throw new UnsupportedConfigError('mid_block_type', midType);

  const layersPerBlock = intList(c, 'layers_per_block', blocks, 2, LIMITS.layersPerBlock);
  const transformerLayers = intList(c, 'transformer_layers_per_block', blocks, 1, LIMITS.transformerLayers);
  // diffusers' naming quirk: attention_head_dim is read as the number of heads when
  // num_attention_heads is absent (unet_2d_condition.py).
  const heads =
    c.num_attention_heads != null ? intList(c, 'num_attention_heads', blocks, undefined, LIMITS.heads) : intList(c, 'attention_head_dim', blocks, 8, LIMITS.heads);
  const reverseTransformerLayers =
    c.reverse_transformer_layers_per_block == null
      ? [...transformerLayers].reverse()
      : intList(c, 'reverse_transformer_layers_per_block', blocks, undefined, LIMITS.transformerLayers);

  const down: ResolvedBlock[] = downTypes.map((type, i) => ({
    type,
    hasCrossAttention: type === 'CrossAttnDownBlock2D',
    inChannels: i === 0 ? channels[0] : channels[i - 1],
    outChannels: channels[i],
    layers: layersPerBlock[i],
    heads: heads[i],
    transformerLayers: transformerLayers[i],
    resample: i < blocks - 1,
  }));

  const reversedChannels = [...channels].reverse();
  const reversedHeads = [...heads].reverse();
  const reversedLayers = [...layersPerBlock].reverse();
  const up: ResolvedBlock[] = upTypes.map((type, i) => ({
    type,
    hasCrossAttention: type === 'CrossAttnUpBlock2D',
    prevOutChannels: i === 0 ? reversedChannels[0] : reversedChannels[i - 1],
    outChannels: reversedChannels[i],
    inChannels: reversedChannels[Math.min(i + 1, blocks - 1)],
    layers: reversedLayers[i] + 1,
    heads: reversedHeads[i],
    transformerLayers: reverseTransformerLayers[i],
    resample: i < blocks - 1,
  }));

  for (const [i, b] of [...down, ...up].entries()) {
    if (b.hasCrossAttention && b.outChannels % b.heads !== 0) {
      throw new UnsupportedConfigError('attention_head_dim', c.attention_head_dim, `gives ${b.heads} heads, which do not divide ${b.outChannels} channels (block ${i})`);
    }
  }

  const normGroups = int(c, 'norm_num_groups', 32, LIMITS.normGroups);
  for (const ch of channels) if (ch % normGroups !== 0) throw new UnsupportedConfigError('norm_num_groups', normGroups, `does not divide block_out_channels ${ch}`);
  const timeEmbedDim = c.time_embedding_dim == null ? channels[0] * 4 : int(c, 'time_embedding_dim', 0, LIMITS.timeEmbedDim);
  const normEps = num(c, 'norm_eps', 1e-5);
  if (!(normEps > 0 && normEps < 1)) throw new UnsupportedConfigError('norm_eps', c.norm_eps, 'must lie between 0 and 1 (exclusive)');
  const sampleSize = c.sample_size == null ? undefined : int(c, 'sample_size', 0, LIMITS.sampleSize);

  return {
    inChannels: int(c, 'in_channels', 4, LIMITS.inOutChannels),
    outChannels: int(c, 'out_channels', 4, LIMITS.inOutChannels),
    blockOutChannels: channels,
    down,
    mid:
      midType === null
        ? null
        : {
            channels: channels[blocks - 1],
            heads: heads[blocks - 1],
            transformerLayers: transformerLayers[blocks - 1],
            outputScaleFactor: num(c, 'mid_block_scale_factor', 1),
          },
    up,
    normGroups,
    normEps,
    crossAttentionDim: crossAttentionDim(c),
    useLinearProjection: bool(c, 'use_linear_projection', false),
    flipSinToCos: bool(c, 'flip_sin_to_cos', true),
    freqShift: num(c, 'freq_shift', 0),
    timeEmbedDim,
    sampleSize,
  };
}

function crossAttentionDim(c: Json): number {
  const v = c.cross_attention_dim ?? 1280;
  if (Array.isArray(v)) {
    if (v.every((x) => x === v[0]) && typeof v[0] === 'number') return v[0];
    throw new UnsupportedConfigError('cross_attention_dim', v, 'differs between blocks');
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > LIMITS.crossAttentionDim) {
    throw new UnsupportedConfigError('cross_attention_dim', v, `must be a positive integer up to ${LIMITS.crossAttentionDim}`);
  }
  return v;
}

function int(c: Json, field: string, fallback: number, max: number): number {
  const v = c[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > max) throw new UnsupportedConfigError(field, v, `must be a positive integer up to ${max}`);
  return v;
}

function num(c: Json, field: string, fallback: number): number {
  const v = c[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UnsupportedConfigError(field, v, 'must be a number');
  return v;
}

function bool(c: Json, field: string, fallback: boolean): boolean {
  const v = c[field] ?? fallback;
  if (typeof v !== 'boolean') throw new UnsupportedConfigError(field, v, 'must be true or false');
  return v;
}

/** An int applied to every block, or a list with one entry per block. */
function intList(c: Json, field: string, blocks: number, fallback: number | undefined, max: number): number[] {
  const v = c[field] ?? fallback;
  if (v === undefined) throw new UnsupportedConfigError(field, v, 'is required');
  const list = typeof v === 'number' ? new Array<number>(blocks).fill(v) : v;
  if (!Array.isArray(list) || list.length !== blocks || !list.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0 && x <= max)) {
    throw new UnsupportedConfigError(field, v, `must be a positive integer up to ${max}, or a list of ${blocks} of them`);
  }
  return list as number[];
}

function stringList(c: Json, field: string, allowed: string[]): string[] {
  const v = c[field];
  if (!Array.isArray(v) || v.length === 0) throw new UnsupportedConfigError(field, v, 'must be a non-empty list');
  for (const t of v) if (!allowed.includes(t as string)) throw new UnsupportedConfigError(field, v, `has unsupported block type ${JSON.stringify(t)}`);
  return v as string[];
}
