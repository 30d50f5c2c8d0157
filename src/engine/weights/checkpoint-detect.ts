// What a single-file checkpoint (original CompVis / LDM layout) holds, read from its safetensors
// header alone: the family, the components found, and why it is refused when it cannot run here.
// Then the diffusers configs its keys and shapes imply, as ComfyUI's model_detection.py infers them
// (learned from it and from diffusers' single_file_utils.py; no code copied).
import type { SafetensorsHeader, SafetensorsTensorInfo } from './safetensors';

export type CheckpointFamily = 'sd1' | 'sd2' | 'sd-turbo' | 'bk-sdm' | 'small';
/** OpenAI CLIP ViT-L (SD 1.x, "cond_stage_model.transformer.") or OpenCLIP (SD 2.x, "cond_stage_model.model."). */
export type TextEncoderKind = 'clip' | 'openclip';

export const UNET_PREFIX = 'model.diffusion_model.';
export const CLIP_PREFIX = 'cond_stage_model.transformer.';
export const OPENCLIP_PREFIX = 'cond_stage_model.model.';
export const VAE_PREFIXES = ['first_stage_model.', 'vae.', ''] as const;

export interface CheckpointDetection {
  file: string;
  /** Why the file cannot be loaded, naming what was found; undefined when it can. */
  refusal?: string;
  family?: CheckpointFamily;
  /** One line for people: "SD 2.x (OpenCLIP text encoder, 1024-d cross-attention)". */
  description: string;
  found: {
    unet: boolean;
    textEncoder?: TextEncoderKind;
    /** The prefix of the VAE's keys, when the file has one. */
    vaePrefix?: string;
    tensors: number;
    dtypes: string[];
  };
  /** Things the user should know: guesses and what they rest on. */
  notes: string[];
  /** The tensor whose spread tells SD 2.x v-prediction from epsilon (ComfyUI's test); see guessPredictionType. */
  predictionProbe?: string;
}

type Shapes = Map<string, SafetensorsTensorInfo>;

/** Reads the header's keys and shapes; never the weights. */
export function detectCheckpoint(header: SafetensorsHeader): CheckpointDetection {
  const t = header.byName;
  const names = [...t.keys()];
  const found: CheckpointDetection['found'] = {
    unet: t.has(`${UNET_PREFIX}input_blocks.0.0.weight`),
    textEncoder: names.some((n) => n.startsWith(OPENCLIP_PREFIX)) ? 'openclip' : names.some((n) => n.startsWith(CLIP_PREFIX)) ? 'clip' : undefined,
    vaePrefix: VAE_PREFIXES.find((p) => t.has(`${p}decoder.conv_in.weight`)),
    tensors: names.length,
    dtypes: [...new Set(header.tensors.map((x) => x.dtype))].sort(),
  };
  const result: CheckpointDetection = { file: header.file, found, notes: [], description: '' };
  const refuse = (what: string, why: string): CheckpointDetection => ({ ...result, description: what, refusal: `${header.file}: ${what}. ${why}` });
  const has = (pattern: RegExp) => names.find((n) => pattern.test(n));
  const sdOnly = 'Only Stable Diffusion 1.x / 2.x text-to-image checkpoints (and SD-Turbo, BK-SDM) can be loaded here';

  const lora = has(/(^|\.)lora_(up|down|A|B)\b|^lora_(unet|te)_/);
  if (lora) return refuse(`a LoRA file (keys like "${lora}")`, 'A LoRA modifies a base model; load the base checkpoint instead');
  const sd3 = has(/(^|\.)joint_blocks\.\d+\./);
  if (sd3) return refuse(`a Stable Diffusion 3 checkpoint (MMDiT keys like "${sd3}")`, sdOnly);
  const flux = has(/(^|\.)double_blocks\.\d+\./);
  if (flux) return refuse(`a Flux checkpoint (keys like "${flux}")`, sdOnly);
  const sgm = has(/^conditioner\.embedders\./);
  const label = t.get(`${UNET_PREFIX}label_emb.0.0.weight`);
  const xl = has(/^conditioner\.embedders\.1\./);
  if (xl || label?.shape[1] === 2816) return refuse(`an SDXL checkpoint (${xl ? `"${xl}"` : `label_emb with ${label!.shape[1]} inputs`})`, sdOnly);
  if (sgm) return refuse(`an SGM-layout checkpoint ("${sgm}"), the layout of SDXL and its relatives`, sdOnly);
  if (label) return refuse(`an unCLIP / image-variation checkpoint (label_emb with ${label.shape[1]} inputs)`, sdOnly);
  if (has(/^control_model\./)) return refuse('a ControlNet ("control_model.*" keys)', sdOnly);
  if (!found.unet) {
    const prefixes = [...new Set(names.map((n) => n.split('.').slice(0, 2).join('.')))].slice(0, 6);
    return refuse(`no UNet ("${UNET_PREFIX}input_blocks.0.0.weight" is missing; found ${names.length} tensors under ${prefixes.map((p) => `"${p}"`).join(', ') || 'nothing'})`, 'A single-file checkpoint holds model.diffusion_model.*, first_stage_model.* and cond_stage_model.*; a standalone VAE goes in the VAE slot');
  }
  const inChannels = t.get(`${UNET_PREFIX}input_blocks.0.0.weight`)!.shape[1];
  if (inChannels === 9) return refuse('an inpainting UNet (9 input channels: latents, mask, masked image)', 'Inpainting needs an image and a mask; use the text-to-image version of this model');
  if (inChannels !== 4) return refuse(`a UNet with ${inChannels} input channels (instruct-pix2pix has 8; text-to-image SD has 4)`, sdOnly);
  if (!found.textEncoder) return refuse('a UNet without its text encoder (no "cond_stage_model.*" keys)', 'Use a full checkpoint with the text encoder');

  const unet = inferUNetConfig(t, found.textEncoder);
  if ('refusal' in unet) return refuse(unet.refusal, sdOnly);
  const c = unet.config;
  const channels = c.block_out_channels as number[];
  const layers = c.layers_per_block as number[] | number;
  const full = channels[0] === 320 && channels.length === 4 && c.mid_block_type !== null && (Array.isArray(layers) ? layers.every((l) => l === 2) : layers === 2);
  const sd2 = found.textEncoder === 'openclip';
  let family: CheckpointFamily = channels[0] === 320 ? (full ? (sd2 ? 'sd2' : 'sd1') : 'bk-sdm') : 'small';
  const turboHint = [header.file, ...Object.values(header.metadata)].find((s) => /turbo/i.test(s));
  if (family === 'sd2' && turboHint) {
    family = 'sd-turbo';
    result.notes.push(`SD-Turbo has SD 2.1's weights layout and cannot be told from it by its weights; guessed from "${turboHint.slice(0, 80)}". Switch the defaults if this is SD 2.x.`);
  }
  const crossDim = c.cross_attention_dim as number;
  const text = sd2 ? 'OpenCLIP text encoder' : 'CLIP text encoder';
  const names_: Record<CheckpointFamily, string> = { sd1: 'SD 1.x', sd2: 'SD 2.x', 'sd-turbo': 'SD-Turbo (guess)', 'bk-sdm': 'BK-SDM / small SD (blocks removed)', small: `a small SD-${sd2 ? '2' : '1'}-style model` };
  const description = `${names_[family]} (${text}, ${crossDim}-d cross-attention, UNet channels ${channels.join('/')}${c.mid_block_type === null ? ', no mid block' : ''})`;
  if (!found.vaePrefix) result.notes.push('The file has no VAE ("first_stage_model.*"); choose a VAE file to decode images.');
  const probe = sd2 ? lastOutputAttentionNorm(t) : undefined;
  return { ...result, family, description, predictionProbe: probe };
}

/** ComfyUI (supported_models.py, SD20.model_type) reads output_blocks.11.1.transformer_blocks.0.norm1.bias,
 * the last output block's first transformer norm in SD 2.x; here the last output block's, whatever the layout. */
function lastOutputAttentionNorm(t: Shapes): string | undefined {
  const indices = blockIndices(t, 'output_blocks').reverse();
  return indices.map((i) => `${UNET_PREFIX}output_blocks.${i}.1.transformer_blocks.0.norm1.bias`).find((n) => t.has(n));
}

function blockIndices(t: Shapes, kind: 'input_blocks' | 'output_blocks'): number[] {
  const re = new RegExp(`^${UNET_PREFIX.replace(/\./g, '\\.')}${kind}\\.(\\d+)\\.`);
  const set = new Set<number>();
  for (const name of t.keys()) {
    const m = re.exec(name);
    if (m) set.add(Number(m[1]));
  }
  return [...set].sort((a, b) => a - b);
}

interface Level {
  layers: number;
  channels: number;
  attention: boolean;
  depth: number;
}

/**
 * A diffusers UNet2DConditionModel config.json for the UNet under "model.diffusion_model.", from
 * keys and shapes: levels and their resnets from input_blocks (a level ends at its ".0.op"
 * downsampler), attention and its depth, cross_attention_dim from attn2.to_k, linear or 1×1-conv
 * projections, the mid block. What shapes cannot tell follows SD: GroupNorm 32, eps 1e-5, and
 * heads as ComfyUI sets them (8 heads for SD 1.x-style models; 64 channels per head with the
 * OpenCLIP text encoder of SD 2.x).
 */
export function inferUNetConfig(t: Shapes, textEncoder: TextEncoderKind): { config: Record<string, unknown> } | { refusal: string } {
  const p = UNET_PREFIX;
  const shape = (name: string) => t.get(p + name)?.shape;
  const inputs = blockIndices(t, 'input_blocks');
  const levels: Level[] = [];
  let level: Level = { layers: 0, channels: shape('input_blocks.0.0.weight')![0], attention: false, depth: 0 };
  let crossDim: number | undefined;
  let linear = false;
  const attention = (block: string) => {
    const depth = countIndices(t, `${p}${block}.1.transformer_blocks.`);
    if (depth === 0) return 0;
    crossDim ??= shape(`${block}.1.transformer_blocks.0.attn2.to_k.weight`)?.[1];
    linear = shape(`${block}.1.proj_in.weight`)?.length === 2;
    return depth;
  };
  for (const i of inputs.filter((i) => i > 0)) {
    if (t.has(`${p}input_blocks.${i}.0.op.weight`)) {
      levels.push(level);
      level = { layers: 0, channels: level.channels, attention: false, depth: 0 };
    } else if (t.has(`${p}input_blocks.${i}.0.in_layers.0.weight`)) {
      level.layers++;
      level.channels = shape(`input_blocks.${i}.0.out_layers.3.weight`)![0];
      const depth = attention(`input_blocks.${i}`);
      if (depth) [level.attention, level.depth] = [true, depth];
    } else {
      return { refusal: `an unknown UNet layout (input_blocks.${i} is neither a ResBlock nor a downsampler)` };
    }
  }
  levels.push(level);
  if (levels.some((l) => l.layers === 0)) return { refusal: 'an unknown UNet layout (a level without ResBlocks)' };

  // Output blocks: diffusers' up blocks mirror the levels with one more resnet each.
  const outputs = blockIndices(t, 'output_blocks');
  const upLayers: number[] = [0];
  for (const i of outputs) {
    if (t.has(`${p}output_blocks.${i}.0.in_layers.0.weight`)) upLayers[upLayers.length - 1]++;
    const upsampler = t.has(`${p}output_blocks.${i}.1.conv.weight`) || t.has(`${p}output_blocks.${i}.2.conv.weight`);
    if (upsampler) upLayers.push(0);
  }
  const expectedUp = levels.map((l) => l.layers + 1).reverse();
  if (upLayers.join() !== expectedUp.join()) {
    return { refusal: `a UNet whose output_blocks (${upLayers.join('/')} ResBlocks per level) do not mirror its input_blocks (${levels.map((l) => l.layers).join('/')})` };
  }

  const midAttention = t.has(`${p}middle_block.1.proj_in.weight`);
  if (!midAttention && t.has(`${p}middle_block.0.in_layers.0.weight`)) return { refusal: 'a UNet whose middle block has no attention (not an SD layout)' };
  if (midAttention) attention('middle_block');
  if (crossDim === undefined) return { refusal: 'a UNet without cross-attention' };

  const channels = levels.map((l) => l.channels);
  const perHead64 = textEncoder === 'openclip';
  const heads = channels.map((ch) => (perHead64 ? Math.max(1, Math.floor(ch / 64)) : 8));
  const layersPerBlock = levels.map((l) => l.layers);
  const timeDim = shape('time_embed.0.weight')?.[0];
  const config: Record<string, unknown> = {
    _class_name: 'UNet2DConditionModel',
    in_channels: shape('input_blocks.0.0.weight')![1],
    out_channels: shape('out.2.weight')?.[0] ?? 4,
    block_out_channels: channels,
    down_block_types: levels.map((l) => (l.attention ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
    up_block_types: [...levels].reverse().map((l) => (l.attention ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
    mid_block_type: midAttention ? 'UNetMidBlock2DCrossAttn' : null,
    layers_per_block: layersPerBlock.every((l) => l === layersPerBlock[0]) ? layersPerBlock[0] : layersPerBlock,
    transformer_layers_per_block: levels.map((l) => Math.max(1, l.depth)),
    // diffusers reads attention_head_dim as the number of heads (unet_2d_condition.py).
    attention_head_dim: heads.every((h) => h === heads[0]) ? heads[0] : heads,
    cross_attention_dim: crossDim,
    use_linear_projection: linear,
    norm_num_groups: 32,
    norm_eps: 1e-5,
    flip_sin_to_cos: true,
    freq_shift: 0,
  };
  if (timeDim !== undefined && timeDim !== channels[0] * 4) config.time_embedding_dim = timeDim;
  if (midAttention && Math.max(1, levels[levels.length - 1].depth) !== countIndices(t, `${p}middle_block.1.transformer_blocks.`)) {
    return { refusal: 'a UNet whose middle block has a transformer depth unlike its last level' };
  }
  return { config };
}

/** How many consecutive indices N have keys starting with `prefix`N".". */
function countIndices(t: Shapes, prefix: string): number {
  let n = 0;
  const keys = [...t.keys()].filter((k) => k.startsWith(prefix));
  while (keys.some((k) => k.startsWith(`${prefix}${n}.`))) n++;
  return n;
}

/** transformers CLIPTextConfig fields for the text encoder, from shapes; heads = hidden / 64 (CLIP
 * ViT-L and OpenCLIP ViT-H both use 64 channels per head), quick_gelu for OpenAI CLIP, gelu for OpenCLIP. */
export function inferClipConfig(t: Shapes, kind: TextEncoderKind): Record<string, unknown> {
  const [prefix, token, position, fc1, layerKey] =
    kind === 'clip'
      ? [clipRoot(t), 'embeddings.token_embedding.weight', 'embeddings.position_embedding.weight', 'encoder.layers.0.mlp.fc1.weight', 'encoder.layers.']
      : [OPENCLIP_PREFIX, 'token_embedding.weight', 'positional_embedding', 'transformer.resblocks.0.mlp.c_fc.weight', 'transformer.resblocks.'];
  const get = (name: string) => {
    const info = t.get(prefix + name);
    if (!info) throw new Error(`text encoder: "${prefix + name}" is missing`);
    return info.shape;
  };
  const [vocab, hidden] = get(token);
  return {
    architectures: ['CLIPTextModel'],
    model_type: 'clip_text_model',
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: get(fc1)[0],
    num_hidden_layers: countIndices(t, prefix + layerKey),
    num_attention_heads: Math.max(1, Math.floor(hidden / 64)),
    max_position_embeddings: get(position)[0],
    hidden_act: kind === 'clip' ? 'quick_gelu' : 'gelu',
    layer_norm_eps: 1e-5,
  };
}

/** "cond_stage_model.transformer.text_model." (transformers ≥ 4.x keys) or without "text_model." (older). */
export function clipRoot(t: Shapes): string {
  return t.has(`${CLIP_PREFIX}text_model.embeddings.token_embedding.weight`) ? `${CLIP_PREFIX}text_model.` : CLIP_PREFIX;
}

/** AutoencoderKL config.json fields for a VAE whose keys (after `prefix`) are in the LDM layout
 * (decoder.up.N.block.M) or diffusers' (decoder.up_blocks.N.resnets.M); GroupNorm 32 as SD. */
export function inferVaeConfig(t: Shapes, prefix: string): Record<string, unknown> {
  const get = (name: string) => {
    const info = t.get(prefix + name);
    if (!info) throw new Error(`VAE: "${prefix + name}" is missing`);
    return info.shape;
  };
  const ldm = t.has(`${prefix}decoder.up.0.block.0.conv1.weight`);
  const levels = countIndices(t, ldm ? `${prefix}decoder.up.` : `${prefix}decoder.up_blocks.`);
  // LDM's decoder.up.i has the channels of encoder level i; diffusers' up_blocks run the other way.
  const channels = Array.from({ length: levels }, (_, i) => get(ldm ? `decoder.up.${i}.block.0.conv2.weight` : `decoder.up_blocks.${levels - 1 - i}.resnets.0.conv2.weight`)[0]);
  const resnets = countIndices(t, ldm ? `${prefix}decoder.up.0.block.` : `${prefix}decoder.up_blocks.0.resnets.`);
  return {
    _class_name: 'AutoencoderKL',
    in_channels: t.get(`${prefix}encoder.conv_in.weight`)?.shape[1] ?? 3,
    out_channels: get('decoder.conv_out.weight')[0],
    latent_channels: get('decoder.conv_in.weight')[1],
    block_out_channels: channels,
    down_block_types: channels.map(() => 'DownEncoderBlock2D'),
    up_block_types: channels.map(() => 'UpDecoderBlock2D'),
    layers_per_block: resnets - 1,
    norm_num_groups: 32,
    scaling_factor: 0.18215,
    use_post_quant_conv: t.has(`${prefix}post_quant_conv.weight`),
    use_quant_conv: t.has(`${prefix}quant_conv.weight`),
    mid_block_add_attention: t.has(ldm ? `${prefix}decoder.mid.attn_1.q.weight` : `${prefix}decoder.mid_block.attentions.0.to_q.weight`) || t.has(`${prefix}decoder.mid_block.attentions.0.query.weight`),
  };
}
