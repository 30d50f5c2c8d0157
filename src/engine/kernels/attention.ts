// Multi-head scaled dot-product attention with run-time multipliers on q·k and v: where the
// Self-attention and Cross-attention sliders act. See shaders/attention.wgsl for the algorithm.
import wgsl from '../../../shaders/attention.wgsl?raw';
import type { GpuContext } from '../gpu/gpu-context';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { assertShape, shapeString, type Tensor } from '../gpu/tensor';

/** Tile sizes of the workgroup-memory kernel (override constants of the shader). 128 threads: the
 * BLOCK_Q x BLOCK_K scores are split into (BLOCK_Q / rowsPerThread) x (BLOCK_K / keysPerThread)
 * thread blocks, and the BLOCK_Q x D output into BLOCK_Q rows of 128 / BLOCK_Q threads. */
export interface AttentionTiles {
  blockQ: number;
  blockK: number;
  rowsPerThread: number;
  keysPerThread: number;
}

const THREADS = 128;
/** MAX_OUT_PER_THREAD, MAX_SCORES_PER_THREAD and MAX_KEYS_PER_THREAD in the shader. */
const SHADER_BOUNDS = { outPerThread: 32, scoresPerThread: 16, keysPerThread: 4 };
/** Head dims are padded to a multiple of this: one pipeline per bucket (SD's 40, 64, 80, 160 are exact). */
const HEAD_DIM_BUCKET = 8;

/** In order of preference; each maps onto 128 threads (8 key groups x 16 row groups). The shader
 * also takes larger tiles (up to 64 x 32, 4 x 4 scores per thread), but on an H200 every larger
 * one ran slower at D 40 to 160: 16 x 16 was fastest, 16 x 8 next and needs the least memory. */
export const ATTENTION_TILES: readonly AttentionTiles[] = [
  { blockQ: 16, blockK: 16, rowsPerThread: 1, keysPerThread: 2 },
  { blockQ: 16, blockK: 8, rowsPerThread: 1, keysPerThread: 1 },
];

export function paddedHeadDim(headDim: number): number {
  return Math.ceil(headDim / HEAD_DIM_BUCKET) * HEAD_DIM_BUCKET;
}

/** Bytes of workgroup memory the shader declares for tiles holding `columns` columns of a head (its
 * q_tile, kv_tile, scores, row_max and row_rescale, with rows padded by one float). */
export function attentionWorkgroupBytes(tiles: AttentionTiles, columns: number): number {
  const stride = paddedHeadDim(columns) + 1;
  return 4 * (tiles.blockQ * stride + tiles.blockK * stride + tiles.blockQ * (tiles.blockK + 1) + 2 * tiles.blockQ);
}

/** Why these tiles cannot hold `columns` columns of a head (a multiple of HEAD_DIM_BUCKET) within
 * `workgroupBytes`, or undefined if they can. */
function tilesProblem(tiles: AttentionTiles, columns: number, workgroupBytes: number): string | undefined {
  const { blockQ, blockK, rowsPerThread, keysPerThread } = tiles;
  if (!Number.isInteger(columns) || columns < 1 || columns % HEAD_DIM_BUCKET !== 0) return `${columns} columns is not a multiple of ${HEAD_DIM_BUCKET}`;
  if ((blockQ / rowsPerThread) * (blockK / keysPerThread) !== THREADS || THREADS % blockQ !== 0) return 'tiles do not map onto 128 threads';
  if (keysPerThread > SHADER_BOUNDS.keysPerThread || rowsPerThread * keysPerThread > SHADER_BOUNDS.scoresPerThread) return 'too many scores per thread';
  const lanesPerRow = THREADS / blockQ;
  if (columns % lanesPerRow !== 0 || columns / lanesPerRow > SHADER_BOUNDS.outPerThread) return `${columns} columns need more outputs per thread`;
  const bytes = attentionWorkgroupBytes(tiles, columns);
  if (bytes > workgroupBytes) return `needs ${bytes} bytes of workgroup memory, the device has ${workgroupBytes}`;
  return undefined;
}

/** The first tiles of ATTENTION_TILES that hold a whole head of this dim in the device's workgroup
 * memory, or undefined (chooseAttentionKernel then splits the head into column chunks). */
export function chooseAttentionTiles(headDim: number, workgroupBytes: number): AttentionTiles | undefined {
  return ATTENTION_TILES.find((t) => !tilesProblem(t, paddedHeadDim(headDim), workgroupBytes));
}

/** Keys per staged block of the row-per-thread kernel (BLOCK_K_ROWS in the shader), the largest key
 * chunk and head dim it holds in registers (MAX_KEY_CHUNK, MAX_HEAD_VEC4 * 4). */
const ROW_BLOCK_K = 32;
const ROW_MAX_KEY_CHUNK = 32;
const ROW_MAX_HEAD_DIM = 80;
const MAX_KEY_SPLITS = 32;
/** Invocations per workgroup of merge_key_splits (MERGE_GROUP in the shader). */
const MERGE_GROUP = 256;

/** The row-per-thread kernel: `threads` query rows per workgroup, each thread holding `keyChunk`
 * logits at once; `keySplits` workgroups share a row block's keys (flash-decoding), each writing a
 * partial result that a second dispatch merges (default 1: no split). */
export interface RowKernelShape {
  threads: number;
  keyChunk: number;
  keySplits?: number;
}

/** Which kernel computes attention: one query row per thread (head dims up to 80), or tiles of
 * queries x keys shared by 128 threads (any head dim). The tiles hold `columns` columns of a head
 * (a multiple of 8; by default the whole head, padded to 8, which takes head dims up to 256). A head
 * wider than that is split into ceil(D / columns) chunks of output columns, one workgroup each: every
 * chunk recomputes the full q·k over all D (summed `columns` at a time) and writes its columns. */
export type AttentionKernel = ({ kind: 'row-per-thread' } & RowKernelShape) | { kind: 'tiled'; tiles: AttentionTiles; columns?: number };

/** Head columns the kernel's tiles hold (the shader's HEAD_DIM), and so chunks of a head (1 unless it is wider). */
function kernelColumns(kernel: AttentionKernel, headDim: number): { columns: number; chunks: number } {
  const columns = (kernel.kind === 'tiled' ? kernel.columns : undefined) ?? paddedHeadDim(headDim);
  return { columns, chunks: Math.ceil(headDim / columns) };
}

/** Why this kernel cannot run this head dim on a device with `workgroupBytes`, or undefined. */
function kernelProblem(kernel: AttentionKernel, headDim: number, workgroupBytes: number): string | undefined {
  if (kernel.kind === 'tiled') return tilesProblem(kernel.tiles, kernelColumns(kernel, headDim).columns, workgroupBytes);
  if (paddedHeadDim(headDim) > ROW_MAX_HEAD_DIM) return `head dim ${headDim} is over ${ROW_MAX_HEAD_DIM}`;
  if (kernel.keyChunk > ROW_MAX_KEY_CHUNK || ROW_BLOCK_K % kernel.keyChunk !== 0) return `key chunk ${kernel.keyChunk} does not divide ${ROW_BLOCK_K}`;
  const keySplits = kernel.keySplits ?? 1;
  if (!Number.isInteger(keySplits) || keySplits < 1 || keySplits > MAX_KEY_SPLITS) return `${keySplits} key splits is not an integer in 1-${MAX_KEY_SPLITS}`;
  const bytes = 2 * ROW_BLOCK_K * paddedHeadDim(headDim) * 4; // k_rows and v_rows
  if (bytes > workgroupBytes) return `needs ${bytes} bytes of workgroup memory, the device has ${workgroupBytes}`;
  return undefined;
}

/** Workgroups that the row kernel's key splits aim for where the query rows alone make fewer. */
const ROW_TARGET_WORKGROUPS = 256;

/**
 * The kernel for this head dim on a device with `workgroupBytes` of workgroup memory, and for
 * `shape` if given (without it, no key splits). Measured on an H200 (Vulkan through dawn.node;
 * scripts/bench/attention-sweep.ts, raw output in docs/bench/h200-2026-11-26-c-attention-sweep*.txt):
 * - One row per thread with 32-key chunks: 2.2 ms at D 40, L 4096, B 2 x H 8 with 64 threads (128:
 *   2.75; the best tiling: 6.4), 0.44 ms at D 80, L 1024 with 128 threads (64: 0.49; tiled: 0.89).
 *   Other chunks were slower, some (64 threads, 16-key chunks at D 40) 5x slower; keys taken four at
 *   a time, or two query rows per thread, gained nothing.
 * - Where the rows make few workgroups, the keys split across workgroups up to about 256 of them
 *   (128 threads): the default model's 2 heads of 1024, batch 2 (32 workgroups), 0.35 -> 0.12 ms with
 *   8 splits; SD 1.5's 32x32 level (128 workgroups) 0.45 -> 0.33 ms with 2; SD-Turbo's 64x64 level
 *   (160) 1.52 -> 1.45 ms with 2 (1.23 with 8; the rule favours the smaller models).
 * - Few rows and no more than one block of keys (the default model's cross-attention to 32 tokens):
 *   16 x 16 tiles, 0.033 -> 0.022 ms.
 */
export function chooseAttentionKernel(headDim: number, workgroupBytes: number, shape?: { batch: number; heads: number; seqQ: number; seqK: number }): AttentionKernel {
  const threads = paddedHeadDim(headDim) > 40 ? 128 : 64;
  let rows: AttentionKernel = { kind: 'row-per-thread', threads, keyChunk: ROW_BLOCK_K };
  if (shape) {
    const workgroups = Math.ceil(shape.seqQ / 128) * shape.heads * shape.batch;
    const keyBlocks = Math.ceil(shape.seqK / ROW_BLOCK_K);
    const keySplits = Math.min(Math.ceil(ROW_TARGET_WORKGROUPS / workgroups), keyBlocks, MAX_KEY_SPLITS);
    const fewTiles = ATTENTION_TILES[0];
    if (keySplits > 1) rows = { kind: 'row-per-thread', threads: 128, keyChunk: ROW_BLOCK_K, keySplits };
    else if (keyBlocks === 1 && workgroups < ROW_TARGET_WORKGROUPS / 4 && !tilesProblem(fewTiles, paddedHeadDim(headDim), workgroupBytes)) return { kind: 'tiled', tiles: fewTiles };
  }
  if (!kernelProblem(rows, headDim, workgroupBytes)) return rows;
  const tiles = chooseAttentionTiles(headDim, workgroupBytes);
  if (tiles) return { kind: 'tiled', tiles };
  // Too wide for the tiles (SD's VAE: one head of 512): the fewest, and so widest, chunks that some
  // tiles hold, since every chunk recomputes all of q·k. Chunks of equal width, padded to 8.
  for (let chunks = 2; ; chunks++) {
    const columns = paddedHeadDim(Math.ceil(headDim / chunks));
    const wideTiles = ATTENTION_TILES.find((t) => !tilesProblem(t, columns, workgroupBytes));
    if (wideTiles) return { kind: 'tiled', tiles: wideTiles, columns };
    if (columns <= HEAD_DIM_BUCKET) throw new Error(`attention: no tiles of ${HEAD_DIM_BUCKET} columns fit in ${workgroupBytes} bytes of workgroup memory`);
  }
}

/** A compute path for attention on this device: pipeline inputs and the queries one workgroup covers. */
interface AttentionVariant {
  entryPoint: string;
  constants: Record<string, number>;
  queriesPerWorkgroup: number;
  /** Workgroups per head along y: the head's column chunks (1 unless it is wider than the tiles). */
  chunksPerHead: number;
  /** The row kernel's key splits (1: none). */
  keySplits: number;
}

function chooseVariant(gpu: GpuContext, headDim: number, shape: { batch: number; heads: number; seqQ: number; seqK: number }, hasMultipliers: boolean, forced?: AttentionKernel): AttentionVariant {
  const workgroupBytes = gpu.limits.maxComputeWorkgroupStorageSize;
  const kernel = forced ?? chooseAttentionKernel(headDim, workgroupBytes, shape);
  const problem = kernelProblem(kernel, headDim, workgroupBytes);
  if (problem) throw new Error(`attention: ${JSON.stringify(kernel)}: ${problem}`);
  const { columns, chunks } = kernelColumns(kernel, headDim);
  const shared = { HAS_MULTIPLIERS: hasMultipliers ? 1 : 0, HEAD_DIM: columns };
  if (kernel.kind === 'row-per-thread') {
    const constants = { ...shared, ROW_THREADS: kernel.threads, KEY_CHUNK: kernel.keyChunk };
    return { entryPoint: 'main_row_per_thread', constants, queriesPerWorkgroup: kernel.threads, chunksPerHead: 1, keySplits: kernel.keySplits ?? 1 };
  }
  const { tiles } = kernel;
  return {
    entryPoint: 'main',
    constants: {
      ...shared,
      BLOCK_Q: tiles.blockQ,
      BLOCK_K: tiles.blockK,
      ROWS_PER_THREAD: tiles.rowsPerThread,
      KEYS_PER_THREAD: tiles.keysPerThread,
    },
    queriesPerWorkgroup: tiles.blockQ,
    chunksPerHead: chunks,
    keySplits: 1,
  };
}

/** Columns `first` .. `first + count - 1` of every token of `tensor` [B, L, N]: q, k or v inside a
 * wider tensor, such as the [B, L, 3C] output of a self-attention's fused to_q, to_k, to_v. */
export interface TensorColumns {
  tensor: Tensor;
  first: number;
  count: number;
}

/** q, k or v: a whole [B, L, H*D] tensor, or H*D columns of a wider one. */
export type AttentionInput = Tensor | TensorColumns;

/** `tensor` [..., parts * N] as `parts` slices of N columns each, in order (q, k, v of a fused projection). */
export function splitColumns(tensor: Tensor, parts: number): TensorColumns[] {
  const columns = tensor.shape[tensor.shape.length - 1];
  if (!Number.isInteger(parts) || parts < 1 || columns % parts !== 0) throw new Error(`${tensor.label}: ${columns} columns do not split into ${parts} parts`);
  const count = columns / parts;
  return Array.from({ length: parts }, (_, i) => ({ tensor, first: i * count, count }));
}

export function asColumns(input: AttentionInput): TensorColumns {
  return 'tensor' in input ? input : { tensor: input, first: 0, count: input.shape[input.shape.length - 1] };
}

export interface AttentionOptions {
  heads: number;
  /** Key j > query i is masked (CLIP's text encoder). */
  causal?: boolean;
  /** mq, mk, mv, mout at buffer[4*site .. 4*site+3], read at run time; mout is for the out projection. */
  multipliers?: { buffer: GPUBuffer; site: number };
  out?: Tensor;
  label?: string;
  /** Forces a kernel (tests and benchmarks); by default chooseAttentionKernel's. */
  kernel?: AttentionKernel;
}

/** Multi-head scaled dot-product attention.
 * q [B, Lq, H*D], k [B, Lk, H*D], v [B, Lk, H*D] (head h = columns h*D..h*D+D-1) -> [B, Lq, H*D]; each of
 * q, k, v may instead be H*D columns of a wider tensor (TensorColumns), read in place.
 * out = softmax(q·kᵀ / sqrt(D) * mq * mk (+ causal mask)) · v * mv, where multipliers (mq, mk, mv, mout) are the 4 f32 at
 * buffer[4*site .. 4*site+3], read at run time (default: no multipliers = 1). `causal`: key j > query i is masked (CLIP). */
export function attention(rec: Recorder, qInput: AttentionInput, kInput: AttentionInput, vInput: AttentionInput, opts: AttentionOptions): Tensor {
  const [q, k, v] = [qInput, kInput, vInput].map(asColumns);
  const label = opts.label ?? `attention(${q.tensor.label})`;
  const { heads } = opts;
  if (q.tensor.shape.length !== 3) throw new Error(`${label}: q must be [B, L, H*D], got ${shapeString(q.tensor.shape)}`);
  const [batch, seqQ] = q.tensor.shape;
  const seqK = k.tensor.shape[1];
  const width = q.count;
  assertShape(k.tensor, [batch, undefined, undefined], `${label}: k`);
  assertShape(v.tensor, [batch, seqK, undefined], `${label}: v`);
  for (const [name, input] of [['q', q], ['k', k], ['v', v]] as const) {
    const { tensor, first, count } = input;
    if (count !== width) throw new Error(`${label}: ${name} has ${count} channels, q has ${width}`);
    if (!Number.isInteger(first) || first < 0 || first + count > tensor.shape[2]) {
      throw new Error(`${label}: ${name} columns ${first}..${first + count - 1} are not within ${tensor.label} ${shapeString(tensor.shape)}`);
    }
    if (tensor.dtype !== 'f32') throw new Error(`${label}: ${tensor.label} must be f32`);
  }
  if (!Number.isInteger(heads) || heads < 1 || width % heads !== 0) throw new Error(`${label}: ${width} channels do not split into ${heads} heads`);
  if (seqK < 1) throw new Error(`${label}: no keys to attend to`);
  const headDim = width / heads;
  const outShape = [batch, seqQ, width];
  const out = opts.out ?? rec.alloc(outShape, label);
  assertShape(out, outShape, `${label}: out`);
  for (const input of [q, k, v]) {
    if (input.tensor.buffer === out.buffer) throw new Error(`${label}: out may not share a buffer with ${input.tensor.label}`);
  }

  const variant = chooseVariant(rec.gpu, headDim, { batch, heads, seqQ, seqK }, !!opts.multipliers, opts.kernel);
  const multiplierIndex = 4 * (opts.multipliers?.site ?? 0);
  const rows = batch * heads * seqQ;
  // Key splits of ROW_BLOCK_K-aligned ranges; the last may be short, none empty.
  const keysPerSplit = Math.ceil(seqK / variant.keySplits / ROW_BLOCK_K) * ROW_BLOCK_K;
  const keySplits = Math.ceil(seqK / keysPerSplit);
  const uniforms = params()
    .u32(seqQ, seqK, headDim, width, opts.causal ? 1 : 0, multiplierIndex)
    .f32(Math.LOG2E / Math.sqrt(headDim))
    .u32(...[q, k, v].map((input) => input.tensor.shape[2]), q.first, k.first, v.first)
    .u32(keySplits, keysPerSplit, rows);
  const pipeline = (entryPoint: string) => rec.gpu.pipeline('attention', wgsl, entryPoint, variant.constants);
  const workgroups = [Math.ceil(seqQ / variant.queriesPerWorkgroup), heads * variant.chunksPerHead, batch * keySplits] as const;
  // q, k and v may be one tensor bound three times (all read-only, which WebGPU allows). Without
  // multipliers, q stands in for the multipliers buffer; the shader then never reads it.
  const multipliers = opts.multipliers?.buffer ?? q.tensor;
  if (keySplits === 1) {
    rec.dispatch({ label, pipeline: pipeline(variant.entryPoint), params: uniforms, bindings: [q.tensor, k.tensor, v.tensor, multipliers, out], workgroups });
    return out;
  }
  // Each split's partial result per row (o, m, l: the shader's PARTIAL_RECORD), then their merge.
  const partials = rec.alloc([keySplits, rows, Number(variant.constants.HEAD_DIM) + 2], `${label}:key-splits`);
  rec.dispatch({ label: `${label}:key-splits`, pipeline: pipeline(variant.entryPoint), params: uniforms, bindings: [q.tensor, k.tensor, v.tensor, multipliers, partials], workgroups });
  rec.dispatch({
    label: `${label}:merge`,
    pipeline: pipeline('merge_key_splits'),
    params: uniforms,
    bindings: [null, partials, null, opts.multipliers?.buffer ?? partials, out],
    workgroups: grid1d(Math.ceil((rows * headDim) / MERGE_GROUP)),
  });
  rec.release(partials);
  return out;
}

export interface AttentionShape {
  batch: number;
  seqQ: number;
  seqK: number;
  heads: number;
  causal?: boolean;
  /** [mq, mk, mv]; default 1. */
  multipliers?: readonly number[];
}

// CPU reference, used by the tests: the full Lq x Lk matrix per head, f64, softmax with the max
// subtracted (exact in f64, and it cannot overflow).
export const reference = {
  attention(q: Float32Array, k: Float32Array, v: Float32Array, s: AttentionShape): Float32Array {
    const width = q.length / (s.batch * s.seqQ);
    const headDim = width / s.heads;
    const [mq, mk, mv] = s.multipliers ?? [1, 1, 1];
    const scale = (mq * mk) / Math.sqrt(headDim);
    const out = new Float32Array(q.length);
    const logits = new Float64Array(s.seqK);
    for (let b = 0; b < s.batch; b++) {
      for (let h = 0; h < s.heads; h++) {
        for (let i = 0; i < s.seqQ; i++) {
          const qRow = (b * s.seqQ + i) * width + h * headDim;
          let max = -Infinity;
          for (let j = 0; j < s.seqK; j++) {
            if (s.causal && j > i) {
              logits[j] = -Infinity;
              continue;
            }
            const kRow = (b * s.seqK + j) * width + h * headDim;
            let dot = 0;
            for (let d = 0; d < headDim; d++) dot += q[qRow + d] * k[kRow + d];
            logits[j] = dot * scale;
            max = Math.max(max, logits[j]);
          }
          let sum = 0;
          for (let j = 0; j < s.seqK; j++) {
            logits[j] = Math.exp(logits[j] - max);
            sum += logits[j];
          }
          for (let d = 0; d < headDim; d++) {
            let acc = 0;
            for (let j = 0; j < s.seqK; j++) acc += logits[j] * v[(b * s.seqK + j) * width + h * headDim + d];
            out[qRow + d] = (acc / sum) * mv;
          }
        }
      }
    }
    return out;
  },
};
