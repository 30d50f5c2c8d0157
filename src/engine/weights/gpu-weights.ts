// Uploads a safetensors checkpoint to the GPU as a WeightStore.
//
// Tensors are packed into a few large buffers rather than one buffer each (an SD 1.5 UNet has ~690
// tensors) and never into one buffer for everything (3.4 GB exceeds maxBufferSize and
// maxStorageBufferBindingSize on most GPUs). Each tensor starts at a multiple of
// minStorageBufferOffsetAlignment, so kernels bind it with an offset.
//
// The file is read in chunks of consecutive tensors, so memory holds one chunk, not the checkpoint.
// Matrices may be stored as f16 pairs in u32 words (tensor.ts), which the kernels unpack: see
// WeightStorage for which tensors, and how f32 values are rounded.

import { GpuError, align, type GpuContext } from '../gpu/gpu-context';
import { byteSize, numel, shapeString, type Tensor, type TensorDType } from '../gpu/tensor';
import type { ByteSource, ProgressCallback } from './byte-source';
import { assertFloat, decodeF32, nonFiniteTensorWarning, parseSafetensorsHeader, type SafetensorsTensorInfo } from './safetensors';
import type { WeightStore } from './weight-store';

/**
 * How weights are stored on the GPU. Only tensors of 2 or more dimensions (matrices, convolution
 * kernels, embedding tables) can be f16; 1-D tensors (biases, norm scales) and scalars are always f32,
 * because they are tiny and kernels' bias paths expect f32 (linear requires it).
 * - 'auto' (the default): F16 matrices in the checkpoint stay f16, bit for bit (half the memory, no
 *   loss); F32, BF16 and F64 stay f32, so a model that ships f32 runs exactly as it was exported.
 * - 'f16': every matrix becomes f16. F16 is copied; F32 and BF16 are rounded to nearest, ties to
 *   even: |x| >= 65520 (beyond the largest half, 65504) becomes ±Infinity, |x| < 2^-14 rounds to a
 *   multiple of 2^-24 (the subnormal halves), |x| <= 2^-25 to ±0, NaN stays NaN. F64 is rounded
 *   to f32 first, then to f16.
 * - 'f32': every tensor is f32 (F16 and BF16 widen exactly).
 */
export type WeightStorage = 'f32' | 'f16' | 'auto';

/** The dtype a tensor gets on the GPU under `storage`, from its checkpoint dtype and shape. */
export function storedDType(tensor: { dtype?: string; shape: readonly number[] }, storage: WeightStorage = 'auto'): TensorDType {
  if (storage === 'f32' || tensor.shape.length < 2) return 'f32';
  if (storage === 'f16') return 'f16';
  return tensor.dtype === 'F16' ? 'f16' : 'f32';
}

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
  /** f32 or f16 per tensor; 'auto' (the default) keeps F16 matrices f16 and everything else f32. */
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

interface Placement extends WeightSlot {
  info: SafetensorsTensorInfo;
  /** The key after `prefix` is stripped. */
  name: string;
}

/** Reads the safetensors file `source` and uploads the float tensors it keeps into packed GPU
 * buffers, each as f32 or f16 as `options.storage` decides (see WeightStorage). Rejects before
 * allocating when a kept tensor is not a float or cannot fit a buffer. */
export async function loadWeights(gpu: GpuContext, source: ByteSource, options: LoadWeightsOptions = {}): Promise<GpuWeightStore> {
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
  let nonFinite: Map<string, number>;
  try {
    nonFinite = await upload(gpu, source, placements, buffers, options);
  } catch (e) {
    for (const b of buffers) b.destroy();
    throw e;
  }
  const tensors = new Map<string, Tensor>(placements.map((p) => [p.name, placedTensor(p, buffers)]));
  return new GpuWeightStore(source.name, prefix, tensors, buffers, nonFinite);
}

export interface WeightSlot {
  bufferIndex: number;
  byteOffset: number;
  dtype: TensorDType;
  /** A tensor larger than one buffer is split by rows (its first dimension): where each block of
   * `rows` rows goes, in order. bufferIndex and byteOffset are then the first block's. */
  blocks?: { bufferIndex: number; byteOffset: number; rows: number }[];
}

export interface WeightBufferPlan {
  /** Where each tensor goes and as what, in the order they were given. */
  slots: WeightSlot[];
  bufferSizes: number[];
}

export type WeightBufferLimits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize' | 'minStorageBufferOffsetAlignment'>;

/**
 * Assigns tensors, in the order given (file order, so reads stay sequential), to buffers no larger
 * than the device allows, each tensor at a multiple of the binding alignment. Needs only the
 * header, so the app can say what a model will take before downloading it. `dtype` is the
 * checkpoint's ('F16', 'F32', ...); without it a tensor counts as F32.
 */
export function planWeightBuffers(
  tensors: readonly { name: string; shape: readonly number[]; dtype?: string }[],
  limits: WeightBufferLimits,
  options: { maxBufferBytes?: number; storage?: WeightStorage; file?: string } = {},
): WeightBufferPlan {
  const capacity = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, MAX_WEIGHT_BUFFER_BYTES, options.maxBufferBytes ?? Infinity);
  const alignment = limits.minStorageBufferOffsetAlignment;
  const slots: WeightSlot[] = [];
  const bufferSizes: number[] = [];
  let used = Infinity; // forces a first buffer
  const place = (bytes: number) => {
    let byteOffset = align(used, alignment);
    if (byteOffset + bytes > capacity) {
      bufferSizes.push(0);
      byteOffset = 0;
    }
    used = byteOffset + bytes;
    bufferSizes[bufferSizes.length - 1] = used;
    return { bufferIndex: bufferSizes.length - 1, byteOffset };
  };
  for (const t of tensors) {
    const dtype = storedDType(t, options.storage);
    const bytes = byteSize(t.shape, dtype);
    if (bytes <= capacity) {
      slots.push({ ...place(bytes), dtype });
      continue;
    }
    // Larger than one buffer (CLIP's 49408×768 token table is 152 MB in f32): split by rows, each
    // block starting on a whole u32 word (f16 pairs), in buffers of their own.
    const rowValues = numel(t.shape.slice(1));
    let rowsPerBlock = Math.floor(capacity / byteSize([rowValues], dtype));
    if (dtype === 'f16' && rowValues % 2 === 1) rowsPerBlock -= rowsPerBlock % 2;
    if (t.shape.length < 2 || rowsPerBlock < 1) {
      throw new GpuError(
        'limits',
        `${options.file ?? 'weights'}: tensor "${t.name}" ${shapeString(t.shape)} takes ${formatBytes(bytes)} as ${dtype}, ` +
          `more than the largest weight buffer this GPU allows (${formatBytes(capacity)}), and ${t.shape.length < 2 ? 'it has no rows to split it by' : 'one of its rows alone is larger'}`,
      );
    }
    const blocks: NonNullable<WeightSlot['blocks']> = [];
    for (let row = 0; row < t.shape[0]; row += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, t.shape[0] - row);
      used = Infinity; // a buffer of its own
      blocks.push({ ...place(byteSize([rows * rowValues], dtype)), rows });
    }
    used = Infinity;
    slots.push({ bufferIndex: blocks[0].bufferIndex, byteOffset: blocks[0].byteOffset, dtype, blocks });
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

/** Uploads every placement; returns the tensors holding NaN or ±Infinity as stored (after any
 * rounding to f16), with their counts: a model with them renders flat or black images. */
async function upload(gpu: GpuContext, source: ByteSource, placements: Placement[], buffers: GPUBuffer[], options: LoadWeightsOptions): Promise<Map<string, number>> {
  const nonFinite = new Map<string, number>();
  const total = placements.reduce((sum, p) => sum + p.info.end - p.info.begin, 0);
  let loaded = 0;
  let sinceWait = 0;
  options.onProgress?.(0, total);
  for (const chunk of readChunks(placements, options.readChunkBytes ?? DEFAULT_READ_CHUNK_BYTES)) {
    const begin = chunk[0].info.begin;
    const bytes = await source.read(begin, chunk[chunk.length - 1].info.end - begin);
    for (const p of chunk) {
      const stored = encodeTensor(bytes.subarray(p.info.begin - begin, p.info.end - begin), p, source.name);
      const bad = countNonFinite(stored, p.dtype, numel(p.info.shape));
      if (bad > 0) {
        nonFinite.set(p.name, bad);
        gpu.reportLoadWarning(nonFiniteTensorWarning(source.name, p.info.name, bad));
      }
      if (p.blocks) {
        // Row blocks start on whole u32 words (planWeightBuffers), so each is a slice of the encoded bytes.
        const all = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
        let row = 0;
        for (const b of p.blocks) {
          gpu.write(buffers[b.bufferIndex], all.subarray(rowStart(p, row), Math.min(all.length, rowStart(p, row + b.rows))), b.byteOffset);
          row += b.rows;
        }
      } else if (stored.byteLength > 0) gpu.write(buffers[p.bufferIndex], stored, p.byteOffset);
      sinceWait += stored.byteLength;
      loaded += p.info.end - p.info.begin;
    }
    if (sinceWait >= BYTES_BETWEEN_WAITS) {
      await gpu.idle();
      sinceWait = 0;
    }
    options.onProgress?.(loaded, total);
  }
  await gpu.idle();
  return nonFinite;
}

/** NaN and ±Infinity among the first `count` values of a tensor as stored: f32 values, or f16 halves
 * (exponent bits all ones). */
export function countNonFinite(stored: ArrayBufferView, dtype: TensorDType, count: number): number {
  let bad = 0;
  if (dtype === 'f32') {
    const values = stored as Float32Array;
    for (let i = 0; i < count; i++) if (!Number.isFinite(values[i])) bad++;
    return bad;
  }
  // Halves at an odd byte offset (a tensor placed oddly in its file) are copied to align them.
  const aligned = stored.byteOffset % 2 === 0 ? stored : new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength).slice();
  const halves = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
  for (let i = 0; i < count; i++) if ((halves[i] & 0x7c00) === 0x7c00) bad++;
  return bad;
}

/** Where row `row` of a placed tensor starts among its encoded bytes. */
function rowStart(p: Placement, row: number): number {
  return byteSize([row * numel(p.info.shape.slice(1))], p.dtype);
}

/** A placed tensor as the kernels see it; a split one carries its row blocks as `parts`. */
function placedTensor(p: Placement, buffers: GPUBuffer[]): Tensor {
  const whole = { buffer: buffers[p.bufferIndex], byteOffset: p.byteOffset, shape: p.info.shape, dtype: p.dtype, label: p.name };
  if (!p.blocks) return whole;
  let row = 0;
  const parts = p.blocks.map((b) => {
    const part: Tensor = { buffer: buffers[b.bufferIndex], byteOffset: b.byteOffset, shape: [b.rows, ...p.info.shape.slice(1)], dtype: p.dtype, label: `${p.name}[rows ${row}..${row + b.rows}]` };
    row += b.rows;
    return part;
  });
  return { ...whole, parts };
}

/** One tensor's file bytes as the bytes its GPU slot holds. gpu.write pads an odd number of halves
 * with a zero half, which fills the last u32 word. */
function encodeTensor(bytes: Uint8Array, p: Placement, file: string): ArrayBufferView {
  if (p.dtype === 'f32') return decodeF32(bytes, p.info, file);
  // F16 little-endian halves are already the packed layout (element 2i in the low half of word i):
  // a plain copy, exact for every value, NaN payloads included.
  if (p.info.dtype === 'F16') return bytes;
  return packF16(decodeF32(bytes, p.info, file));
}

/** f32 values rounded to f16 (see f32BitsToF16), two per u32 word as tensor.ts describes. */
export function packF16(values: Float32Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(values.length / 2));
  const halves = new Uint16Array(words.buffer, 0, values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) halves[i] = f32BitsToF16(bits[i]);
  return words;
}

/**
 * IEEE 754 binary32 -> binary16 bits, round to nearest, ties to even. Overflow (|x| >= 65520, the
 * midpoint above the largest half 65504) gives ±Infinity; results below the normal range become
 * subnormals (multiples of 2^-24) or ±0. NaN stays a quiet NaN with the top of its payload.
 */
export function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 31) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half: the value (1.m × 2^(exponent-127)) in units of 2^-24, rounded.
    const shift = 126 - exponent;
    if (shift > 24) return sign; // below 2^-25: rounds to zero (2^-25 itself ties to the even 0 below)
    const full = mantissa | 0x800000;
    const rest = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    let half = full >>> shift;
    if (rest > halfway || (rest === halfway && half & 1)) half++; // may carry into the smallest normal, 0x400
    return sign | half;
  }
  let half = sign | (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa increments the exponent, which is the correctly rounded result
  // (up to Infinity from 65504 + half an ulp).
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return half;
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
    /** Tensors holding NaN or ±Infinity, with how many values: a warning for the user (such a
     * model renders non-finite images), not an error, since some files carry unused broken tensors. */
    readonly nonFinite: ReadonlyMap<string, number> = new Map(),
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
