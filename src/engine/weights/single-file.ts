// A single-file Stable Diffusion checkpoint (original CompVis / LDM layout: model.diffusion_model.*,
// first_stage_model.*, cond_stage_model.*) presented as a diffusers pipeline folder, so that
// DiffusionPipeline.load reads it like any other: model_index.json, unet/, text_encoder/, vae/,
// scheduler/ and tokenizer/ (configs only: PromptTokenizer falls back to the bundled CLIP
// vocabulary). The weight files are virtual (virtual-safetensors.ts): renamed headers over byte
// ranges of the one file.
//
// SD 2.x text encoder: the file's OpenCLIP tower has 24 resblocks and SD 2.x conditions on the
// penultimate one (the original config's layer: "penultimate"). diffusers' from_single_file drops
// resblocks.23 and builds a 23-layer CLIPTextModel whose last_hidden_state is used. Here every
// resblock becomes a layer and model_index.json sets clip_skip, which stops one layer early and then
// applies final_layer_norm: the same numbers for real files, and a tiny file converted from an
// N-layer CLIPTextModel by diffusers' script yields exactly that model (its last_hidden_state and
// penultimate outputs both match). A file converted back from a 23-layer diffusers SD 2.x folder is
// read as 23 resblocks with the penultimate used, as ComfyUI and the original code read it.
import type { PredictionType } from '../sampling/scheduler-config';
import { parseUNetConfig } from '../nn/unet-config';
import type { ByteSource } from './byte-source';
import {
  CLIP_PREFIX,
  OPENCLIP_PREFIX,
  UNET_PREFIX,
  VAE_PREFIXES,
  detectCheckpoint,
  inferClipConfig,
  inferUNetConfig,
  inferVaeConfig,
  type CheckpointDetection,
  type CheckpointFamily,
} from './checkpoint-detect';
import { ldmClipName, ldmUNetNameMap, ldmVaeName, openClipName } from './ldm-names';
import { bytesSource } from './byte-source';
import { parseJsonFile, type ModelFolder } from './model-folder';
import { parseSafetensorsHeader, readTensorF32, type SafetensorsHeader } from './safetensors';
import { virtualSafetensors, type VirtualTensor } from './virtual-safetensors';

export interface SingleFileOptions {
  /** Shown in the UI; defaults to the file name without its extension. */
  name?: string;
  /** A standalone VAE (LDM or diffusers names) used instead of the checkpoint's. */
  vae?: ByteSource;
  /** diffusers / transformers config.json objects used instead of the inferred ones. */
  config?: { unet?: Record<string, unknown>; textEncoder?: Record<string, unknown>; vae?: Record<string, unknown> };
  /** Overrides the guess (see guessPredictionType). */
  predictionType?: PredictionType;
}

export interface PredictionTypeGuess {
  type: PredictionType;
  /** False when options.predictionType set it. */
  guessed: boolean;
  /** What the guess rests on, for the UI. */
  evidence: string;
}

export interface SingleFileModelFolder extends ModelFolder {
  readonly detection: CheckpointDetection;
  readonly prediction: PredictionTypeGuess;
}

/** ComfyUI's threshold on the population standard deviation of the probe tensor (supported_models.py). */
const V_PREDICTION_STD = 0.09;

/** Detection plus the prediction-type guess, before anything is loaded (what the UI shows first). */
export async function inspectCheckpoint(source: ByteSource): Promise<CheckpointDetection & { prediction?: PredictionTypeGuess }> {
  const header = await parseSafetensorsHeader(source);
  const detection = detectCheckpoint(header);
  if (detection.refusal) return detection;
  return { ...detection, prediction: await guessPredictionType(source, header, detection) };
}

/**
 * SD 2.x comes as 512 (epsilon) and 768 (v-prediction) models with identical layouts. Like ComfyUI,
 * guess v-prediction when the last output block's first transformer norm1.bias spreads widely
 * (std > 0.09). SD 1.x-style models are epsilon.
 */
export async function guessPredictionType(source: ByteSource, header: SafetensorsHeader, detection: CheckpointDetection, override?: PredictionType): Promise<PredictionTypeGuess> {
  if (override) return { type: override, guessed: false, evidence: 'chosen' };
  const probe = detection.predictionProbe && header.byName.get(detection.predictionProbe);
  if (!probe) return { type: 'epsilon', guessed: true, evidence: detection.found.textEncoder === 'openclip' ? 'no probe tensor; epsilon assumed' : 'SD 1.x-style models predict noise (epsilon)' };
  const values = await readTensorF32(source, probe);
  let mean = 0;
  for (const v of values) mean += v / values.length;
  let variance = 0;
  for (const v of values) variance += (v - mean) ** 2 / values.length;
  const std = Math.sqrt(variance);
  const type: PredictionType = std > V_PREDICTION_STD ? 'v_prediction' : 'epsilon';
  return { type, guessed: true, evidence: `std of ${probe.name.slice(UNET_PREFIX.length)} is ${std.toFixed(4)} (${type === 'v_prediction' ? '>' : '≤'} ${V_PREDICTION_STD}, ComfyUI's test)` };
}

/** Presents `source` as a diffusers pipeline folder; rejects (naming what it found) files it cannot run. */
export async function singleFileModelFolder(source: ByteSource, options: SingleFileOptions = {}): Promise<SingleFileModelFolder> {
  const header = await parseSafetensorsHeader(source);
  const detection = detectCheckpoint(header);
  if (detection.refusal) throw new Error(detection.refusal);
  const textKind = detection.found.textEncoder!;
  const family = detection.family!;

  const inferred = inferUNetConfig(header.byName, textKind);
  const unetConfig = options.config?.unet ?? ('config' in inferred ? inferred.config : {});
  const unetTensors = unetVirtualTensors(header, unetConfig, !options.config?.unet);
  const textConfig = options.config?.textEncoder ?? inferClipConfig(header.byName, textKind);
  const textTensors = textKind === 'clip' ? clipVirtualTensors(header) : openClipVirtualTensors(header);

  const vaeSource = options.vae ?? source;
  const vaeHeader = options.vae ? await parseSafetensorsHeader(options.vae) : header;
  const vaePrefix = VAE_PREFIXES.find((p) => vaeHeader.byName.has(`${p}decoder.conv_in.weight`));
  if (vaePrefix === undefined) {
    throw new Error(options.vae ? `${options.vae.name}: not a VAE (no "decoder.conv_in.weight" under first_stage_model., vae. or the top level)` : `${source.name}: the checkpoint has no VAE (first_stage_model.*); choose a VAE file`);
  }
  const vaeConfig = options.config?.vae ?? inferVaeConfig(vaeHeader.byName, vaePrefix);
  const vaeTensors = vaeVirtualTensors(vaeHeader, vaePrefix, (vaeConfig.block_out_channels as number[]).length);

  const prediction = await guessPredictionType(source, header, detection, options.predictionType);
  const vaeScale = 2 ** ((vaeConfig.block_out_channels as number[]).length - 1);
  const lab = labSection(options.name ?? source.name.replace(/\.safetensors$/i, ''), family, detection, prediction, unetConfig, vaeScale);
  const files: Record<string, string | ByteSource> = {
    'model_index.json': json({
      _class_name: 'StableDiffusionPipeline',
      unet: ['diffusers', 'UNet2DConditionModel'],
      text_encoder: ['transformers', 'CLIPTextModel'],
      tokenizer: ['transformers', 'CLIPTokenizer'],
      vae: ['diffusers', 'AutoencoderKL'],
      scheduler: ['diffusers', family === 'sd-turbo' ? 'EulerDiscreteScheduler' : 'DDIMScheduler'],
      attention_lab: lab,
    }),
    'unet/config.json': json({ sample_size: lab.height / vaeScale, ...unetConfig }),
    'unet/diffusion_pytorch_model.safetensors': virtualSafetensors('unet/diffusion_pytorch_model.safetensors', source, unetTensors),
    'text_encoder/config.json': json(textConfig),
    'text_encoder/model.safetensors': virtualSafetensors('text_encoder/model.safetensors', source, textTensors),
    'vae/config.json': json(vaeConfig),
    'vae/diffusion_pytorch_model.safetensors': virtualSafetensors('vae/diffusion_pytorch_model.safetensors', vaeSource, vaeTensors),
    'scheduler/scheduler_config.json': json(schedulerConfig(family, prediction.type)),
    'tokenizer/tokenizer_config.json': json(tokenizerConfig(textKind)),
    'tokenizer/special_tokens_map.json': json(specialTokens(textKind)),
  };
  return virtualFolder(source.name, files, detection, prediction);
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 1);
}

/** The checkpoint's tensors under diffusers names, per component (exported for tests). */
export function unetVirtualTensors(header: SafetensorsHeader, configJson: Record<string, unknown>, inferred = false): VirtualTensor[] {
  let config;
  try {
    config = parseUNetConfig(configJson);
  } catch (e) {
    throw new Error(`${header.file}: ${(e as Error).message}${inferred ? ' (a config inferred from the weights; give the UNet config.json)' : ''}`, { cause: e });
  }
  const tensors: VirtualTensor[] = [];
  const missing: string[] = [];
  for (const [name, ldm] of ldmUNetNameMap(config)) {
    const info = header.byName.get(UNET_PREFIX + ldm);
    if (!info) missing.push(`${UNET_PREFIX}${ldm} (${name})`);
    else tensors.push({ name, dtype: info.dtype, shape: info.shape, begin: info.begin, end: info.end });
  }
  if (missing.length) {
    const more = missing.length > 4 ? ` and ${missing.length - 4} more` : '';
    throw new Error(`${header.file}: the UNet does not match its config: missing ${missing.slice(0, 4).join(', ')}${more}`);
  }
  return tensors;
}

export function clipVirtualTensors(header: SafetensorsHeader): VirtualTensor[] {
  const tensors: VirtualTensor[] = [];
  for (const info of header.tensors) {
    if (!info.name.startsWith(CLIP_PREFIX)) continue;
    const name = ldmClipName(info.name.slice(CLIP_PREFIX.length));
    if (name) tensors.push({ name, dtype: info.dtype, shape: info.shape, begin: info.begin, end: info.end });
  }
  return tensors;
}

export function openClipVirtualTensors(header: SafetensorsHeader): VirtualTensor[] {
  const tensors: VirtualTensor[] = [];
  for (const info of header.tensors) {
    if (!info.name.startsWith(OPENCLIP_PREFIX)) continue;
    const renamed = openClipName(info.name.slice(OPENCLIP_PREFIX.length));
    if (!renamed) continue;
    if (renamed.names.length === 1) {
      tensors.push({ name: renamed.names[0], dtype: info.dtype, shape: info.shape, begin: info.begin, end: info.end });
      continue;
    }
    // in_proj [3D, ...]: q, k and v are three contiguous row ranges.
    const [rows, ...rest] = info.shape;
    if (rows % 3 !== 0) throw new Error(`${header.file}: "${info.name}" has ${rows} rows, not q, k and v of equal size`);
    const third = (info.end - info.begin) / 3;
    renamed.names.forEach((name, i) => tensors.push({ name, dtype: info.dtype, shape: [rows / 3, ...rest], begin: info.begin + i * third, end: info.begin + (i + 1) * third }));
  }
  return tensors;
}

export function vaeVirtualTensors(header: SafetensorsHeader, prefix: string, levels: number): VirtualTensor[] {
  const ldm = header.byName.has(`${prefix}decoder.up.0.block.0.conv1.weight`);
  const tensors: VirtualTensor[] = [];
  for (const info of header.tensors) {
    if (!info.name.startsWith(prefix)) continue;
    const key = info.name.slice(prefix.length);
    // diffusers-named VAEs keep their names (VaeDecoder reads 1×1-conv or linear attention weights).
    const renamed = ldm ? ldmVaeName(key, info.shape, levels) : /^(encoder|decoder|quant_conv|post_quant_conv)\./.test(key) ? { name: key } : undefined;
    if (renamed) tensors.push({ name: renamed.name, dtype: info.dtype, shape: renamed.shape ?? info.shape, begin: info.begin, end: info.end });
  }
  return tensors;
}

interface LabSection {
  name: string;
  family: CheckpointFamily;
  description: string;
  notes: string[];
  width: number;
  height: number;
  defaults: { sampler: string; steps: number; cfg: number };
  clip_skip: boolean;
  prediction_type: PredictionType;
  prediction_type_guessed: boolean;
  prediction_type_evidence: string;
}

/** Defaults per family (issue 15): SD 1.5 512² DPM++ 2M 20 steps CFG 7; SD 2.x 768-v at 768²;
 * SD-Turbo 512², 1 Euler step (trailing spacing), CFG 1. Small models keep their config's size. */
function labSection(name: string, family: CheckpointFamily, detection: CheckpointDetection, prediction: PredictionTypeGuess, unetConfig: Record<string, unknown>, vaeScale: number): LabSection {
  let size = family === 'small' ? ((unetConfig.sample_size as number | undefined) ?? 2 ** ((unetConfig.block_out_channels as number[]).length + 1)) * vaeScale : 512;
  if ((family === 'sd2' || family === 'bk-sdm') && prediction.type === 'v_prediction') size = 768;
  const defaults = family === 'sd-turbo' ? { sampler: 'euler', steps: 1, cfg: 1 } : { sampler: 'dpmpp2m', steps: 20, cfg: 7 };
  return {
    name,
    family,
    description: detection.description,
    notes: detection.notes,
    width: size,
    height: size,
    defaults,
    clip_skip: detection.found.textEncoder === 'openclip',
    prediction_type: prediction.type,
    prediction_type_guessed: prediction.guessed,
    prediction_type_evidence: prediction.evidence,
  };
}

/** SD's training schedule (scaled_linear 0.00085..0.012, 1000 steps) as the hub's SD configs write it. */
function schedulerConfig(family: CheckpointFamily, prediction: PredictionType): Record<string, unknown> {
  const base = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type: prediction, clip_sample: false, set_alpha_to_one: false };
  return family === 'sd-turbo' ? { ...base, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing', steps_offset: 1 } : { ...base, _class_name: 'DDIMScheduler', steps_offset: 1 };
}

/** CLIPTokenizer settings: SD 1.x pads with <|endoftext|>, SD 2.x (OpenCLIP) with "!". */
function tokenizerConfig(kind: 'clip' | 'openclip'): Record<string, unknown> {
  return { tokenizer_class: 'CLIPTokenizer', model_max_length: 77, do_lower_case: true, ...specialTokens(kind) };
}

function specialTokens(kind: 'clip' | 'openclip'): Record<string, string> {
  return { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: kind === 'openclip' ? '!' : '<|endoftext|>' };
}

function virtualFolder(name: string, files: Record<string, string | ByteSource>, detection: CheckpointDetection, prediction: PredictionTypeGuess): SingleFileModelFolder {
  const get = (path: string) => {
    const file = files[path.replace(/^\/+/, '')];
    if (file === undefined) throw new Error(`${name}: the single-file model has no "${path}"`);
    return file;
  };
  const text = (path: string) => {
    const file = get(path);
    if (typeof file !== 'string') throw new Error(`${name}: "${path}" is a weight file, not text`);
    return file;
  };
  return {
    name,
    detection,
    prediction,
    has: async (path) => path.replace(/^\/+/, '') in files,
    readText: async (path) => text(path),
    readJson: async <T>(path: string) => parseJsonFile<T>(text(path), `${name}/${path}`),
    open: async (path) => {
      const file = get(path);
      return typeof file === 'string' ? bytesSource(path, new TextEncoder().encode(file)) : file;
    },
  };
}
