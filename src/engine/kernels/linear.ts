// Linear layers (torch.nn.Linear): the GEMM core (gemm-core.ts) with a fused epilogue for the bias,
// the attention "out" multiplier, a residual add, diffusers' GEGLU, and NCHW output of token rows
// (a transformer's proj_out). See shaders/linear.wgsl.
import linearWgsl from '../../../shaders/linear.wgsl?raw';
import geluWgsl from '../../../shaders/gelu.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { numel, sameShape, shapeString, type Tensor } from '../gpu/tensor';
import { withGemmCore } from './gemm-core';

/** linear.wgsl needs gelu.wgsl for its GEGLU epilogue. */
const wgsl = `${linearWgsl}\n${geluWgsl}`;
const MAX_WORKGROUPS_PER_DIM = 65535;
/** Invocations per workgroup of the split-K sum, and outputs per invocation (SUM_GROUP and
 * SUM_VALUES in linear.wgsl). */
const SUM_GROUP = 256;
const SUM_VALUES = 4;

/** One workgroup's block of y: TILE_M rows x TILE_N columns, stepping TILE_K through K; each
 * invocation computes THREAD_M x THREAD_N of it (linear.wgsl). */
interface Tile {
  TILE_M: number;
  TILE_N: number;
  TILE_K: number;
  THREAD_M: number;
  THREAD_N: number;
}

// All plain WGSL (no optional feature), so every tile runs on every adapter, SwiftShader included.
// `large` (8x8 outputs per invocation) does the most arithmetic per workgroup-memory read but holds
// few workgroups per compute unit; `tall` and `medium` keep more of them in flight when the grid is
// small; `small` (64 invocations) is for a handful of rows or columns and tiny test models.
const TILES = {
  large: { TILE_M: 128, TILE_N: 128, TILE_K: 8, THREAD_M: 8, THREAD_N: 8 },
  tall: { TILE_M: 128, TILE_N: 64, TILE_K: 16, THREAD_M: 8, THREAD_N: 4 },
  medium: { TILE_M: 64, TILE_N: 64, TILE_K: 16, THREAD_M: 4, THREAD_N: 4 },
  small: { TILE_M: 32, TILE_N: 32, TILE_K: 16, THREAD_M: 4, THREAD_N: 4 },
} satisfies Record<string, Tile>;

export type LinearTileName = keyof typeof TILES;
export const linearTileNames = Object.keys(TILES) as LinearTileName[];

function threads(t: Tile): number {
  return (t.TILE_M / t.THREAD_M) * (t.TILE_N / t.THREAD_N);
}

/** Values of x and of weight that one invocation loads per K step (X_RUN, W_RUN in linear.wgsl). */
function runs(t: Tile): { a: number; b: number } {
  return { a: (t.TILE_K * t.TILE_M) / threads(t), b: (t.TILE_K * t.TILE_N) / threads(t) };
}

function workgroupBytes(t: Tile): number {
  return 4 * t.TILE_K * (t.TILE_M + t.TILE_N + 8); // both slices with their padding vec4
}

/** What the shader's index arithmetic assumes of a tile: each invocation loads one run of
 * consecutive k from one row of each slice (X_RUN, W_RUN in linear.wgsl). */
function checkTile(name: string, t: Tile): void {
  const n = threads(t);
  const { a, b } = runs(t);
  const ok =
    [t.THREAD_M, t.THREAD_N].every((v) => v % 4 === 0) &&
    [a, b].every((run) => Number.isInteger(run) && t.TILE_K % run === 0) &&
    // WebGPU's default limits, which every adapter meets, so no tile depends on the device.
    n <= 256 &&
    workgroupBytes(t) <= 16384;
  if (!ok) throw new Error(`linear: tile ${name} ${JSON.stringify(t)} does not fit the shader`);
}
for (const [name, tile] of Object.entries(TILES)) checkTile(name, tile);

// Tile and split choice, from measurements on an H200 through Dawn/Vulkan (SD 1.5 shapes, batch 2,
// f16 weights; TFLOP/s, scripts/bench/gemm-lab.ts, docs/bench/h200-2026-11-27-linear-splits.txt):
// since the core is written out (gemm-core.ts), `large` wins from 512 of its tiles (qkv
// 8192x320->960: 25.6 vs medium 21.9; GEGLU 2048x640->5120 at 640 tiles: 24.6 vs 23.1) and loses to
// medium with a few hundred tiles and no split (ff 8192x1280->320, 192 tiles: 19.1 vs 21.9), but wins
// again with few tiles split along K into about one wave of workgroups, ~192 (2048x2560->640, 80
// tiles: 27.5 in 3 splits, 23.9 in 7; 2048x640->640: 16.9 in 3 vs medium 15.7; 512x1280->1280: 17.5
// in 3 vs medium 16.2; 128x5120->1280, 10 tiles: 18.0 in 12 vs 16.6). `tall`, and 8x8 outputs per
// invocation in 64x64 or 128x64 tiles (64 or 128 invocations: 11-17), lost everywhere; only tests and
// sweeps name tall. Otherwise `medium`, split along K toward 512 workgroups (512x5120->1280: 13.1
// unsplit, 22.0 in 4), and `small` where even medium tiles are a few dozen.
/** Output tiles from which the 8x8-per-invocation tiles fill an H200. */
const BIG_TILE_MIN_TILES = 512;
/** Workgroups that large tiles split along K aim for: about one wave of them on an H200. */
const LARGE_SPLIT_TARGET_WORKGROUPS = 192;
/** Workgroups that medium tiles split along K aim for. */
const SPLIT_TARGET_WORKGROUPS = 512;
/** The least K one split sums: below this the pass over the partial sums costs more than it gains. */
const MIN_K_PER_SPLIT = 160;
/** Below this many medium tiles, 32x32 tiles (with a K split) keep more compute units busy. */
const SMALL_MAX_MEDIUM_TILES = 32;

function outputTiles(t: Tile, rows: number, cols: number): number {
  return Math.ceil(rows / t.TILE_M) * Math.ceil(cols / t.TILE_N);
}

function chooseTile(rows: number, cols: number, inner: number): LinearTileName {
  if (rows <= TILES.small.TILE_M || cols <= TILES.small.TILE_N) return 'small';
  if (outputTiles(TILES.medium, rows, cols) < SMALL_MAX_MEDIUM_TILES) return 'small';
  const largeTiles = outputTiles(TILES.large, rows, cols);
  if (largeTiles >= BIG_TILE_MIN_TILES) return 'large';
  // Large tiles split along K: only where at least two splits, each at least MIN_K_PER_SPLIT long,
  // make up about a wave of them.
  const splitsNeeded = Math.ceil(LARGE_SPLIT_TARGET_WORKGROUPS / largeTiles);
  if (splitsNeeded >= 2 && splitsNeeded <= Math.floor(inner / MIN_K_PER_SPLIT)) return 'large';
  return 'medium';
}

function chooseSplits(tile: Tile, tiles: number, inner: number): number {
  const target = tile === TILES.large ? LARGE_SPLIT_TARGET_WORKGROUPS : SPLIT_TARGET_WORKGROUPS;
  if (tiles >= target) return 1;
  return Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(inner / MIN_K_PER_SPLIT)));
}

export interface LinearOptions {
  /** Added after the scale: y = (x·Wᵀ + b) * scale + residual. Same shape as the output. */
  residual?: Tensor;
  /** One f32 read at run time from buffer[index]: a slider writes it, the plan stays as recorded. */
  outputScale?: { buffer: GPUBuffer; index: number };
  out?: Tensor;
  /** The rows of x are tokens [B, height*width, K] of an image: write y (and read residual) as NCHW
   * [B, Nout, height, width] instead of [B, height*width, Nout] (a transformer's proj_out, without
   * a transpose after it). */
  nchwOutput?: { height: number; width: number };
  /** diffusers GEGLU on the output (a feed-forward's ff.net.0.proj): with hidden, gate the two halves
   * of the Nout outputs, y = hidden * gelu(gate), [..., Nout / 2]. No residual, scale or NCHW output. */
  geglu?: boolean;
  /** SiLU on the output, y = silu(x·Wᵀ + b) (the time embedding's layers). No residual or scale. */
  silu?: boolean;
  label?: string;
  /** Forces a tile shape or a K split (tests, benchmarks); by default both follow the problem's size. */
  tuning?: { tile?: LinearTileName; splits?: number };
}

/** torch.nn.Linear: y = (x · weightᵀ + bias) * scale + residual (or silu(x · weightᵀ + bias)), over the last dim of x [..., K] -> [..., Nout].
 * weight [Nout, K] (PyTorch layout; f32, or f16 packed in pairs). `outputScale` reads one f32 at run time from
 * buffer[index] (the attention "out" multiplier: it must change between calls with only a buffer write, no
 * re-recording). residual has the output's shape. */
export function linear(rec: Recorder, x: Tensor, weight: Tensor, bias?: Tensor, opts: LinearOptions = {}): Tensor {
  const inner = x.shape[x.shape.length - 1];
  const [cols, weightInner] = weight.shape;
  const label = opts.label ?? `linear(${x.label})`;
  if (weight.shape.length !== 2 || weightInner !== inner) {
    throw new Error(`${label}: weight ${shapeString(weight.shape)} does not fit x ${shapeString(x.shape)} (want [N, ${inner}])`);
  }
  if (x.dtype !== 'f32') throw new Error(`${label}: x must be f32, got ${x.dtype}`);
  if (bias && (numel(bias.shape) !== cols || bias.dtype !== 'f32')) {
    throw new Error(`${label}: bias ${shapeString(bias.shape)} ${bias.dtype} is not [${cols}] f32`);
  }
  const plane = opts.nchwOutput ? opts.nchwOutput.height * opts.nchwOutput.width : 0;
  if (opts.nchwOutput && (x.shape.length !== 3 || x.shape[1] !== plane)) {
    throw new Error(`${label}: NCHW output of ${opts.nchwOutput.height}x${opts.nchwOutput.width} needs x [B, ${plane}, K], got ${shapeString(x.shape)}`);
  }
  if (opts.geglu && (cols % 2 !== 0 || opts.residual || opts.outputScale || opts.nchwOutput)) {
    throw new Error(`${label}: GEGLU needs an even number of outputs (got ${cols}) and no residual, scale or NCHW output`);
  }
  if (opts.silu && (opts.residual || opts.outputScale || opts.geglu)) throw new Error(`${label}: SiLU takes no residual, scale or GEGLU`);
  const outCols = opts.geglu ? cols / 2 : cols;
  const outShape = opts.nchwOutput ? [x.shape[0], cols, opts.nchwOutput.height, opts.nchwOutput.width] : [...x.shape.slice(0, -1), outCols];
  const rows = numel(outShape) / outCols;
  if (opts.residual && !sameShape(opts.residual.shape, outShape)) {
    throw new Error(`${label}: residual ${shapeString(opts.residual.shape)} is not the output's ${shapeString(outShape)}`);
  }
  const out = opts.out ?? rec.alloc(outShape, label);
  if (numel(out.shape) !== numel(outShape)) throw new Error(`${label}: out ${shapeString(out.shape)} is not ${shapeString(outShape)}`);
  for (const input of [x, weight, bias, opts.residual]) {
    if (input && input.buffer === out.buffer && input.byteOffset === out.byteOffset) {
      throw new Error(`${label}: out may not alias an input (${input.label}): one dispatch cannot read and write a binding`);
    }
  }
  const tile: Tile = TILES[opts.tuning?.tile ?? chooseTile(rows, cols, inner)];
  const wantedSplits = Math.max(1, opts.tuning?.splits ?? chooseSplits(tile, outputTiles(tile, rows, cols), inner));
  const kPerSplit = Math.max(tile.TILE_K, Math.ceil(inner / wantedSplits / tile.TILE_K) * tile.TILE_K);
  const splits = Math.ceil(inner / kPerSplit);
  const workgroups = [Math.ceil(cols / tile.TILE_N), Math.ceil(rows / tile.TILE_M), splits] as const;
  if (workgroups[0] > MAX_WORKGROUPS_PER_DIM || workgroups[1] > MAX_WORKGROUPS_PER_DIM) {
    throw new Error(`${label}: ${rows}x${cols} output needs more than ${MAX_WORKGROUPS_PER_DIM} workgroups per dimension`);
  }

  // Absent optional inputs are switched off by constant and bound to x, which is then never read:
  // 'auto' layouts keep every binding the code names, so each slot needs some buffer.
  const epilogue = {
    HAS_BIAS: bias ? 1 : 0,
    HAS_RESIDUAL: opts.residual ? 1 : 0,
    HAS_SCALE: opts.outputScale ? 1 : 0,
    GEGLU: opts.geglu ? 1 : 0,
    SILU: opts.silu ? 1 : 0,
  };
  const f16 = weight.dtype === 'f16';
  const constants = { ...epilogue, ...tile, WEIGHT_F16: f16 ? 1 : 0, WEIGHT_PAIRS: f16 && inner % 2 === 0 ? 1 : 0, SPLIT_K: splits > 1 ? 1 : 0 };
  const uniforms = params().u32(rows, inner, cols, opts.outputScale?.index ?? 0, kPerSplit, splits, plane, opts.geglu ? outCols : 0);
  const optional = [bias ?? x, opts.residual ?? x, opts.outputScale?.buffer ?? x];
  const pipeline = rec.gpu.pipeline('linear', withGemmCore(wgsl, { entry: 'main', tile, loads: runs(tile), fastAxis: 'n' }), 'main', constants);
  if (splits === 1) {
    rec.dispatch({ label, pipeline, params: uniforms, bindings: [x, weight, ...optional, out], workgroups });
    return out;
  }
  const partial = rec.alloc([splits, rows, cols], `${label}:partial`);
  rec.dispatch({ label: `${label}:split`, pipeline, params: uniforms, bindings: [x, weight, ...optional, partial], workgroups });
  rec.dispatch({
    label: `${label}:sum`,
    pipeline: rec.gpu.pipeline('linear', wgsl, 'linear_split_sum', { SUM_GROUP, ...epilogue }),
    params: uniforms,
    bindings: [null, null, ...optional, out, partial],
    workgroups: grid1d(Math.ceil((rows * outCols) / (SUM_GROUP * SUM_VALUES))),
  });
  rec.release(partial);
  return out;
}

// CPU references, used by the tests. Accumulate in f64, so the GPU's f32 sums are what is measured.
export const reference = {
  /** y[m, n] = (sum_k x[m, k] w[n, k] + bias[n]) * scale + residual[m, n]; x is [rows, inner], w [cols, inner]. */
  linear(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array | undefined,
    inner: number,
    cols: number,
    opts: { residual?: Float32Array; scale?: number } = {},
  ): Float32Array {
    const rows = x.length / inner;
    const y = new Float32Array(rows * cols);
    const scale = opts.scale ?? 1;
    for (let m = 0; m < rows; m++) {
      for (let n = 0; n < cols; n++) {
        let sum = 0;
        for (let k = 0; k < inner; k++) sum += x[m * inner + k] * weight[n * inner + k];
        if (bias) sum += bias[n];
        sum *= scale;
        if (opts.residual) sum += opts.residual[m * cols + n];
        y[m * cols + n] = sum;
      }
    }
    return y;
  },
};
