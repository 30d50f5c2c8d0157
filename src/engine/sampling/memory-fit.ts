// Will a model fit at this size, before anything is allocated? An estimate from the configs alone of
// the GPU memory a pipeline takes: its weights as the loader stores them, and the activation buffers
// its recorded plans keep (UNet call, its cross-attention context, text encoder, VAE decode). The
// plans stay allocated while the pipeline lives (a slider drag replays them), so the peak is their
// sum, not their largest. tests/memory-fit.test.ts holds the estimate against what the recorders
// and the loader allocate, here and as measured on the GPU machine at SD sizes.
import { GpuError } from '../gpu/gpu-context';
import { parseClipTextConfig, type ClipTextConfig, type ClipTextSpec } from '../nn/clip-text';
import { parseUNetConfig, type UNetConfig } from '../nn/unet-config';
import { expectedUNetWeights } from '../nn/unet-weights';
import { parseVaeConfig, type AutoencoderKLConfig, type VaeDecoderSpec } from '../nn/vae-decoder';
import type { ModelFolder } from '../weights/model-folder';

export interface FitRequest {
  unet: UNetConfig;
  textEncoder?: ClipTextSpec;
  /** SD's AutoencoderKL decoder; without it the UNet works in pixel space (or TAESD, small). */
  vae?: VaeDecoderSpec;
  /** Image size in pixels. */
  width: number;
  height: number;
  /** Images per UNet call: 2 with classifier-free guidance, 1 without; times the seeds of a batch. */
  batch: number;
  /** Tokens per prompt (77 for SD). */
  contextLength?: number;
  /** Pixels per latent pixel: 8 for SD's VAE and TAESD; by default from `vae`, else 1. */
  upscale?: number;
  /** Bytes per value of the matrices on the GPU: 2 (f16, the default) or 4. */
  matrixBytes?: 2 | 4;
}

export interface MemoryEstimate {
  weightBytes: number;
  activationBytes: number;
  totalBytes: number;
  /** The largest single activation buffer: it must fit one binding. */
  largestBufferBytes: number;
  parts: { name: string; weightBytes: number; activationBytes: number }[];
}

/** Recorders pool activations by lifetime with best-fit reuse up to twice a tensor's size; what
 * they allocate in all is this many times the tensors live at the busiest point (measured:
 * tests/memory-fit.test.ts). */
const POOL_FACTOR = 2;
const F32 = 4;

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const tensorBytes = (shape: readonly number[], matrixBytes: number) => (shape.length >= 2 ? count(shape) * matrixBytes : count(shape) * F32);

/** The UNet's weights as stored, plus the stacked copies the engine makes at load (self-attention
 * q|k|v per block, every cross-attention's k|v, the ResNets' time projections). */
export function unetWeightBytes(unet: UNetConfig, matrixBytes = 2): number {
  let bytes = 0;
  for (const [name, shape] of expectedUNetWeights(unet)) {
    bytes += tensorBytes(shape, matrixBytes);
    if (/attn1\.to_[qkv]\.weight$|attn2\.to_[kv]\.weight$|time_emb_proj\.(weight|bias)$/.test(name)) bytes += tensorBytes(shape, matrixBytes);
  }
  return bytes;
}

/** Activations the UNet call keeps allocated, in values: the skip connections live through the whole
 * call, and on top of them the busiest block's working set (a transformer block: its input, norm,
 * q, k, v, attention, and GEGLU's 8x-wide projection; a ResNet block: about five maps). */
function unetActivationValues(unet: UNetConfig, batch: number, h: number, w: number): { values: number; largest: number } {
  const at = (level: number) => (h >> level) * (w >> level) * batch;
  let skips = at(0) * unet.blockOutChannels[0];
  let busiest = 0;
  let largest = 0;
  const work = (level: number, channels: number, attention: boolean) => {
    const factor = attention ? 14 : 5;
    busiest = Math.max(busiest, at(level) * channels * factor);
    largest = Math.max(largest, at(level) * channels * (attention ? 8 : 2));
  };
  unet.down.forEach((block, i) => {
    skips += at(i) * block.outChannels * block.layers;
    work(i, block.outChannels, block.hasCrossAttention);
    if (block.resample) skips += at(i + 1) * block.outChannels;
  });
  const levels = unet.down.length;
  unet.up.forEach((block, i) => work(levels - 1 - i, block.outChannels, block.hasCrossAttention));
  return { values: skips + busiest, largest };
}

/** The text encoder's activations for `prompts` prompts: the residual stream, q|k|v, and the MLP's hidden layer. */
function clipActivationValues(spec: ClipTextSpec, prompts: number, length: number): number {
  return prompts * length * (6 * spec.hiddenSize + 2 * spec.intermediateSize);
}

function clipWeightBytes(spec: ClipTextSpec, matrixBytes: number): number {
  const D = spec.hiddenSize;
  const perLayer = (4 * D * D + 2 * D * spec.intermediateSize) * matrixBytes + (9 * D + spec.intermediateSize) * F32;
  return (spec.vocabSize + spec.maxPositions) * D * matrixBytes + spec.layers * perLayer + 2 * D * F32;
}

/** The VAE decoder's activations for one image (pipelines decode one at a time): at the top
 * resolution, a ResNet block's maps and the upsampled input. */
function vaeActivationValues(vae: VaeDecoderSpec, height: number, width: number): { values: number; largest: number } {
  const levels = vae.blockOutChannels.length;
  let values = 0;
  let largest = 0;
  [...vae.blockOutChannels].reverse().forEach((channels, i) => {
    const pixels = (height >> (levels - 1 - i)) * (width >> (levels - 1 - i));
    const inChannels = i === 0 ? channels : [...vae.blockOutChannels].reverse()[i - 1];
    values = Math.max(values, pixels * (3 * channels + inChannels));
    largest = Math.max(largest, pixels * Math.max(channels, inChannels));
  });
  // The mid block's single-head attention over every latent pixel.
  const top = vae.blockOutChannels[levels - 1];
  const latentPixels = (height >> (levels - 1)) * (width >> (levels - 1));
  return { values: Math.max(values, latentPixels * top * 6), largest };
}

function vaeWeightBytes(vae: VaeDecoderSpec, matrixBytes: number): number {
  let values = 0;
  const reversed = [...vae.blockOutChannels].reverse();
  const resnet = (inp: number, out: number) => 9 * (inp * out + out * out) + (inp !== out ? inp * out : 0);
  const top = reversed[0];
  values += 9 * vae.latentChannels * top + 2 * resnet(top, top) + (vae.midBlockAttention ? 4 * top * top : 0);
  let channels = top;
  reversed.forEach((out, i) => {
    for (let r = 0; r <= vae.layersPerBlock; r++) values += resnet(r === 0 ? channels : out, out);
    channels = out;
    if (i < reversed.length - 1) values += 9 * out * out;
  });
  values += 9 * channels * vae.outChannels;
  return values * matrixBytes;
}

export function estimateMemory(r: FitRequest): MemoryEstimate {
  const matrixBytes = r.matrixBytes ?? 2;
  const upscale = r.upscale ?? (r.vae ? 2 ** (r.vae.blockOutChannels.length - 1) : 1);
  const h = Math.ceil(r.height / upscale);
  const w = Math.ceil(r.width / upscale);
  const length = r.contextLength ?? r.textEncoder?.maxPositions ?? 77;
  const parts: MemoryEstimate['parts'] = [];
  const unet = unetActivationValues(r.unet, r.batch, h, w);
  // The cross-attention keys and values of every site, for the whole call.
  const contextValues = r.batch * length * 2 * [...r.unet.down, ...r.unet.up].reduce((s, b) => s + (b.hasCrossAttention ? b.layers * b.transformerLayers * b.outChannels : 0), r.unet.mid ? r.unet.mid.transformerLayers * r.unet.mid.channels : 0);
  parts.push({ name: 'UNet', weightBytes: unetWeightBytes(r.unet, matrixBytes), activationBytes: (POOL_FACTOR * unet.values + contextValues) * F32 });
  let largest = unet.largest;
  if (r.textEncoder) parts.push({ name: 'text encoder', weightBytes: clipWeightBytes(r.textEncoder, matrixBytes), activationBytes: POOL_FACTOR * clipActivationValues(r.textEncoder, Math.min(r.batch, 2), length) * F32 });
  if (r.vae) {
    const vae = vaeActivationValues(r.vae, r.height, r.width);
    largest = Math.max(largest, vae.largest);
    parts.push({ name: 'VAE decoder', weightBytes: vaeWeightBytes(r.vae, matrixBytes), activationBytes: POOL_FACTOR * vae.values * F32 });
  }
  const weightBytes = parts.reduce((s, p) => s + p.weightBytes, 0);
  const activationBytes = parts.reduce((s, p) => s + p.activationBytes, 0);
  return { weightBytes, activationBytes, totalBytes: weightBytes + activationBytes, largestBufferBytes: largest * F32, parts };
}

export interface FitLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  /** GPU memory the caller allows (WebGPU does not say how much a GPU has): the app's setting, or
   * what the user's GPU is known to have. Without it only the binding limit is checked. */
  budgetBytes?: number;
}

/** Throws a GpuError('limits') that names the numbers and the largest size (a multiple of `multiple`
 * pixels, aspect ratio kept) that fits, unless `r` fits `limits`. Returns the estimate. */
export function assertFits(r: FitRequest, limits: FitLimits, what = 'this model', multiple = 64): MemoryEstimate {
  const estimate = estimateMemory(r);
  const problem = fitProblem(estimate, limits);
  if (!problem) return estimate;
  const smaller = largestFittingSize(r, limits, multiple);
  const suggestion = smaller ? `Try ${smaller.width}×${smaller.height} or smaller${r.batch > 1 ? `, or fewer images per batch` : ''}.` : 'No size of this model fits: try a smaller model.';
  throw new GpuError(
    'limits',
    `${what} at ${r.width}×${r.height}, ${r.batch} image${r.batch > 1 ? 's' : ''} per UNet call, needs about ${gib(estimate.totalBytes)} of GPU memory ` +
      `(${gib(estimate.weightBytes)} of weights, ${gib(estimate.activationBytes)} of activations; the largest buffer ${mib(estimate.largestBufferBytes)}): ${problem}. ${suggestion}`,
  );
}

function fitProblem(e: MemoryEstimate, limits: FitLimits): string | undefined {
  const binding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (e.largestBufferBytes > binding) return `its largest activation is over this GPU's ${mib(binding)} per buffer`;
  if (limits.budgetBytes !== undefined && e.totalBytes > limits.budgetBytes) return `more than the ${gib(limits.budgetBytes)} allowed`;
  return undefined;
}

/** The largest size below the request's, same aspect ratio, multiples of `multiple`, that fits. */
export function largestFittingSize(r: FitRequest, limits: FitLimits, multiple = 64): { width: number; height: number } | undefined {
  const long = Math.max(r.width, r.height);
  for (let side = Math.floor((long - 1) / multiple) * multiple; side >= multiple; side -= multiple) {
    const width = Math.max(multiple, Math.round((r.width * side) / long / multiple) * multiple);
    const height = Math.max(multiple, Math.round((r.height * side) / long / multiple) * multiple);
    if (!fitProblem(estimateMemory({ ...r, width, height }), limits)) return { width, height };
  }
  return undefined;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** The FitRequest of a diffusers pipeline folder from its configs alone (nothing is downloaded but
 * the JSON files): model_index.json's size and defaults unless `size` and `batch` say otherwise. */
export async function folderFitRequest(folder: ModelFolder, opts: { width?: number; height?: number; batch?: number } = {}): Promise<FitRequest> {
  const index = await folder.readJson<{ vae?: [string, string] | null; attention_lab?: { width?: number; height?: number; defaults?: { cfg?: number } } }>('model_index.json');
  const unet = parseUNetConfig(await folder.readJson('unet/config.json'));
  const textEncoder = (await folder.has('text_encoder/config.json')) ? parseClipTextConfig(await folder.readJson<ClipTextConfig>('text_encoder/config.json')) : undefined;
  const vae = index.vae?.[1] === 'AutoencoderKL' ? parseVaeConfig(await folder.readJson<AutoencoderKLConfig>('vae/config.json')) : undefined;
  const lab = index.attention_lab ?? {};
  const upscale = vae ? 2 ** (vae.blockOutChannels.length - 1) : index.vae?.[1] === 'AutoencoderTiny' ? 8 : 1;
  const size = (unet.sampleSize ?? 64) * upscale;
  const cfg = lab.defaults?.cfg ?? 7.5;
  // TAESD's own activations are not counted: a 64-channel decoder, small beside SD's VAE.
  return { unet, textEncoder, vae, upscale, width: opts.width ?? lab.width ?? size, height: opts.height ?? lab.height ?? size, batch: opts.batch ?? (cfg !== 1 ? 2 : 1) };
}
