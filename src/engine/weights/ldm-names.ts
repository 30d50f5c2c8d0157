// Names of the original (CompVis / LDM) Stable Diffusion layout, as single-file checkpoints carry
// them, next to the diffusers names the engine loads. The UNet's map is generated from a UNet
// config (given, or inferred by checkpoint-detect.ts), so it serves SD 1.x, SD 2.x, BK-SDM (no mid
// block, fewer resnets) and tiny test models alike. Formats learned from diffusers'
// convert_diffusers_to_original_stable_diffusion.py and single_file_utils.py; no code was copied.
import type { UNetConfig } from '../nn/unet-config';
import { expectedUNetWeights } from '../nn/unet-weights';

/** ResNet sublayers: LDM ResBlock (in_layers = norm, SiLU, conv; out_layers = norm, SiLU, dropout, conv). */
const UNET_RESNET_PARTS: [diffusers: string, ldm: string][] = [
  ['norm1', 'in_layers.0'],
  ['conv1', 'in_layers.2'],
  ['time_emb_proj', 'emb_layers.1'],
  ['norm2', 'out_layers.0'],
  ['conv2', 'out_layers.3'],
  ['conv_shortcut', 'skip_connection'],
];

interface ModuleRename {
  diffusers: string;
  ldm: string;
  /** ResNets rename their sublayers; attention (SpatialTransformer) and convolutions keep them. */
  resnet?: boolean;
}

/**
 * The LDM UNet's modules in diffusers' terms, for `config`. input_blocks counts conv_in (0), then per
 * level one TimestepEmbedSequential per resnet (.0 resnet, .1 attention) and one for the downsampler
 * (.0.op); output_blocks holds per level layers+1 resnets, the last of a level followed by the
 * upsampler (.1.conv, or .2.conv after an attention).
 */
export function ldmUNetModules(config: UNetConfig): ModuleRename[] {
  const modules: ModuleRename[] = [
    { diffusers: 'conv_in', ldm: 'input_blocks.0.0' },
    { diffusers: 'time_embedding.linear_1', ldm: 'time_embed.0' },
    { diffusers: 'time_embedding.linear_2', ldm: 'time_embed.2' },
    { diffusers: 'conv_norm_out', ldm: 'out.0' },
    { diffusers: 'conv_out', ldm: 'out.2' },
  ];
  let input = 1;
  config.down.forEach((block, i) => {
    for (let j = 0; j < block.layers; j++, input++) {
      modules.push({ diffusers: `down_blocks.${i}.resnets.${j}`, ldm: `input_blocks.${input}.0`, resnet: true });
      if (block.hasCrossAttention) modules.push({ diffusers: `down_blocks.${i}.attentions.${j}`, ldm: `input_blocks.${input}.1` });
    }
    if (block.resample) modules.push({ diffusers: `down_blocks.${i}.downsamplers.0.conv`, ldm: `input_blocks.${input++}.0.op` });
  });
  if (config.mid) {
    modules.push({ diffusers: 'mid_block.resnets.0', ldm: 'middle_block.0', resnet: true });
    modules.push({ diffusers: 'mid_block.attentions.0', ldm: 'middle_block.1' });
    modules.push({ diffusers: 'mid_block.resnets.1', ldm: 'middle_block.2', resnet: true });
  }
  let output = 0;
  config.up.forEach((block, i) => {
    for (let j = 0; j < block.layers; j++, output++) {
      modules.push({ diffusers: `up_blocks.${i}.resnets.${j}`, ldm: `output_blocks.${output}.0`, resnet: true });
      if (block.hasCrossAttention) modules.push({ diffusers: `up_blocks.${i}.attentions.${j}`, ldm: `output_blocks.${output}.1` });
      if (block.resample && j === block.layers - 1) {
        modules.push({ diffusers: `up_blocks.${i}.upsamplers.0.conv`, ldm: `output_blocks.${output}.${block.hasCrossAttention ? 2 : 1}.conv` });
      }
    }
  });
  return modules;
}

/** diffusers key → LDM key (without the checkpoint's "model.diffusion_model." prefix) for every
 * tensor a UNet of `config` holds, in expectedUNetWeights' order. */
export function ldmUNetNameMap(config: UNetConfig): Map<string, string> {
  // Longest prefixes first, so "down_blocks.0.resnets.1" never matches "down_blocks.0.resnets.10".
  const modules = ldmUNetModules(config).sort((a, b) => b.diffusers.length - a.diffusers.length);
  const map = new Map<string, string>();
  for (const name of expectedUNetWeights(config).keys()) {
    const module = modules.find((m) => name.startsWith(`${m.diffusers}.`));
    if (!module) throw new Error(`UNet name map: no LDM module for "${name}"`);
    let rest = name.slice(module.diffusers.length + 1);
    if (module.resnet) {
      const part = UNET_RESNET_PARTS.find(([d]) => rest.startsWith(`${d}.`));
      if (part) rest = part[1] + rest.slice(part[0].length);
    }
    map.set(name, `${module.ldm}.${rest}`);
  }
  return map;
}

export interface RenamedTensor {
  /** The diffusers name. */
  name: string;
  /** A new shape for the same bytes (a 1×1 convolution read as a linear weight). */
  shape?: number[];
}

/**
 * An AutoencoderKL key of the LDM layout (without "first_stage_model.") → its diffusers key, for a
 * VAE of `levels` levels: the decoder's up.{n} is diffusers' up_blocks.{levels-1-n}. Keys that are
 * no part of AutoencoderKL (an LDM training loss, for example) give undefined. `shape` is the
 * tensor's: the mid-block attention's 1×1 convolutions q/k/v/proj_out become linear weights.
 */
export function ldmVaeName(key: string, shape: readonly number[], levels: number): RenamedTensor | undefined {
  let m: RegExpExecArray | null;
  const resnet = (rest: string) => rest.replace(/^nin_shortcut\./, 'conv_shortcut.');
  if (/^(quant_conv|post_quant_conv)\./.test(key) || /^(encoder|decoder)\.(conv_in|conv_out)\./.test(key)) return { name: key };
  if ((m = /^(encoder|decoder)\.norm_out\.(.*)$/.exec(key))) return { name: `${m[1]}.conv_norm_out.${m[2]}` };
  if ((m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.*)$/.exec(key))) return { name: `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${resnet(m[3])}` };
  if ((m = /^encoder\.down\.(\d+)\.downsample\.conv\.(.*)$/.exec(key))) return { name: `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}` };
  if ((m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.*)$/.exec(key))) return { name: `decoder.up_blocks.${levels - 1 - Number(m[1])}.resnets.${m[2]}.${resnet(m[3])}` };
  if ((m = /^decoder\.up\.(\d+)\.upsample\.conv\.(.*)$/.exec(key))) return { name: `decoder.up_blocks.${levels - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}` };
  if ((m = /^(encoder|decoder)\.mid\.block_([12])\.(.*)$/.exec(key))) return { name: `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.${resnet(m[3])}` };
  if ((m = /^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$/.exec(key))) {
    const part = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' }[m[2]]!;
    const linear = m[2] !== 'norm' && m[3] === 'weight' && shape.length === 4 && shape[2] === 1 && shape[3] === 1;
    return { name: `${m[1]}.mid_block.attentions.0.${part}.${m[3]}`, shape: linear ? shape.slice(0, 2) : undefined };
  }
  return undefined;
}

/** A CLIP (OpenAI, SD 1.x) key under "cond_stage_model.transformer." → transformers' CLIPTextModel key. */
export function ldmClipName(key: string): string | undefined {
  if (key.endsWith('position_ids')) return undefined; // a buffer the encoder makes itself
  return key.startsWith('text_model.') ? key : `text_model.${key}`;
}

const OPENCLIP_LAYER_PARTS: [openclip: string, transformers: string][] = [
  ['ln_1.', 'layer_norm1.'],
  ['ln_2.', 'layer_norm2.'],
  ['attn.out_proj.', 'self_attn.out_proj.'],
  ['mlp.c_fc.', 'mlp.fc1.'],
  ['mlp.c_proj.', 'mlp.fc2.'],
];

export interface OpenClipRename {
  /** One name, or the q/k/v names of the thirds of an in_proj tensor (rows [0, D), [D, 2D), [2D, 3D)). */
  names: string[];
}

/**
 * An OpenCLIP text tower key under "cond_stage_model.model." (SD 2.x) → CLIPTextModel key(s).
 * The attention's packed in_proj_weight [3D, D] / in_proj_bias [3D] are q, k, v stacked by rows.
 * text_projection, logit_scale and the attention mask buffer are not used by SD and give undefined.
 */
export function openClipName(key: string): OpenClipRename | undefined {
  if (key === 'token_embedding.weight') return { names: ['text_model.embeddings.token_embedding.weight'] };
  if (key === 'positional_embedding') return { names: ['text_model.embeddings.position_embedding.weight'] };
  let m: RegExpExecArray | null;
  if ((m = /^ln_final\.(weight|bias)$/.exec(key))) return { names: [`text_model.final_layer_norm.${m[1]}`] };
  if (!(m = /^transformer\.resblocks\.(\d+)\.(.*)$/.exec(key))) return undefined;
  const layer = `text_model.encoder.layers.${m[1]}`;
  const rest = m[2];
  const packed = /^attn\.in_proj_(weight|bias)$/.exec(rest);
  if (packed) return { names: ['q_proj', 'k_proj', 'v_proj'].map((p) => `${layer}.self_attn.${p}.${packed[1]}`) };
  const part = OPENCLIP_LAYER_PARTS.find(([o]) => rest.startsWith(o));
  return part ? { names: [`${layer}.${part[1]}${rest.slice(part[0].length)}`] } : undefined;
}
