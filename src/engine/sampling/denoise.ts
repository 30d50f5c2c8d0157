// The denoising loop of diffusers' StableDiffusionPipeline:
//
//   latents = noise · init_noise_sigma
//   for each timestep t:
//     x = scale_model_input(latents, t)
//     eps = unet([x, x], t, [uncond, cond])            one batch-2 call, batch order [uncond, cond]
//     eps = eps_uncond + g · (eps_cond − eps_uncond)    classifier-free guidance; g = 1 runs cond alone
//     (perturbed-attention guidance: a third item in the same call, eps += s · (eps_cond − eps_perturbed))
//     latents = scheduler.step(eps, t, latents)
//
// The UNet is a NoisePredictor: our WGSL engine's (GpuUNetPredictor, below), or ONNX Runtime's
// (src/engine/ort/). With ours, the guidance and scheduler math run on the GPU too and the whole
// loop stays there (gpu-denoise.ts); otherwise they run here on the CPU in float32, between calls.
import type { Tensor } from '../gpu/tensor';
import { numel } from '../gpu/tensor';
import type { PerturbedSelfAttention, UNet, UNetCall } from '../nn/unet';
import { denoiseOnGpu, SamplingBuffers, type GpuModelCall } from './gpu-denoise';
import type { Scheduler } from './schedulers';

/** Text embeddings [1, L, D] for one prompt, on the CPU or already on the GPU (the text encoder's
 * output). A GPU tensor stands for fixed values: whoever changes the values behind one passes a new
 * tensor object (the text encoder does), since the UNet keeps what it computed from the last one. */
export type Embeddings = Float32Array | Tensor;

/** A UNet as the denoising loop sees it. */
export interface NoisePredictor {
  readonly inChannels: number;
  /** Fixes the batch size, the sample size and each batch item's text embeddings for the calls that
   * follow; `perturbed`: PAG's identity self-attention for the items from perturbed.fromItem on (our
   * UNet only: the pipeline asks no other backend for it). */
  prepare(batch: number, height: number, width: number, contexts: readonly Embeddings[], perturbed?: PerturbedSelfAttention): PreparedPrediction;
}

export interface PreparedPrediction {
  /** The model output for `sample` [batch, C, H, W], every item at `timestep`. */
  predict(sample: Float32Array, timestep: number): Promise<Float32Array>;
  /** Where the model's input and output live on the GPU, for the GPU loop (our UNet only). */
  readonly onGpu?: GpuModelCall;
}

/** Our WGSL UNet: one recorded plan per batch and size, reused across steps and generations. */
export class GpuUNetPredictor implements NoisePredictor {
  /** The text embeddings each call's context input holds, with their keys and values computed. */
  private readonly contextOf = new WeakMap<UNetCall, readonly Embeddings[]>();
  /** Each call as the GPU loop drives it, with the sampling buffers it keeps between runs. */
  private readonly onGpu = new Map<UNetCall, GpuModelCall>();

  constructor(readonly unet: UNet) {}

  get inChannels(): number {
    return this.unet.config.inChannels;
  }

  prepare(batch: number, height: number, width: number, contexts: readonly Embeddings[], perturbed?: PerturbedSelfAttention): PreparedPrediction {
    const first = contexts[0];
    const contextLength = first instanceof Float32Array ? first.length / this.unet.config.crossAttentionDim : first.shape[1];
    const call = this.unet.prepare(batch, height, width, contextLength, perturbed);
    // The same GPU embeddings as last time (a generation whose prompts did not change): the call's
    // context, and the keys and values from it, are still in place. The text encoder makes new
    // tensor views for every encoding, so the same views mean the same values; arrays from the CPU
    // could have been changed in place and are always written.
    const written = this.contextOf.get(call);
    const same = written?.length === contexts.length && contexts.every((e, i) => !(e instanceof Float32Array) && e === written[i]);
    if (!same) {
      writeContext(this.unet, call, contexts);
      this.contextOf.set(call, [...contexts]);
    }
    const gpu = this.unet.gpu;
    const timesteps = new Float32Array(batch);
    return {
      predict: async (sample, timestep) => {
        gpu.write(call.sample.buffer, sample);
        gpu.write(call.timesteps.buffer, timesteps.fill(timestep));
        call.plan.run();
        return gpu.readF32(call.output.buffer, sample.length);
      },
      onGpu: this.gpuCall(call),
    };
  }

  private gpuCall(call: UNetCall): GpuModelCall {
    let onGpu = this.onGpu.get(call);
    if (!onGpu) {
      // Calls the UNet replaced (PAG's, when its sites change) take their sampling buffers along.
      for (const [old, kept] of this.onGpu) if (!this.unet.hasCall(old)) (kept.sampling.destroy(), this.onGpu.delete(old));
      const gpu = this.unet.gpu;
      onGpu = { gpu, sample: call.sample, timesteps: call.timesteps, output: call.output, encode: (encoder, range) => call.plan.encode(encoder, range), dispatches: call.plan.steps.length, sampling: new SamplingBuffers(gpu) };
      this.onGpu.set(call, onGpu);
    }
    return onGpu;
  }

  /** Frees the sampling buffers (the UNet's own calls go with the UNet). */
  destroy(): void {
    for (const { sampling } of this.onGpu.values()) sampling.destroy();
    this.onGpu.clear();
  }
}

export interface DenoiseOptions {
  model: NoisePredictor;
  scheduler: Scheduler;
  /** Standard normal noise [N, C, H, W] for N images of the same prompt (throughput: one UNet call
   * serves them all); multiplied by init_noise_sigma here. */
  noise: Float32Array;
  height: number;
  width: number;
  cond: Embeddings;
  /** Needed when guidance ≠ 1. */
  uncond?: Embeddings;
  guidance: number;
  /** Noise for step i of ancestral samplers (standard normal, the size of `noise`). */
  stepNoise?: (step: number) => Float32Array;
  /** After each step: the new latents and the scheduler's prediction of the clean sample, where
   * `stepReadback` asks for them (the GPU loop reads back only those; the CPU loop has both), and
   * with them the first step (0-based) that went non-finite so far, if any. */
  onStep?: (step: number, latents?: Float32Array, predOriginal?: Float32Array, nonFiniteStep?: number) => void | Promise<void>;
  /** `onlySlowSteps`: read back only after steps slower than `slowStepMs` (previews where a person
   * waits for them; a fast GPU is not held up by read-backs). */
  stepReadback?: { latents?: boolean; predOriginal?: boolean; onlySlowSteps?: boolean };
  /** A step at least this long is slow: the GPU loop waits for it before queuing the next one
   * (progress and previews as it ends), and `onlySlowSteps` read-backs happen. */
  slowStepMs?: number;
  /** A slow step at least this long (or of unknown length) is submitted in chunks of its UNet's
   * dispatches, each waited for, so a cancel takes effect within a chunk (GPU loop only). */
  chunkStepMs?: number;
  /** 'cpu' keeps the scheduler on the CPU even where the model runs on the GPU (tests compare the two). */
  loop?: 'gpu' | 'cpu';
  /** Called before step i's UNet call is queued, in both loops: the steering controls write what
   * changes from step to step (their step ranges) here. GPU writes made in it land before that
   * step's commands and after the previous step's. */
  beforeStep?: (step: number) => void;
  /** Perturbed-attention guidance (steering/perturbed-attention-guidance.ts): every image gets a
   * third item in the same UNet call, batch [uncond × N, cond × N, perturbed × N] ([cond, perturbed]
   * at guidance 1), whose self-attention at `sites` is the identity; step i's guidance then adds
   * scales[i] · (eps_cond − eps_perturbed) (0 outside PAG's step range: the third item still runs). */
  perturbedAttention?: { sites: readonly string[]; scales: readonly number[] };
  /** Where the text embeddings change from step to step (the text encoder's steering, in its step
   * range): step i's; the UNet is prepared again with them when they differ from the last step's,
   * before beforeStep(i). `cond` and `uncond` are step 0's. */
  embeddingsAt?: (step: number) => { cond: Embeddings; uncond?: Embeddings };
  /** Checked between steps; an aborted signal rejects with an AbortError. */
  signal?: AbortSignal;
  /** GPU loop: takes the final latents where they are ([N, C, H, W], valid until the returned
   * promise settles) instead of reading them back, and the result's latents are then empty; the
   * pipeline decodes them there. The CPU loop does not call it. */
  useGpuLatents?: (latents: Tensor) => Promise<void>;
}

/** Steps shorter than this are fast: kept two in flight, with no read-backs for previews. */
export const SLOW_STEP_MS = 100;

export interface DenoiseResult {
  latents: Float32Array;
  /** Milliseconds per step: per UNet call (write, run, read back) on the CPU loop, per whole step on the GPU loop. */
  msPerStep: number;
  /** The first step (0-based) after which the latents or the x0 prediction held NaN or ±Infinity. */
  nonFiniteStep?: number;
}

function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

export async function denoise(opts: DenoiseOptions): Promise<DenoiseResult> {
  const { model, scheduler, guidance } = opts;
  const guided = guidance !== 1;
  if (guided && !opts.uncond) throw new Error('denoise: guidance ≠ 1 needs unconditional embeddings');
  const perImage = opts.height * opts.width * model.inChannels;
  const images = opts.noise.length / perImage;
  if (!Number.isInteger(images) || images < 1) throw new Error(`denoise: noise has ${opts.noise.length} values, not a multiple of the UNet's sample (${model.inChannels}×${opts.height}×${opts.width})`);
  // Batch order [uncond × N, cond × N], as diffusers concatenates them; PAG's perturbed cond × N last.
  const pag = opts.perturbedAttention;
  if (pag && pag.scales.length !== scheduler.timesteps.length) throw new Error(`denoise: ${pag.scales.length} PAG scales for ${scheduler.timesteps.length} steps`);
  const parts = (guided ? 2 : 1) + (pag ? 1 : 0);
  const perturbed = pag && { sites: pag.sites, fromItem: (parts - 1) * images };
  const prepareFor = (cond: Embeddings, uncond?: Embeddings) => {
    const prompts = new Array<Embeddings>(images).fill(cond);
    const contexts = [...(guided ? new Array<Embeddings>(images).fill(uncond!) : []), ...prompts, ...(pag ? prompts : [])];
    return model.prepare(parts * images, opts.height, opts.width, contexts, perturbed);
  };
  let prepared = prepareFor(opts.cond, opts.uncond);
  if (opts.embeddingsAt) {
    // Preparing again keeps the model's call (its GPU buffers) and writes the new context into it.
    let current: { cond: Embeddings; uncond?: Embeddings } = { cond: opts.cond, uncond: opts.uncond };
    const onGpu = prepared.onGpu;
    const { embeddingsAt, beforeStep } = opts;
    opts = {
      ...opts,
      beforeStep: (i) => {
        const next = embeddingsAt(i);
        if (next.cond !== current.cond || (guided && next.uncond !== current.uncond)) {
          prepared = prepareFor(next.cond, next.uncond);
          current = next;
          if (prepared.onGpu !== onGpu) throw new Error('denoise: new embeddings gave another GPU call; the GPU loop drives the first');
        }
        beforeStep?.(i);
      },
    };
  }
  if (prepared.onGpu && opts.loop !== 'cpu') return denoiseOnGpu(opts, prepared.onGpu);

  const size = opts.noise.length;
  let latents: Float32Array = opts.noise.map((v) => v * scheduler.initNoiseSigma);
  const timesteps = scheduler.timesteps;
  const modelInput = new Float32Array(size * parts);
  let unetMs = 0;
  let nonFiniteStep: number | undefined;

  const onlySlow = !!opts.stepReadback?.onlySlowSteps;
  for (let i = 0; i < timesteps.length; i++) {
    throwIfAborted(opts.signal);
    const stepStarted = performance.now();
    opts.beforeStep?.(i);
    const scaled = scheduler.scaleModelInput(latents, i);
    for (let part = 0; part < parts; part++) modelInput.set(scaled, part * size);
    const started = performance.now();
    const out = await prepared.predict(modelInput, timesteps[i]);
    unetMs += performance.now() - started;

    let eps: Float32Array;
    if (guided) {
      eps = new Float32Array(size);
      for (let j = 0; j < size; j++) {
        const u = out[j];
        eps[j] = u + guidance * (out[size + j] - u);
      }
    } else {
      eps = pag ? out.slice(0, size) : out;
    }
    if (pag) {
      // eps_cfg + s · (eps_cond − eps_perturbed): diffusers' PAG pipelines (ComfyUI's in x0 space, the same).
      const [cond, perturbedAt, scale] = [(parts - 2) * size, (parts - 1) * size, pag.scales[i]];
      for (let j = 0; j < size; j++) eps[j] += scale * (out[cond + j] - out[perturbedAt + j]);
    }
    const noise = opts.stepNoise ? () => opts.stepNoise!(i) : undefined;
    const { prevSample, predOriginal } = scheduler.step(eps, i, latents, noise);
    latents = prevSample;
    if (nonFiniteStep === undefined && !(allFinite(latents) && allFinite(predOriginal))) nonFiniteStep = i;
    const shown = !onlySlow || performance.now() - stepStarted >= (opts.slowStepMs ?? SLOW_STEP_MS);
    await opts.onStep?.(i, shown ? latents : undefined, shown ? predOriginal : undefined, shown ? nonFiniteStep : undefined);
  }
  return { latents, msPerStep: timesteps.length ? unetMs / timesteps.length : 0, nonFiniteStep };
}

/** Puts each prompt's embeddings at its batch position of the call's context input. */
function writeContext(unet: UNet, call: UNetCall, prompts: readonly Embeddings[]): void {
  const perItem = numel(call.context.shape.slice(1));
  const encoder = unet.gpu.device.createCommandEncoder({ label: 'unet context' });
  prompts.forEach((e, b) => {
    if (e instanceof Float32Array) {
      if (e.length !== perItem) throw new Error(`denoise: embeddings have ${e.length} values, the UNet expects ${perItem} (${call.context.shape.slice(1).join('×')})`);
      unet.gpu.write(call.context.buffer, e, b * perItem * 4);
    } else {
      if (numel(e.shape) !== perItem) throw new Error(`denoise: embeddings [${e.shape}] do not match the UNet's context [${call.context.shape.slice(1)}]`);
      encoder.copyBufferToBuffer(e.buffer, e.byteOffset, call.context.buffer, b * perItem * 4, perItem * 4);
    }
  });
  unet.gpu.device.queue.submit([encoder.finish()]);
  call.contextPlan.run();
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DOMException('The generation was cancelled', 'AbortError');
}
