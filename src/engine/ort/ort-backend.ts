// The second backend: the model's ONNX export (onnx/ in the model folder, training/export_onnx.py)
// run by ONNX Runtime Web, WebGPU execution provider by default. The attention multipliers are a graph
// input, [sites, 4], filled from the same table our engine writes to its GPU buffer, so the sliders
// act the same on both backends. The caller passes the `ort` module: the app imports
// 'onnxruntime-web/webgpu' in its worker only when this backend is chosen; Node uses ort-node.ts.
import type * as Ort from 'onnxruntime-web';
import { parseClipTextConfig, type ClipTextSpec } from '../nn/clip-text';
import type { UNetConfig } from '../nn/unet-config';
import type { PerturbedSelfAttention } from '../nn/unet';
import { enumerateSites, neutralSiteTable, type SiteTable } from '../nn/unet-sites';
import type { BackendLoader, DenoisingBackend } from '../sampling/backend';
import type { Embeddings, NoisePredictor, PreparedPrediction } from '../sampling/denoise';
import type { AttentionSite } from '../api';
import { progressSpan } from '../weights/byte-source';
import type { ModelFolder } from '../weights/model-folder';
import { loadOnnxModel, type OnnxWeightManifest } from './onnx-weights';

export type OrtModule = typeof Ort;
export type OrtExecutionProvider = 'webgpu' | 'wasm';

export const UNET_MANIFEST = 'onnx/unet.manifest.json';
export const TEXT_ENCODER_MANIFEST = 'onnx/text_encoder.manifest.json';

/** A BackendLoader that runs the folder's ONNX export on ONNX Runtime with `executionProvider`. */
export function onnxRuntimeBackend(ort: OrtModule, executionProvider: OrtExecutionProvider = 'webgpu'): BackendLoader {
  return async ({ folder, unetConfig, clipSkip, onProgress }) => {
    if (clipSkip) throw new Error(`${folder.name}: the ONNX export has the text encoder's last layer only, and this model uses clip skip`);
    for (const path of [UNET_MANIFEST, TEXT_ENCODER_MANIFEST]) {
      if (!(await folder.has(path))) throw new Error(`${folder.name} has no ONNX export (${path}), which the ONNX Runtime backend needs`);
    }
    const session = async (path: string, from: number, to: number, what: string) => {
      const files = await loadOnnxModel(folder, path, { onProgress: progressSpan(onProgress, from, to, what) });
      const created = await ort.InferenceSession.create(files.graph, { executionProviders: [executionProvider], externalData: files.externalData });
      return { session: created, manifest: files.manifest };
    };
    const textSpec = parseClipTextConfig(await folder.readJson('text_encoder/config.json'), `${folder.name}/text_encoder/config.json`);
    const text = await session(TEXT_ENCODER_MANIFEST, 0, 0.2, 'text encoder (ONNX Runtime)');
    try {
      const unet = await session(UNET_MANIFEST, 0.2, 1, 'UNet (ONNX Runtime)');
      return new OrtBackend(ort, text.session, textSpec, unet.session, unet.manifest, unetConfig, folder);
    } catch (e) {
      await text.session.release();
      throw e;
    }
  };
}

class OrtBackend implements DenoisingBackend {
  readonly name = 'onnxruntime';
  readonly predictor: OrtUNetPredictor;
  /** The text encoder is one fixed ONNX graph: no attention multipliers (the pipeline says so). */
  readonly steersTextEncoder = false;
  readonly contextLength: number;
  private readonly hiddenSize: number;

  constructor(
    private readonly ort: OrtModule,
    private readonly textSession: Ort.InferenceSession,
    textSpec: ClipTextSpec,
    private readonly unetSession: Ort.InferenceSession,
    unetManifest: OnnxWeightManifest,
    unetConfig: UNetConfig,
    folder: ModelFolder,
  ) {
    // As our engine's ClipTextEncoder: prompts padded to every position the model has.
    this.contextLength = textSpec.maxPositions;
    this.hiddenSize = textSpec.hiddenSize;
    const sites = enumerateSites(unetConfig);
    checkSiteOrder(sites, unetManifest, `${folder.name}/${UNET_MANIFEST}`);
    this.predictor = new OrtUNetPredictor(ort, unetSession, unetConfig.inChannels, unetConfig.crossAttentionDim, sites);
  }

  get sites(): readonly AttentionSite[] {
    return this.predictor.sites;
  }

  setSiteTable(table: SiteTable): void {
    if (table.length !== this.predictor.multipliers.length) throw new Error(`ONNX UNet: a site table of ${table.length} floats for ${this.predictor.sites.length} attention sites`);
    this.predictor.multipliers = table;
  }

  async encodeText(ids: Int32Array, count: number): Promise<Embeddings[]> {
    const input = new this.ort.Tensor('int32', ids, [count, ids.length / count]);
    const out = await this.textSession.run({ [this.textSession.inputNames[0]]: input });
    const hidden = (await out[this.textSession.outputNames[0]].getData()) as Float32Array;
    const per = this.contextLength * this.hiddenSize;
    return Array.from({ length: count }, (_, i) => hidden.slice(i * per, (i + 1) * per));
  }

  destroy(): void {
    void this.textSession.release();
    void this.unetSession.release();
  }
}

class OrtUNetPredictor implements NoisePredictor {
  /** The per-site table, fed as the graph's `attention_multipliers` input. */
  multipliers: SiteTable;

  constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    readonly inChannels: number,
    /** Width of a text embedding token (the UNet's cross_attention_dim). */
    private readonly contextWidth: number,
    readonly sites: readonly AttentionSite[],
  ) {
    this.multipliers = neutralSiteTable(sites);
  }

  prepare(batch: number, height: number, width: number, contexts: readonly Embeddings[], perturbed?: PerturbedSelfAttention): PreparedPrediction {
    // The pipeline leaves PAG out here with a notice (steering's supportedSteering); never ignore it silently.
    if (perturbed) throw new Error('ONNX UNet: perturbed-attention guidance needs the WebGPU engine (the exported graph has no identity attention)');
    if (contexts.length !== batch) throw new Error(`ONNX UNet: ${contexts.length} text embeddings for a batch of ${batch}`);
    const arrays = contexts.filter((c): c is Float32Array => c instanceof Float32Array);
    const per = arrays[0]?.length ?? 0;
    if (arrays.length !== batch || arrays.some((c) => c.length !== per)) throw new Error('ONNX UNet: text embeddings must be CPU arrays of one size');
    const context = new Float32Array(batch * per);
    arrays.forEach((c, i) => context.set(c, i * per));
    const tokens = per / this.contextWidth;
    const { ort, session } = this;
    const feeds = {
      encoder_hidden_states: new ort.Tensor('float32', context, [batch, tokens, this.contextWidth]),
    };
    return {
      predict: async (sample, timestep) => {
        const out = await session.run({
          ...feeds,
          sample: new ort.Tensor('float32', sample, [batch, this.inChannels, height, width]),
          timestep: new ort.Tensor('float32', new Float32Array(batch).fill(timestep), [batch]),
          attention_multipliers: new ort.Tensor('float32', this.multipliers, [this.multipliers.length / 4, 4]),
        });
        return (await out[session.outputNames[0]].getData()) as Float32Array;
      },
    };
  }
}

/** The graph's multiplier rows must be our sites, in our order: a mismatch would move sliders to the wrong layers. */
export function checkSiteOrder(sites: readonly AttentionSite[], manifest: OnnxWeightManifest, where: string): void {
  const rows = manifest.attention_sites ?? [];
  const same = rows.length === sites.length && rows.every((r, i) => r.path === sites[i].path);
  if (!same) throw new Error(`${where}: attention_sites do not match the UNet config's attention modules`);
}
