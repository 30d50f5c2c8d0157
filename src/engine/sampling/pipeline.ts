// Text to image, as diffusers' StableDiffusionPipeline does it:
// tokenizer → CLIP text encoder → denoising loop (UNet + scheduler + CFG) → decoder → RGBA8.
// The text encoder and UNet run on a backend (backend.ts): our WGSL engine unless told otherwise.
//
// A model folder is a diffusers pipeline folder: model_index.json, unet/, text_encoder/,
// tokenizer/, scheduler/, and vae/ (AutoencoderKL or AutoencoderTiny) unless the model works in
// pixel space. model_index.json may carry an "attention_lab" section with the app's defaults.
import type { GpuContext } from '../gpu/gpu-context';
import { numel, type Tensor } from '../gpu/tensor';
import { DecodeRunner, IdentityDecoder, type ImageDecoder } from '../nn/image-output';
import { TaesdDecoder } from '../nn/taesd-decoder';
import { PromptTokenizer } from '../nn/tokenizer';
import type { UNet } from '../nn/unet';
import { parseUNetConfig, type UNetConfig } from '../nn/unet-config';
import { enumerateSites } from '../nn/unet-sites';
import { perturbedPass, siteTablesPerStep, skipScalingPerStep, supportedSteering, textEncoderSteering } from '../steering/controls';
import { isFullRange, isStepInRange } from '../steering/step-range';
import { VaeDecoder } from '../nn/vae-decoder';
import { progressSpan, type LoadProgress } from '../weights/byte-source';
import { listedModelFolder, type ModelFolder } from '../weights/model-folder';
import { WebGpuBackend, type BackendLoader, type DenoisingBackend } from './backend';
import { denoise, throwIfAborted, type Embeddings } from './denoise';
import { latentPreview } from './latent-preview';
import { assertFits, estimateMemory, folderFitRequest, type FitLimits, type FitRequest, type MemoryEstimate } from './memory-fit';
import { gaussianNoise } from './noise';
import type { AttentionMultipliers, GenerateProgress, GenerateRequest, GenerateResult, ModelDefaults, ModelInfo, RgbaImage } from '../api';
import { CFG_RANGE, DECODER_CHOICES, SAMPLER_NAMES, STEP_RANGE } from '../api';
import { createScheduler, parseSchedulerConfig, type SchedulerConfig } from './schedulers';
import { AttentionMapRun } from './attention-map-run';

/** What model_index.json may say beyond diffusers' fields (see public/models/emoji-64). */
interface AttentionLabSection {
  name?: string;
  /** Image size in pixels; defaults to unet sample_size × the decoder's upscale. */
  width?: number;
  height?: number;
  defaults?: Partial<ModelDefaults>;
  /** Use the penultimate CLIP layer (after the final layer norm). */
  clip_skip?: boolean;
  credits?: string[];
  /** Every file of the folder (relative paths): which optional files exist is known without asking. */
  files?: string[];
}

interface ModelIndex {
  _class_name?: string;
  vae?: [string, string] | null;
  attention_lab?: AttentionLabSection;
}

export type { LoadProgress };

/** One generation's text embeddings: the prompt's, and the negative prompt's where CFG needs it. */
type PromptEmbeddings = { uncond?: Embeddings; cond: Embeddings };

/** Noise arrays DiffusionPipeline keeps: an XY plot's row of seeds, and then some. */
const NOISE_KEPT = 16;

export class DiffusionPipeline {
  private readonly decodeRunner: DecodeRunner;
  /** The last prompts' embeddings from the plain encoder, and from the encoder with attention
   * multipliers: a step range needs both, and each stays valid until the next of its kind. */
  private readonly encoded = new Map<'plain' | 'steered', { key: string; embeddings: PromptEmbeddings }>();
  private latentBuffer?: GPUBuffer;
  /** TAESD beside the model's own decoder (setFastDecoder): step previews, and the final image when
   * a request asks for `decoder: 'taesd'`. Not owned: whoever set it destroys it. */
  private fastDecoder?: TaesdDecoder;
  private previewBuffer?: GPUBuffer;
  /** Recent seeds' initial noise (initialNoise), least recently used first. Callers only read it. */
  private readonly noise = new Map<string, Float32Array>();
  /** Counts for tests and the UI: how often the text encoder and the UNet ran. */
  readonly stats = { textEncodings: 0, unetCalls: 0 };

  private constructor(
    readonly gpu: GpuContext,
    readonly info: ModelInfo,
    private readonly tokenizer: PromptTokenizer,
    /** What runs the text encoder and the UNet. */
    readonly backend: DenoisingBackend,
    readonly unetConfig: UNetConfig,
    private readonly schedulerConfig: SchedulerConfig,
    private readonly decoder: ImageDecoder,
    /** The model's memory needs and the GPU's limits, to refuse a request's size or batch before
     * allocating for it; absent where another backend holds the memory. */
    private readonly fit?: { request: FitRequest; limits: FitLimits },
  ) {
    this.decodeRunner = new DecodeRunner(gpu, decoder, 'decode');
  }

  /** GPU memory the folder's model would take at `width`×`height` (default: its own size) with
   * `batch` images per UNet call (default: 2 with CFG), from its configs alone: for the page to show
   * before anything is downloaded or allocated (memory-fit.ts). */
  static async estimateMemory(folder: ModelFolder, opts: { width?: number; height?: number; batch?: number } = {}): Promise<MemoryEstimate> {
    return estimateMemory(await folderFitRequest(folder, opts));
  }

  /** Loads a diffusers pipeline folder; `backend` runs its text encoder and UNet (default: our WGSL
   * engine). Refuses before allocating when the model at its size does not fit this GPU's buffers or
   * `memoryBudgetBytes` (memory-fit.ts), with the numbers and a smaller size that fits. */
  static async load(gpu: GpuContext, folder: ModelFolder, onProgress?: LoadProgress, opts: { backend?: BackendLoader; memoryBudgetBytes?: number } = {}): Promise<DiffusionPipeline> {
    const index = await folder.readJson<ModelIndex>('model_index.json');
    const lab = index.attention_lab ?? {};
    // The folder's own file list answers "is there a file …" without a request.
    if (lab.files !== undefined) {
      if (!Array.isArray(lab.files) || !lab.files.every((f) => typeof f === 'string')) throw new Error(`${folder.name}/model_index.json: attention_lab.files must be a list of paths`);
      folder = listedModelFolder(folder, lab.files);
    }
    let fit: { request: FitRequest; limits: FitLimits } | undefined;
    if (!opts.backend) {
      fit = { request: await folderFitRequest(folder), limits: { maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize, maxBufferSize: gpu.limits.maxBufferSize, budgetBytes: opts.memoryBudgetBytes } };
      assertFits(fit.request, fit.limits, folder.name);
    }

    const schedulerConfig = parseSchedulerConfig(await folder.readJson('scheduler/scheduler_config.json'));
    const unetConfig = parseUNetConfig(await folder.readJson('unet/config.json'));
    const vaeClass = index.vae?.[1];
    if (vaeClass && vaeClass !== 'AutoencoderTiny' && vaeClass !== 'AutoencoderKL') {
      throw new Error(`${folder.name}/model_index.json: vae class "${vaeClass}" is not supported (AutoencoderKL, AutoencoderTiny, or none for pixel space)`);
    }
    gpu.takeLoadWarnings(); // a failed load's, if any
    const loadBackend = opts.backend ?? WebGpuBackend.load;
    const backend = await loadBackend({ gpu, folder, unetConfig, clipSkip: lab.clip_skip ?? false, onProgress: (f, what) => onProgress?.(0.9 * f, what) });
    let decoder: ImageDecoder;
    try {
      const tokenizer = await PromptTokenizer.load(folder, 'tokenizer', backend.contextLength);
      if (!vaeClass) decoder = new IdentityDecoder(unetConfig.outChannels);
      else if (vaeClass === 'AutoencoderTiny') decoder = await TaesdDecoder.load(gpu, folder, 'vae', { onProgress: progressSpan(onProgress, 0.9, 1, 'decoder') });
      else decoder = await VaeDecoder.load(gpu, folder, 'vae', { onProgress: progressSpan(onProgress, 0.9, 1, 'decoder') });
      onProgress?.(1, 'ready');
      const info = DiffusionPipeline.modelInfo(folder, lab, unetConfig, decoder);
      const warnings = gpu.takeLoadWarnings();
      if (warnings.length) info.warnings = warnings;
      return new DiffusionPipeline(gpu, info, tokenizer, backend, unetConfig, schedulerConfig, decoder, fit);
    } catch (e) {
      backend.destroy();
      throw e;
    }
  }

  private static modelInfo(folder: ModelFolder, lab: AttentionLabSection, unetConfig: UNetConfig, decoder: ImageDecoder): ModelInfo {
    const size = (unetConfig.sampleSize ?? 64) * decoder.upscale;
    const d = lab.defaults ?? {};
    const defaults: ModelDefaults = {
      sampler: d.sampler && SAMPLER_NAMES.includes(d.sampler) ? d.sampler : 'euler',
      steps: d.steps ?? 20,
      cfg: d.cfg ?? 7.5,
      prompt: d.prompt,
      negativePrompt: d.negativePrompt,
    };
    const multiple = decoder.upscale * 2 ** unetConfig.down.filter((b) => b.resample).length;
    const width = lab.width ?? size;
    const height = lab.height ?? size;
    if (width % multiple || height % multiple) throw new Error(`${folder.name}/model_index.json: size ${width}×${height} is not a multiple of ${multiple}`);
    return { name: lab.name ?? folder.name, width, height, sizeMultiple: multiple, defaults, sites: enumerateSites(unetConfig), credits: lab.credits };
  }

  /** Our engine's UNet and its recorded calls (benchmarks, parity checks); only on the WebGPU backend. */
  get unet(): UNet {
    if (!(this.backend instanceof WebGpuBackend)) throw new Error(`the ${this.backend.name} backend has no WGSL UNet`);
    return this.backend.unet;
  }

  /**
   * Gives the pipeline a TAESD (or takes it away): while set, step previews are its decode of the
   * step's x0 instead of the CPU's linear projection, and `decoder: 'taesd'` requests end with it.
   * Its latent channels must be the model's. Where its upscale differs from the model decoder's
   * (never for SD 1.x/2.x and their TAESD, both 8), its images come out at its own size.
   */
  setFastDecoder(decoder: TaesdDecoder | undefined): void {
    const channels = this.decoder.latentChannels;
    if (decoder && this.decoder instanceof IdentityDecoder) {
      throw new Error(`${this.info.name} works in pixel space: it has no latents for a TAESD to decode. Load a latent model (Stable Diffusion) first`);
    }
    if (decoder && decoder.latentChannels !== channels) {
      throw new Error(`This TAESD decodes ${decoder.latentChannels}-channel latents, but ${this.info.name} makes ${channels}-channel latents: load the TAESD made for this model's family (madebyollin/taesd for SD 1.x and 2.x)`);
    }
    this.fastDecoder = decoder;
  }

  get hasFastDecoder(): boolean {
    return !!this.fastDecoder;
  }

  /** Tokens per prompt: the text encoder's context length. */
  get contextLength(): number {
    return this.tokenizer.maxLength;
  }

  /** Runs one text-to-image generation. Progress after every step; cancellable between steps. */
  async generate(request: GenerateRequest, opts: { onProgress?: (p: GenerateProgress) => void; signal?: AbortSignal } = {}): Promise<GenerateResult> {
    const started = performance.now();
    const decoder = this.finalDecoder(request);
    const notices: string[] = [];
    const mapRun = this.attentionMapRun(request, notices);
    // On our GPU loop the latents are decoded where they are, queued behind the last step.
    let image: RgbaImage | undefined;
    let sampled: Awaited<ReturnType<DiffusionPipeline['sample']>>;
    try {
      sampled = await this.sample(request, { ...opts, beforeStep: mapRun && ((i) => mapRun.beforeStep(i)), useGpuLatents: async (onGpu) => void (image = await decoder.decodeToImage(onGpu)) });
    } catch (e) {
      if (mapRun) this.unet.setProbes(undefined);
      throw e;
    }
    const { latents, msPerStep, nonFiniteStep } = sampled;
    notices.push(...sampled.notices);
    const promptTokens = this.promptTokens(request.prompt);
    const attentionMaps = mapRun && (await mapRun.finish(this.latentSizeOf(request), promptTokens.length));
    throwIfAborted(opts.signal);
    image ??= await this.decodeImage(latents, this.latentSizeOf(request), decoder);
    return {
      image,
      ms: performance.now() - started,
      msPerStep,
      nonFiniteFromStep: nonFiniteStep === undefined ? undefined : nonFiniteStep + 1,
      promptTokens,
      ...(attentionMaps && { attentionMaps }),
      ...(notices.length && { notices }),
    };
  }

  /** The attention maps `request` asks for, on our engine's UNet; elsewhere a notice, and none. */
  private attentionMapRun(request: GenerateRequest, notices: string[]): AttentionMapRun | undefined {
    const maps = request.attentionMaps;
    if (!maps?.crossAttention && !maps?.selfAttention) return undefined;
    if (!(this.backend instanceof WebGpuBackend)) {
      notices.push(`Attention maps need the WebGPU engine: the ${this.backend.name} backend cannot look inside the UNet, so the image is shown without a map.`);
      return undefined;
    }
    return AttentionMapRun.start(this.unet, maps, { guided: request.cfg !== 1, steps: request.steps, notices });
  }

  /** The prompt as the tokenizer splits it, start and end tokens included, cut as the encoder cuts it. */
  promptTokens(prompt: string): string[] {
    const tokens = this.tokenizer.tokens(prompt);
    const max = this.tokenizer.maxLength;
    return tokens.length <= max ? tokens : [...tokens.slice(0, max - 1), tokens[tokens.length - 1]];
  }

  /**
   * One image per seed, all other settings shared, sampled together: one UNet call per step serves
   * every image, which is how a GPU is kept busy (throughput for grids and benchmarks). Each image
   * equals its single-image generation up to float rounding.
   */
  async generateBatch(request: GenerateRequest, seeds: readonly number[], opts: { onProgress?: (p: GenerateProgress) => void; signal?: AbortSignal } = {}): Promise<GenerateResult[]> {
    const started = performance.now();
    const decoder = this.finalDecoder(request);
    const images: RgbaImage[] = [];
    const useGpuLatents = async (onGpu: Tensor) => {
      const [count, ...one] = onGpu.shape;
      for (let i = 0; i < count; i++) images.push(await decoder.decodeToImage({ ...onGpu, shape: [1, ...one], byteOffset: onGpu.byteOffset + i * numel(one) * 4 }));
    };
    const { latents, msPerStep, nonFiniteStep, notices } = await this.sample({ ...request, preview: false }, { ...opts, seeds, useGpuLatents });
    const perImage = latents.length / seeds.length;
    for (let i = images.length; i < seeds.length; i++) {
      throwIfAborted(opts.signal);
      images.push(await this.decodeImage(latents.subarray(i * perImage, (i + 1) * perImage), this.latentSizeOf(request), decoder));
    }
    const ms = (performance.now() - started) / seeds.length;
    // The flag covers the whole batch: every image is marked when any went non-finite.
    return images.map((image) => ({ image, ms, msPerStep, nonFiniteFromStep: nonFiniteStep === undefined ? undefined : nonFiniteStep + 1, ...(notices.length && { notices }) }));
  }

  /**
   * The denoised samples before decoding ([N, C, h, w] floats; the parity tests compare them with
   * PyTorch). `seeds` makes one image per seed instead of request.seed's one; `noise` replaces the
   * seeded initial noise (standard normal, before init_noise_sigma). `useGpuLatents` takes them on
   * the GPU instead where the loop runs there (see DenoiseOptions), and the latents returned are
   * then empty. `notices`: what of the request this backend left out (steering it cannot run).
   */
  async sample(
    asked: GenerateRequest,
    opts: { onProgress?: (p: GenerateProgress) => void; signal?: AbortSignal; noise?: Float32Array; seeds?: readonly number[]; useGpuLatents?: (latents: Tensor) => Promise<void>; beforeStep?: (step: number) => void } = {},
  ): Promise<{ latents: Float32Array; msPerStep: number; nonFiniteStep?: number; notices: string[] }> {
    const { request, notices } = supportedSteering(asked, this.backend.name);
    const steps = request.steps;
    if (!Number.isInteger(steps) || steps < STEP_RANGE.min || steps > STEP_RANGE.max) throw new RangeError(`steps must be an integer in ${STEP_RANGE.min}–${STEP_RANGE.max}, got ${steps}`);
    if (!Number.isFinite(request.cfg) || request.cfg < CFG_RANGE.min || request.cfg > CFG_RANGE.max) throw new RangeError(`CFG must be in ${CFG_RANGE.min}–${CFG_RANGE.max}, got ${request.cfg}`);
    if (!SAMPLER_NAMES.includes(request.sampler)) throw new RangeError(`unknown sampler "${request.sampler}"`);
    const seeds = opts.seeds ?? [request.seed];
    for (const seed of seeds) if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in 0–4294967295, got ${seed}`);
    if (seeds.length < 1) throw new RangeError('no seeds to generate');

    const guided = request.cfg !== 1;
    const { height, width } = this.latentSizeOf(request);
    // PAG's perturbed item: one more per image in the same UNet call.
    const perturbedAttention = perturbedPass(this.backend.sites, request, steps);
    if (request.pag && request.pag.scale > 0 && !perturbedAttention) notices.push(`Perturbed-Attention Guidance was left out: its blocks name no self-attention of ${this.info.name}, or its steps hold no step of ${steps}.`);
    // The image size and batch are the request's: refused with the numbers before anything is allocated.
    const batch = seeds.length * ((guided ? 2 : 1) + (perturbedAttention ? 1 : 0));
    if (this.fit) assertFits({ ...this.fit.request, width: width * this.decoder.upscale, height: height * this.decoder.upscale, batch }, this.fit.limits, this.info.name, this.info.sizeMultiple);
    const prompts = await this.promptsPerStep(request, guided, notices);
    throwIfAborted(opts.signal);

    const scheduler = createScheduler(request.sampler, this.schedulerConfig, steps);
    const latentCount = this.unetConfig.inChannels * height * width;
    const perSeed = (stream: number) => {
      const all = new Float32Array(latentCount * seeds.length);
      seeds.forEach((seed, i) => all.set(stream === 0 ? this.initialNoise(seed, latentCount) : gaussianNoise(seed, latentCount, stream), i * latentCount));
      return all;
    };
    const noise = opts.noise ?? perSeed(0);
    // Rebuilt per step only where a control's step range is partial; written only when it changes.
    const siteTableAt = siteTablesPerStep(this.backend.sites, request, steps, (table) => this.backend.setSiteTable(table));
    // FreeU: supportedSteering has taken it out of the request where the backend cannot run it.
    const setSkipScaling = this.backend.setSkipScaling?.bind(this.backend);
    const skipScalingStep = setSkipScaling && skipScalingPerStep(request, steps, setSkipScaling);
    const { uncond, cond } = prompts.at(0);

    const result = await denoise({
      model: this.backend.predictor,
      scheduler,
      noise,
      height,
      width,
      cond,
      uncond,
      guidance: request.cfg,
      perturbedAttention,
      // Ancestral samplers draw fresh noise each step: stream i+1 of the same seed.
      stepNoise: (i) => perSeed(i + 1),
      beforeStep: eachStep(siteTableAt, skipScalingStep, opts.beforeStep),
      embeddingsAt: prompts.changes ? prompts.at : undefined,
      signal: opts.signal,
      useGpuLatents: opts.useGpuLatents,
      // Previews only where steps are slow enough for a person to wait on them (a slow step is
      // waited for before the next is queued, so nothing runs behind a preview's decode); fast
      // steps read nothing back.
      stepReadback: { predOriginal: !!request.preview, onlySlowSteps: true },
      onStep: async (step, _latents, predOriginal, nonFiniteStep) => {
        const progress: GenerateProgress = { step: step + 1, steps };
        if (request.preview && predOriginal && step + 1 < steps) progress.preview = await this.stepPreview(predOriginal, height, width);
        if (nonFiniteStep !== undefined) progress.nonFiniteFromStep = nonFiniteStep + 1;
        opts.onProgress?.(progress);
      },
    });
    this.stats.unetCalls += scheduler.timesteps.length;
    return { ...result, notices };
  }

  /** The UNet's sample size at the model's own image size: the image size divided by the decoder's upscale. */
  get latentSize(): { height: number; width: number } {
    return this.latentSizeOf({});
  }

  /** The UNet's sample size for a request's image size (the model's own where it names none). */
  latentSizeOf(request: Pick<GenerateRequest, 'width' | 'height'>): { height: number; width: number } {
    const width = request.width ?? this.info.width;
    const height = request.height ?? this.info.height;
    const multiple = this.info.sizeMultiple;
    const ok = (n: number) => Number.isInteger(n) && n >= multiple && n <= 4096 && n % multiple === 0;
    if (!ok(width) || !ok(height)) throw new RangeError(`image size must be multiples of ${multiple} in ${multiple}–4096 for ${this.info.name}, got ${width}×${height}`);
    return { height: height / this.decoder.upscale, width: width / this.decoder.upscale };
  }

  /** A seed's initial noise, gaussianNoise(seed, count), kept for the last NOISE_KEPT seeds:
   * dragging a slider renders one seed again and again, and the noise is on the path to every
   * first step. */
  private initialNoise(seed: number, count: number): Float32Array {
    const key = `${seed}|${count}`;
    let noise = this.noise.get(key);
    if (noise) {
      this.noise.delete(key); // re-inserted below: most recently used last
    } else {
      noise = gaussianNoise(seed, count);
      if (this.noise.size >= NOISE_KEPT) this.noise.delete(this.noise.keys().next().value!);
    }
    this.noise.set(key, noise);
    return noise;
  }

  /**
   * Each step's text embeddings: the encoder's with the request's attention multipliers in their step
   * range, the plain encoder's outside it (both encoded where the range is partial). A backend that
   * cannot steer its encoder renders without, and says so in `notices`.
   */
  private async promptsPerStep(request: GenerateRequest, guided: boolean, notices: string[]): Promise<{ at: (step: number) => PromptEmbeddings; changes: boolean }> {
    let clip = textEncoderSteering(request);
    if (clip && !this.backend.steersTextEncoder) {
      notices.push(`The text encoder attention multipliers need the WebGPU engine: ${this.backend.name === 'onnxruntime' ? 'ONNX Runtime' : this.backend.name} runs the text encoder as one fixed graph, so this image was rendered without them.`);
      clip = undefined;
    }
    const encode = (factors?: AttentionMultipliers) => this.encodePrompts(request.prompt, request.negativePrompt, guided, factors);
    if (!clip) {
      const plain = await encode();
      return { at: () => plain, changes: false };
    }
    const steered = await encode(clip.factors);
    if (isFullRange(clip.range)) return { at: () => steered, changes: false };
    const plain = await encode();
    const range = clip.range;
    return { at: (step) => (isStepInRange(range, step, request.steps) ? steered : plain), changes: true };
  }

  /** [uncond, cond] embeddings (with the encoder's attention scaled by `factors`), reused while the
   * prompts and factors stay the same. */
  private async encodePrompts(prompt: string, negative: string, guided: boolean, factors?: AttentionMultipliers): Promise<PromptEmbeddings> {
    const kind = factors ? 'steered' : 'plain';
    const key = JSON.stringify([prompt, guided ? negative : null, factors ?? null]);
    const kept = this.encoded.get(kind);
    if (kept?.key === key) return kept.embeddings;
    const texts = guided ? [negative, prompt] : [prompt];
    const length = this.tokenizer.maxLength;
    const ids = new Int32Array(texts.length * length);
    texts.forEach((t, i) => ids.set(this.tokenizer.encode(t), i * length));
    const out = await this.backend.encodeText(ids, texts.length, factors);
    this.stats.textEncodings++;
    const embeddings = guided ? { uncond: out[0], cond: out[1] } : { cond: out[0] };
    this.encoded.set(kind, { key, embeddings });
    return embeddings;
  }

  /** What decodes a request's final latents: the model's decoder, or the TAESD it asks for. */
  private finalDecoder(request: GenerateRequest): { decodeToImage(latent: Tensor): Promise<RgbaImage> } {
    const choice = request.decoder ?? 'vae';
    if (!DECODER_CHOICES.includes(choice)) throw new RangeError(`decoder must be one of ${DECODER_CHOICES.join(', ')}, got "${String(choice)}"`);
    if (choice === 'vae') return this.decodeRunner;
    if (!this.fastDecoder) throw new Error('decoder "taesd" was asked for, but no TAESD is loaded: give one to setFastDecoder first');
    return this.fastDecoder;
  }

  /** A step's x0 [N, C, h, w] as a picture of its first sample: TAESD's decode on the GPU where
   * there is one, else the CPU's linear projection at latent resolution. */
  private async stepPreview(x0: Float32Array, height: number, width: number): Promise<RgbaImage | undefined> {
    const channels = this.decoder.latentChannels;
    if (!this.fastDecoder) return latentPreview(x0, channels, height, width);
    const count = channels * height * width;
    if (!this.previewBuffer || this.previewBuffer.size < count * 4) {
      this.previewBuffer?.destroy();
      this.previewBuffer = this.gpu.createBuffer('pipeline:preview-x0', count * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    }
    this.gpu.write(this.previewBuffer, x0.subarray(0, count));
    return this.fastDecoder.decodeToImage({ buffer: this.previewBuffer, shape: [1, channels, height, width], dtype: 'f32', byteOffset: 0, label: 'preview-x0' });
  }

  private async decodeImage(latents: Float32Array, { height, width }: { height: number; width: number }, decoder: { decodeToImage(latent: Tensor): Promise<RgbaImage> } = this.decodeRunner): Promise<RgbaImage> {
    const channels = this.unetConfig.outChannels;
    const bytes = latents.byteLength;
    if (!this.latentBuffer || this.latentBuffer.size < bytes) {
      this.latentBuffer?.destroy();
      this.latentBuffer = this.gpu.createBuffer('pipeline:latents', bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    }
    this.gpu.write(this.latentBuffer, latents);
    const latent: Tensor = { buffer: this.latentBuffer, shape: [1, channels, height, width], dtype: 'f32', byteOffset: 0, label: 'latents' };
    return decoder.decodeToImage(latent);
  }

  destroy(): void {
    this.decodeRunner.destroy();
    this.latentBuffer?.destroy();
    this.previewBuffer?.destroy();
    this.backend.destroy();
    if ('destroy' in this.decoder && typeof this.decoder.destroy === 'function') (this.decoder as { destroy(): void }).destroy();
  }
}

/** One beforeStep from those that are set (each control writes its own per-step values). */
function eachStep(...hooks: (((step: number) => void) | undefined)[]): ((step: number) => void) | undefined {
  const set = hooks.filter((h): h is (step: number) => void => !!h);
  if (set.length < 2) return set[0];
  return (step) => set.forEach((h) => h(step));
}
