// Uploads a safetensors checkpoint to the GPU as a WeightStore.
//
// Tensors are packed into a few large buffers rather than one buffer each (an SD 1.5 UNet has ~690
// tensors) and never into one buffer for everything (3.4 GB exceeds maxBufferSize and
// maxStorageBufferBindingSize on most GPUs). Each tensor starts at a multiple of
// minStorageBufferOffsetAlignment, so kernels bind it with an offset.
//
// The file is read in chunks of consecutive tensors, so memory holds one chunk, not the checkpoint.

import { GpuError, align, type GpuContext } from '../gpu/gpu-context';
import { byteSize, numel, shapeString, type Tensor, type TensorDType } from '../gpu/tensor';
import type { ByteSource, ProgressCallback } from './byte-source';
import { assertFloat, decodeF32, parseSafetensorsHeader, type SafetensorsTensorInfo } from './safetensors';
import type { WeightStore } from './weight-store';

/** How weights are stored on the GPU. 'f16' (half the memory, unpacked in the shaders) is planned:
 * it needs an entry in STORAGE_FORMATS and kernels that read f16 weights. */
export type WeightStorage = 'f32';

interface StorageFormat {
  dtype: TensorDType;
  /** The values as the bytes the GPU buffer holds. */
  encode(values: Float32Array): ArrayBufferView;
}

const STORAGE_FORMATS: Record<WeightStorage, StorageFormat> = {
  f32: { dtype: 'f32', encode: (values) => values },
};

export interface LoadWeightsOptions {
  /** Keep only keys that start with this, and strip it: "text_model." turns
   * "text_model.embeddings.token_embedding.weight" into "embeddings.token_embedding.weight". */
  prefix?: string;
  /** Keep only the weights it accepts; it sees names after `prefix` is stripped. */
  filter?: (name: string) => boolean;
  /** Bytes of the file uploaded so far, of the bytes of every kept tensor. */
  onProgress?: ProgressCallback;
  /** Caps each GPU buffer below the device's limits (tests force several buffers with it). */
  maxBufferBytes?: number;
  storage?: WeightStorage;
  /** Largest read from the source, unless one tensor is larger. */
  readChunkBytes?: number;
}

/** No buffer larger than this, even where the device allows more: single huge allocations are the
 * first to fail when GPU memory is nearly full, and 256 MiB buffers waste little at their ends. */
const MAX_WEIGHT_BUFFER_BYTES = 256 * 2 ** 20;
const DEFAULT_READ_CHUNK_BYTES = 64 * 2 ** 20;
/** A gap of unwanted tensors longer than this ends a read chunk instead of being read and dropped. */
const MAX_SKIPPED_BYTES = 2 ** 20;
/** Wait for the queue after this many bytes of writeBuffer, so staging copies do not pile up. */
const BYTES_BETWEEN_WAITS = 256 * 2 ** 20;

interface Placement {
  info: SafetensorsTensorInfo;
  /** The key after `prefix` is stripped. */
  name: string;
  bufferIndex: number;
  byteOffset: number;
}

/** Reads the safetensors file `source` and uploads the float tensors it keeps, as f32, into packed
 * GPU buffers. Rejects before allocating when a kept tensor is not a float or cannot fit a buffer. */
export async function loadWeights(gpu: GpuContext, source: ByteSource, options: LoadWeightsOptions = {}): Promise<GpuWeightStore> {
  const format = STORAGE_FORMATS[options.storage ?? 'f32'];
  const prefix = options.prefix ?? '';
  const header = await parseSafetensorsHeader(source);
  const kept = header.tensors
    .filter((t) => t.name.startsWith(prefix))
    .map((info) => ({ info, name: info.name.slice(prefix.length) }))
    .filter(({ name }) => options.filter?.(name) ?? true);
  for (const { info } of kept) assertFloat(source.name, info);

  const plan = planWeightBuffers(kept.map(({ info }) => info), gpu.limits, { ...options, file: source.name });
  const placements: Placement[] = kept.map((k, i) => ({ ...k, ...plan.slots[i] }));

  const buffers = await createBuffers(gpu, source.name, plan.bufferSizes);
  try {
    await upload(gpu, source, placements, buffers, format, options);
  } catch (e) {
    for (const b of buffers) b.destroy();
    throw e;
  }
  const tensors = new Map<string, Tensor>(
    placements.map((p) => [p.name, { buffer: buffers[p.bufferIndex], byteOffset: p.byteOffset, shape: p.info.shape, dtype: format.dtype, label: p.name }]),
  );
  return new GpuWeightStore(source.name, prefix, tensors, buffers);
}

export interface WeightBufferPlan {
  /** Where each tensor goes, in the order they were given. */
  slots: { bufferIndex: number; byteOffset: number }[];
  bufferSizes: number[];
}

export type WeightBufferLimits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize' | 'minStorageBufferOffsetAlignment'>;

/**
 * Assigns tensors, in the order given (file order, so reads stay sequential), to buffers no larger
 * than the device allows, each tensor at a multiple of the binding alignment. Needs only the
 * header, so the app can say what a model will take before downloading it.
 */
export function planWeightBuffers(
  tensors: readonly { name: string; shape: readonly number[] }[],
  limits: WeightBufferLimits,
  options: { maxBufferBytes?: number; storage?: WeightStorage; file?: string } = {},
): WeightBufferPlan {
  const dtype = STORAGE_FORMATS[options.storage ?? 'f32'].dtype;
  const capacity = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, MAX_WEIGHT_BUFFER_BYTES, options.maxBufferBytes ?? Infinity);
  const alignment = limits.minStorageBufferOffsetAlignment;
  const slots: WeightBufferPlan['slots'] = [];
  const bufferSizes: number[] = [];
  let used = Infinity; // forces a first buffer
  for (const t of tensors) {
    const bytes = byteSize(t.shape, dtype);
    if (bytes > capacity) {
      throw new GpuError(
        'limits',
        `${options.file ?? 'weights'}: tensor "${t.name}" ${shapeString(t.shape)} takes ${formatBytes(bytes)} as ${dtype}, ` +
          `more than the largest weight buffer this GPU allows (${formatBytes(capacity)})`,
      );
    }
    let byteOffset = align(used, alignment);
    if (byteOffset + bytes > capacity) {
      bufferSizes.push(0);
      byteOffset = 0;
    }
    used = byteOffset + bytes;
    bufferSizes[bufferSizes.length - 1] = used;
    slots.push({ bufferIndex: bufferSizes.length - 1, byteOffset });
  }
  return { slots, bufferSizes };
}

async function createBuffers(gpu: GpuContext, file: string, sizes: number[]): Promise<GPUBuffer[]> {
  const device = gpu.device;
  device.pushErrorScope('out-of-memory');
  // COPY_SRC lets debug tools and tests read weights back.
  const buffers = sizes.map((size, i) => gpu.createBuffer(`${file}:weights${i}`, size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC));
  const error = await device.popErrorScope();
  if (error) {
    for (const b of buffers) b.destroy();
    const total = sizes.reduce((a, b) => a + b, 0);
    throw new GpuError('out-of-memory', `Not enough GPU memory for ${file} (${formatBytes(total)} of weights): ${error.message}. Close other GPU-heavy tabs or pick a smaller model.`);
  }
  return buffers;
}

async function upload(gpu: GpuContext, source: ByteSource, placements: Placement[], buffers: GPUBuffer[], format: StorageFormat, options: LoadWeightsOptions): Promise<void> {
  const total = placements.reduce((sum, p) => sum + p.info.end - p.info.begin, 0);
  let loaded = 0;
  let sinceWait = 0;
  options.onProgress?.(0, total);
  for (const chunk of readChunks(placements, options.readChunkBytes ?? DEFAULT_READ_CHUNK_BYTES)) {
    const begin = chunk[0].info.begin;
    const bytes = await source.read(begin, chunk[chunk.length - 1].info.end - begin);
    for (const p of chunk) {
      const values = decodeF32(bytes.subarray(p.info.begin - begin, p.info.end - begin), p.info, source.name);
      if (values.length > 0) gpu.write(buffers[p.bufferIndex], format.encode(values), p.byteOffset);
      sinceWait += values.byteLength;
      loaded += p.info.end - p.info.begin;
    }
    if (sinceWait >= BYTES_BETWEEN_WAITS) {
      await gpu.idle();
      sinceWait = 0;
    }
    options.onProgress?.(loaded, total);
  }
  await gpu.idle();
}

/** Runs of tensors that lie close together in the file and span at most `maxBytes` (or one tensor). */
function* readChunks(placements: Placement[], maxBytes: number): Generator<Placement[]> {
  const inFileOrder = [...placements].sort((a, b) => a.info.begin - b.info.begin);
  let chunk: Placement[] = [];
  for (const p of inFileOrder) {
    const first = chunk[0];
    const last = chunk[chunk.length - 1];
    if (first && (p.info.end - first.info.begin > maxBytes || p.info.begin - last.info.end > MAX_SKIPPED_BYTES)) {
      yield chunk;
      chunk = [];
    }
    chunk.push(p);
  }
  if (chunk.length) yield chunk;
}

/** Weights in GPU buffers, by checkpoint key (with `prefix` stripped). */
export class GpuWeightStore implements WeightStore {
  constructor(
    /** The file they came from, for messages. */
    readonly file: string,
    readonly prefix: string,
    private readonly tensors: Map<string, Tensor>,
    /** The packed buffers, for debugging and memory accounting. */
    readonly buffers: readonly GPUBuffer[],
  ) {}

  get(name: string): Tensor {
    const tensor = this.tensors.get(name);
    if (!tensor) throw new Error(this.missingMessage(name));
    return tensor;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  get byteSize(): number {
    return this.buffers.reduce((sum, b) => sum + b.size, 0);
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.tensors.clear();
  }

  /** Names the key and the file, and the stored keys that share the longest beginning with it,
   * since a missing weight is almost always a naming mismatch between layouts. */
  private missingMessage(name: string): string {
    const where = this.prefix ? `${this.file} (keys under "${this.prefix}")` : this.file;
    let best = 0;
    let similar: string[] = [];
    for (const key of this.tensors.keys()) {
      let common = 0;
      while (common < key.length && key[common] === name[common]) common++;
      if (common > best) [best, similar] = [common, [key]];
      else if (common === best && common > 0) similar.push(key);
    }
    const hint = best > 0 ? `; similar: ${similar.slice(0, 3).map((k) => `"${k}"`).join(', ')}` : '';
    return `${where}: no weight "${name}" among its ${this.tensors.size} tensors${hint}`;
  }
}

/** A standalone f32 tensor in its own buffer (inputs, constants, weights made in code). */
export function uploadTensor(gpu: GpuContext, label: string, shape: readonly number[], data: Float32Array): Tensor {
  if (numel(shape) !== data.length) throw new Error(`uploadTensor ${label}: shape ${shapeString(shape)} holds ${numel(shape)} values, data has ${data.length}`);
  return { buffer: gpu.upload(label, data), byteOffset: 0, shape: [...shape], dtype: 'f32', label };
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}
