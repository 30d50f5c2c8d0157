// The engine's contract with the app (or a script): plain data only, so that it crosses the Web
// Worker boundary with postMessage. It sits at the engine's root so that every layer may import it
// (nn/ used to take these types from sampling/, a layer above it).
import type { StepRange } from './steering/step-range';

/** What runs the text encoder and the UNet (backend.ts): our WGSL engine, or ONNX Runtime Web. */
export type BackendName = 'webgpu' | 'onnxruntime';
export const BACKEND_NAMES: readonly BackendName[] = ['webgpu', 'onnxruntime'];

export type DecoderChoice = 'vae' | 'taesd';
export const DECODER_CHOICES: readonly DecoderChoice[] = ['vae', 'taesd'];

export type SamplerName = 'ddim' | 'euler' | 'euler_a' | 'dpmpp2m';
export const SAMPLER_NAMES: readonly SamplerName[] = ['dpmpp2m', 'euler', 'euler_a', 'ddim'];

/** Self-attention (attn1) or cross-attention (attn2), as diffusers names the modules. */
export type AttentionKind = 'attn1' | 'attn2';

/** The three parts of a UNet, with ComfyUI's names for them. */
export type UNetPart = 'input' | 'middle' | 'output';

/** ComfyUI's UNetSelfAttentionMultiply / UNetCrossAttentionMultiply factors. 1 = unchanged; 0–10. */
export interface AttentionMultipliers {
  q: number;
  k: number;
  v: number;
  out: number;
}

export const NEUTRAL_MULTIPLIERS: Readonly<AttentionMultipliers> = { q: 1, k: 1, v: 1, out: 1 };

/** Steps and CFG outside these are refused: they only make a page hang or produce noise. */
export const STEP_RANGE = { min: 1, max: 150 } as const;
export const CFG_RANGE = { min: 1, max: 30 } as const;

/**
 * Which attention sites a rule scales: every site of its kind, one UNet part, or the sites a
 * diffusers module path or prefix (`up_blocks.1.attentions.0.transformer_blocks.0.attn1`,
 * `mid_block`) or ComfyUI block name (`output_blocks.3`) names (steering/site-target.ts).
 */
export type SiteTarget = { all: true } | { part: UNetPart } | { path: string };

export interface MultiplierRule {
  kind: AttentionKind;
  target: SiteTarget;
  multipliers: AttentionMultipliers;
  /** The steps it acts in (steering/step-range.ts); absent: all of them. */
  range?: StepRange;
}

/** ComfyUI's CLIPAttentionMultiply: q, k, v, out of every self-attention of the text encoder. */
export interface ClipMultiplierRequest {
  multipliers: AttentionMultipliers;
  /** The steps whose UNet calls get the multiplied encoder's embeddings (the others get the plain
   * encoder's); absent: all of them. */
  range?: StepRange;
}

/** ComfyUI's FreeU (version 1) or FreeU_V2 (2): the decoder's backbone features scaled by b and its
 * skip connections' lowest frequencies by s, (b1, s1) where the hidden state has model_channels·4
 * channels and (b2, s2) where it has ·2. Each 0–10. */
export interface FreeURequest {
  version: 1 | 2;
  b1: number;
  b2: number;
  s1: number;
  s2: number;
  /** The steps it acts in (steering/step-range.ts); absent: all of them. */
  range?: StepRange;
}

/** One attention module of the UNet, with both of its names. */
export interface AttentionSite {
  /** Index into the multipliers buffer (4 floats per site). */
  index: number;
  kind: AttentionKind;
  /** diffusers module path, e.g. `down_blocks.0.attentions.1.transformer_blocks.0.attn2`. */
  path: string;
  /** ComfyUI block name, e.g. `input_blocks.2`, `middle_block`, `output_blocks.5`. */
  comfyBlock: string;
  part: UNetPart;
  /** Spatial resolution the site works at, for people: "32×32". */
  resolution: string;
}

/** Perturbed-attention guidance (steering/perturbed-attention-guidance.ts); absent = off. */
export interface PerturbedAttentionRequest {
  /** Weight of (eps_cond − eps_perturbed); 0–10. */
  scale: number;
  /** Where self-attention (the target's attn1 sites) is the identity for the perturbed pass. */
  target: SiteTarget;
  /** Fractions of sampling (steering/step-range.ts); absent = every step. */
  range?: { start: number; end: number };
}

export interface GenerateRequest {
  prompt: string;
  negativePrompt: string;
  seed: number;
  steps: number;
  sampler: SamplerName;
  /** Classifier-free guidance scale; 1 skips the unconditional half. */
  cfg: number;
  /** Each rule multiplies the sites it targets; rules that overlap compose by multiplication, as
   * chained ComfyUI attention-multiply nodes do. */
  rules: MultiplierRule[];
  /** The text encoder's attention multipliers; absent: off. */
  clip?: ClipMultiplierRequest;
  /** FreeU on the UNet's decoder; absent: off. Needs the WebGPU backend (ONNX Runtime renders
   * without it, with a notice). */
  freeu?: FreeURequest;
  /** Perturbed-attention guidance: a third batch item per image; our WebGPU engine only. */
  pag?: PerturbedAttentionRequest;
  /** Send a preview of the predicted image after each step. */
  preview?: boolean;
  /** What turns the final latents into the image: the model's own decoder (default), or the TAESD
   * given to DiffusionPipeline.setFastDecoder (faster, a little softer). */
  decoder?: DecoderChoice;
  /** Image size in pixels; ModelInfo.width/height when absent. Multiples of ModelInfo.sizeMultiple. */
  width?: number;
  height?: number;
  /** Attention maps to read while sampling (steering/attention-maps.ts); absent: none, and no probe runs. */
  attentionMaps?: AttentionMapRequest;
}

/** What attention maps a generation reads (WebGPU engine only; the probes run inside its UNet). */
export interface AttentionMapRequest {
  /** DAAM: per prompt token, its cross-attention over the image (cond item, every attn2 site,
   * averaged over heads, sites and steps). */
  crossAttention?: boolean;
  /** Where one point of the image attends in one self-attention site. */
  selfAttention?: {
    /** An attn1 site's diffusers path, or a prefix of one (the first attn1 under it): 'mid_block'. */
    site: string;
    /** The point, as fractions of the image's width and height (0–1). */
    x: number;
    y: number;
    /** 0-based step whose map is shown; absent: the average over all steps. */
    step?: number;
  };
}

/** Attention maps of a generation: plain arrays, transferable. */
export interface AttentionMapsResult {
  /** DAAM maps [tokens, height, width] at the latent size, one per token of `GenerateResult.promptTokens`. */
  cross?: { height: number; width: number; values: Float32Array };
  /** The point's attention over the site's keys [height, width] (the site's own resolution). */
  self?: { site: string; height: number; width: number; values: Float32Array };
}

/** An RGBA8 image, ready for a canvas (ImageData-compatible). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export interface GenerateProgress {
  step: number;
  steps: number;
  preview?: RgbaImage;
  /** With a preview: the 1-based step from which the values are NaN or ±Infinity, if they are. */
  nonFiniteFromStep?: number;
}

export interface GenerateResult {
  image: RgbaImage;
  /** Wall time of the whole generation (text encoding when not cached, sampling, decoding). */
  ms: number;
  /** Milliseconds per UNet call, averaged over this generation. */
  msPerStep: number;
  /** Set when sampling produced NaN or ±Infinity: the 1-based step from which the image is broken
   * (its pixels are then meaningless, often flat). Too-high multipliers or CFG, or broken weights. */
  nonFiniteFromStep?: number;
  /** The prompt as the tokenizer splits it, start and end tokens included ("<|startoftext|>", "cat</w>", …). */
  promptTokens?: string[];
  attentionMaps?: AttentionMapsResult;
  /** What of the request the engine left out, for people, one line each (a control the backend
   * cannot run, a map of a block the model lacks). */
  notices?: string[];
}

export interface ModelDefaults {
  sampler: SamplerName;
  steps: number;
  cfg: number;
  prompt?: string;
  negativePrompt?: string;
}

export interface ModelInfo {
  name: string;
  /** The model's own image size (its default); a request may ask for another. */
  width: number;
  height: number;
  /** Image sizes must be multiples of this (the decoder's upscale × 2^UNet downsamplings). */
  sizeMultiple: number;
  defaults: ModelDefaults;
  sites: AttentionSite[];
  /** Credits and licenses of the model's weights and data, for the About panel. */
  credits?: string[];
  /** What loading found wrong without stopping (tensors holding NaN or ±Infinity), worded as
   * `npm run check-model` words it. */
  warnings?: string[];
}
