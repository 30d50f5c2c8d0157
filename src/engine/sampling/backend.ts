// What runs the networks of a text-to-image pipeline: the text encoder and the UNet. Everything
// around them (tokenizer, schedulers, guidance, noise, decoding) is the pipeline's and is shared, so
// two backends given the same model and request make the same image up to float rounding.
//
// The default backend is our WGSL engine. src/engine/ort/ort-backend.ts runs the same model's ONNX
// export on ONNX Runtime Web (a second opinion, and a baseline for the benchmark).
import type { GpuContext } from '../gpu/gpu-context';
import type { Tensor } from '../gpu/tensor';
import { ClipTextEncoder } from '../nn/clip-text';
import { UNet } from '../nn/unet';
import type { UNetConfig } from '../nn/unet-config';
import { progressSpan, type LoadProgress } from '../weights/byte-source';
import { subFolder, type ModelFolder } from '../weights/model-folder';
import { GpuUNetPredictor, type Embeddings, type NoisePredictor } from './denoise';
import type { AttentionMultipliers, AttentionSite, BackendName } from '../api';
import type { SiteTable } from '../nn/unet-sites';
import type { FreeUFactors } from '../kernels/freeu';

export interface DenoisingBackend {
  readonly name: BackendName;
  readonly predictor: NoisePredictor;
  /** Tokens per prompt the text encoder takes. */
  readonly contextLength: number;
  /** The UNet's attention sites, in the order of the site table's rows. */
  readonly sites: readonly AttentionSite[];
  /** The steering controls' per-site table for the predictions that follow (steering's buildSiteTable). */
  setSiteTable(table: SiteTable): void;
  /** FreeU's factors for the predictions that follow, or undefined for none (steering's
   * skipScalingPerStep); absent where the backend cannot change the network's insides. */
  setSkipScaling?(factors: FreeUFactors | undefined): void;
  /** Whether encodeText applies attention multipliers (CLIP attention steering). */
  readonly steersTextEncoder: boolean;
  /** One [1, L, D] embedding per prompt, for `count` prompts of contextLength token ids each; with
   * `multipliers`, every self-attention of the encoder scaled by them (where steersTextEncoder).
   * GPU embeddings stay valid until the next encoding with multipliers, or the next without. */
  encodeText(ids: Int32Array, count: number, multipliers?: AttentionMultipliers): Promise<Embeddings[]>;
  destroy(): void;
}

export interface BackendLoadContext {
  gpu: GpuContext;
  folder: ModelFolder;
  unetConfig: UNetConfig;
  /** Use the penultimate CLIP layer (model_index.json's attention_lab.clip_skip). */
  clipSkip: boolean;
  /** Loading progress of the backend's weights, 0..1. */
  onProgress: LoadProgress;
}

/** Makes a backend for a model folder; DiffusionPipeline.load calls it. */
export type BackendLoader = (ctx: BackendLoadContext) => Promise<DenoisingBackend>;

/** Our WGSL engine: CLIP text encoder and UNet on the pipeline's GPU device. */
export class WebGpuBackend implements DenoisingBackend {
  readonly name = 'webgpu';
  readonly predictor: GpuUNetPredictor;
  readonly steersTextEncoder = true;

  private constructor(
    private readonly textEncoder: ClipTextEncoder,
    readonly unet: UNet,
    private readonly clipSkip: boolean,
  ) {
    this.predictor = new GpuUNetPredictor(unet);
  }

  static load: BackendLoader = async ({ gpu, folder, clipSkip, onProgress }) => {
    const textEncoder = await ClipTextEncoder.load(gpu, folder, 'text_encoder', { onProgress: progressSpan(onProgress, 0, 0.2, 'text encoder') });
    try {
      const unet = await UNet.load(gpu, subFolder(folder, 'unet'), progressSpan(onProgress, 0.2, 1, 'UNet'));
      return new WebGpuBackend(textEncoder, unet, clipSkip);
    } catch (e) {
      textEncoder.destroy();
      throw e;
    }
  };

  get contextLength(): number {
    return this.textEncoder.maxLength;
  }

  get sites(): readonly AttentionSite[] {
    return this.unet.sites;
  }

  setSiteTable(table: SiteTable): void {
    this.unet.setSiteTable(table);
  }

  setSkipScaling(factors: FreeUFactors | undefined): void {
    this.unet.setSkipScaling(factors);
  }

  async encodeText(ids: Int32Array, count: number, multipliers?: AttentionMultipliers): Promise<Embeddings[]> {
    const out = await this.textEncoder.encode(ids, count, { clipSkip: this.clipSkip, multipliers });
    const length = ids.length / count;
    const hidden = this.textEncoder.hiddenSize;
    const view = (i: number): Tensor => ({ ...out, shape: [1, length, hidden], byteOffset: out.byteOffset + i * length * hidden * 4, label: `${out.label}[${i}]` });
    return Array.from({ length: count }, (_, i) => view(i));
  }

  destroy(): void {
    this.textEncoder.destroy();
    this.predictor.destroy();
    this.unet.destroy();
  }
}
