// 2D convolution (PyTorch's nn.Conv2d semantics, zero padding) as one implicit-GEMM kernel on the
// GEMM core (gemm-core.ts), with the bias, an optional per-image bias (a ResNet block's time
// embedding) and an optional residual (a ResNet shortcut) fused into its epilogue, and NCHW or
// token-sequence output (a transformer's proj_in).
import wgsl from '../../../shaders/conv2d.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { assertShape, shapeString, type Tensor } from '../gpu/tensor';
import { withGemmCore } from './gemm-core';

/** Invocations per workgroup of the split-K sum, and outputs per invocation (SUM_GROUP and
 * SUM_VALUES in conv2d.wgsl). */
const SUM_GROUP = 256;
const SUM_VALUES = 4;

export interface Conv2dWeights {
  /** [Cout, Cin, kh, kw], PyTorch layout; f32, or f16 pairs packed in u32 words. */
  weight: Tensor;
  /** [Cout] */
  bias?: Tensor;
}

export interface BatchBias {
  tensor: Tensor;
  stride: number;
  offset: number;
}

export interface Conv2dOptions {
  stride?: 1 | 2;
  /** Zero padding on every side; default (kh-1)/2, which keeps the size at stride 1. */
  padding?: number;
  /** Added after the bias; has the output's shape. */
  residual?: Tensor;
  /** A bias per image and output channel, added after the bias (a ResNet block's time embedding):
   * image b, channel n reads tensor[offset + b * stride + n] (f32). */
  batchBias?: BatchBias;
  out?: Tensor;
  /** 'tokens': the output (and residual) is [N, Hout*Wout, Cout], the token sequence a transformer
   * block reads, written in place of the NCHW [N, Cout, Hout, Wout] and a transpose. */
  outLayout?: 'nchw' | 'tokens';
  label?: string;
  /** Forces a tile shape or a K split (tests, benchmarks); by default both follow the GEMM's size. */
  tuning?: { tile?: Conv2dTileName; splits?: number };
}

/** One workgroup's block of the output: TILE_M pixels x TILE_N channels, stepping TILE_K through
 * Cin*kh*kw; each invocation computes THREAD_M x THREAD_N of it (conv2d.wgsl). */
interface Tile {
  TILE_M: number;
  TILE_N: number;
  TILE_K: number;
  THREAD_M: number;
  THREAD_N: number;
}

// Measured on an H200 through Dawn/Vulkan (SD 1.5 shapes, batch 2; scripts/bench/gemm-sweep.ts):
// `large` (split along K where its tiles are too few) is faster than `medium` where Cin*kh*kw >= 2048
// (SD's 64x64 320->320: 25.2 vs 23.3 TFLOP/s; its 64x64 upsampler conv, 1280 medium tiles unsplit:
// 25.6, where the 32x32 one ran at 34 in large tiles split 7 ways; the 32x32 and 16x16 levels by
// 10-25%), not below (the default model's 128->128 at 32x32: even); `narrow` keeps Cout <= 16 from
// wasting most of a tile.
const TILES = {
  large: { TILE_M: 128, TILE_N: 128, TILE_K: 8, THREAD_M: 8, THREAD_N: 8 },
  medium: { TILE_M: 64, TILE_N: 64, TILE_K: 16, THREAD_M: 4, THREAD_N: 4 },
  narrow: { TILE_M: 64, TILE_N: 16, TILE_K: 16, THREAD_M: 4, THREAD_N: 4 },
} satisfies Record<string, Tile>;

export type Conv2dTileName = keyof typeof TILES;
export const conv2dTileNames = Object.keys(TILES) as Conv2dTileName[];

function threads(t: Tile): number {
  return (t.TILE_M / t.THREAD_M) * (t.TILE_N / t.THREAD_N);
}

/** Patch and weight values that one invocation loads per K step (PATCH_LOADS, WEIGHT_LOADS in conv2d.wgsl). */
function loads(t: Tile): { a: number; b: number } {
  return { a: (t.TILE_K * t.TILE_M) / threads(t), b: (t.TILE_K * t.TILE_N) / threads(t) };
}

function workgroupBytes(t: Tile): number {
  return 4 * t.TILE_K * (t.TILE_M + t.TILE_N + 4); // patch tile + weight tile with its padding vec4
}

/** What the shader's index arithmetic assumes of a tile. */
function checkTile(name: string, t: Tile): void {
  const n = threads(t);
  const ok =
    [t.THREAD_M, t.THREAD_N].every((v) => v % 4 === 0) &&
    n % t.TILE_M === 0 &&
    n % t.TILE_K === 0 &&
    Object.values(loads(t)).every(Number.isInteger) &&
    // WebGPU's default limits, which every adapter meets, so no tile depends on the device.
    n <= 256 &&
    workgroupBytes(t) <= 16384;
  if (!ok) throw new Error(`conv2d: tile ${name} ${JSON.stringify(t)} does not fit the shader`);
}
for (const [name, tile] of Object.entries(TILES)) checkTile(name, tile);

/** Workgroups that keep a large GPU busy with few idle units in the last wave; output tiles fewer than
 * this get their K range split. (WebGPU does not tell the number of compute units; on an H200, 256
 * workgroups left conv speed at the mercy of how they fell into waves, and more splits than this
 * asks for lost to fewer: SD 1.5's 64x64 320->320 in large tiles, 2-4 splits 25.5 TFLOP/s, 6: 25.2,
 * 8: 24.1; its 32x32 640->640, 8 splits 30.5, 13: 29.8, 4: 26.5.) */
const TARGET_WORKGROUPS = 640;
/** The least K one split sums: below this the extra pass over the partial sums costs more than it gains. */
const MIN_K_PER_SPLIT = 384;
/** From this K on, large tiles (split along K where they are too few) run faster than medium ones. */
const LARGE_TILE_MIN_K = 2048;

function outputTiles(t: Tile, m: number, cout: number): number {
  return Math.ceil(m / t.TILE_M) * Math.ceil(cout / t.TILE_N);
}

function chooseTile(m: number, cout: number, k: number): Conv2dTileName {
  if (cout <= TILES.narrow.TILE_N) return 'narrow';
  if (k < LARGE_TILE_MIN_K) return 'medium';
  // Large tiles only where splitting K can still make enough of them: at SD's 8x8 level it cannot, and
  // 10 large tiles x 30 splits ran at 14 TFLOP/s on an H200 against 20 for 40 medium tiles x 26 splits.
  const largeSplitsNeeded = Math.ceil(TARGET_WORKGROUPS / outputTiles(TILES.large, m, cout));
  return largeSplitsNeeded <= Math.floor(k / MIN_K_PER_SPLIT) ? 'large' : 'medium';
}

function chooseSplits(tiles: number, k: number): number {
  if (tiles >= TARGET_WORKGROUPS) return 1;
  return Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.floor(k / MIN_K_PER_SPLIT)));
}

export function conv2dOutputSize(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/** y = conv(x, weight) + bias (+ residual). x [N, Cin, H, W] -> [N, Cout, Hout, Wout]. */
export function conv2d(rec: Recorder, x: Tensor, w: Conv2dWeights, opts: Conv2dOptions = {}): Tensor {
  const [batch, cin, height, width] = x.shape;
  const [cout, wcin, kh, kw] = w.weight.shape;
  const stride = opts.stride ?? 1;
  const padding = opts.padding ?? (kh - 1) / 2;
  const label = opts.label ?? `conv(${x.label})`;
  assertShape(x, [undefined, undefined, undefined, undefined], `${label} input`);
  if (w.weight.shape.length !== 4 || wcin !== cin) throw new Error(`${label}: weight ${shapeString(w.weight.shape)} does not fit input ${shapeString(x.shape)}`);
  if (kh % 2 !== 1 || kw % 2 !== 1) throw new Error(`${label}: kernel ${kh}x${kw} must have odd sides`);
  if (stride !== 1 && stride !== 2) throw new Error(`${label}: stride ${stride} must be 1 or 2`);
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`${label}: padding ${padding} must be a non-negative integer`);
  if (w.bias) assertShape(w.bias, [cout], `${label} bias`);

  const outHeight = conv2dOutputSize(height, kh, stride, padding);
  const outWidth = conv2dOutputSize(width, kw, stride, padding);
  if (outHeight < 1 || outWidth < 1) throw new Error(`${label}: input ${shapeString(x.shape)} is smaller than the ${kh}x${kw} kernel`);
  const tokensOut = opts.outLayout === 'tokens';
  const outShape = tokensOut ? [batch, outHeight * outWidth, cout] : [batch, cout, outHeight, outWidth];
  if (opts.residual) assertShape(opts.residual, outShape, `${label} residual`);
  const batchBias = opts.batchBias;
  if (batchBias) {
    const { tensor, stride: bStride, offset } = batchBias;
    const last = offset + (batch - 1) * bStride + cout;
    if (tensor.dtype !== 'f32' || offset < 0 || bStride < cout || last > tensor.shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`${label}: per-image bias at ${offset} + b * ${bStride} does not fit ${tensor.label} ${shapeString(tensor.shape)} (${tensor.dtype}) for ${batch} x ${cout} values`);
    }
  }
  const out = opts.out ?? rec.alloc(outShape, label);
  assertShape(out, outShape, `${label} output`);
  for (const input of [x, opts.residual]) {
    if (input && input.buffer === out.buffer) throw new Error(`${label}: the output may not alias an input (${input.label})`);
  }

  const m = batch * outHeight * outWidth;
  const k = cin * kh * kw;
  const tile: Tile = TILES[opts.tuning?.tile ?? chooseTile(m, cout, k)];
  const wantedSplits = opts.tuning?.splits ?? chooseSplits(outputTiles(tile, m, cout), k);
  const kPerSplit = Math.ceil(k / wantedSplits / tile.TILE_K) * tile.TILE_K;
  const splits = Math.ceil(k / kPerSplit);
  const constants = {
    KERNEL_H: kh,
    KERNEL_W: kw,
    ...tile,
    WEIGHT_F16: w.weight.dtype === 'f16' ? 1 : 0,
    BIAS_F16: w.bias?.dtype === 'f16' ? 1 : 0,
    HAS_BIAS: w.bias ? 1 : 0,
    HAS_RESIDUAL: opts.residual ? 1 : 0,
    HAS_BATCH_BIAS: batchBias ? 1 : 0,
    SPLIT_K: splits > 1 ? 1 : 0,
  };
  const uniforms = params().u32(cin, height, width, cout, outHeight, outWidth, stride, padding, m, k, kPerSplit, splits, batchBias?.stride ?? 0, batchBias?.offset ?? 0, tokensOut ? 1 : 0);
  const workgroups = [Math.ceil(m / tile.TILE_M), Math.ceil(cout / tile.TILE_N), splits] as const;
  // Absent bias, residual and per-image bias bind x in their place (read-only bindings may alias);
  // the shader skips them.
  const bias = w.bias ?? x;
  const residual = opts.residual ?? x;
  const pipeline = rec.gpu.pipeline('conv2d', withGemmCore(wgsl, { entry: 'conv2d', tile, loads: loads(tile), fastAxis: 'm' }), 'conv2d', constants);
  if (splits === 1) {
    rec.dispatch({ label, pipeline, params: uniforms, bindings: [x, w.weight, bias, residual, out, null, batchBias?.tensor ?? x], workgroups });
    return out;
  }
  const partial = rec.alloc([splits, ...outShape], `${label}:partial`);
  rec.dispatch({
    label: `${label}:split`,
    pipeline,
    params: uniforms,
    bindings: [x, w.weight, bias, residual, partial, null, batchBias?.tensor ?? x],
    workgroups,
  });
  rec.dispatch({
    label: `${label}:sum`,
    pipeline: rec.gpu.pipeline('conv2d', wgsl, 'conv2d_split_sum', {
      SUM_GROUP,
      HAS_BIAS: constants.HAS_BIAS,
      BIAS_F16: constants.BIAS_F16,
      HAS_RESIDUAL: constants.HAS_RESIDUAL,
      HAS_BATCH_BIAS: constants.HAS_BATCH_BIAS,
    }),
    params: uniforms,
    bindings: [null, null, bias, residual, out, partial, batchBias?.tensor ?? partial],
    workgroups: grid1d(Math.ceil((m * cout) / (SUM_GROUP * SUM_VALUES))),
  });
  rec.release(partial);
  return out;
}

// CPU reference, used by the tests: the direct definition, accumulated in f64.
export const reference = {
  conv2d(
    x: Float32Array,
    xShape: readonly number[],
    weight: Float32Array,
    weightShape: readonly number[],
    bias?: Float32Array,
    opts: { stride?: number; padding?: number; residual?: Float32Array } = {},
  ): { data: Float32Array; shape: number[] } {
    const [batch, cin, height, width] = xShape;
    const [cout, , kh, kw] = weightShape;
    const stride = opts.stride ?? 1;
    const padding = opts.padding ?? (kh - 1) / 2;
    const outHeight = conv2dOutputSize(height, kh, stride, padding);
    const outWidth = conv2dOutputSize(width, kw, stride, padding);
    const data = new Float32Array(batch * cout * outHeight * outWidth);
    let o = 0;
    for (let b = 0; b < batch; b++) {
      for (let co = 0; co < cout; co++) {
        for (let oy = 0; oy < outHeight; oy++) {
          for (let ox = 0; ox < outWidth; ox++, o++) {
            let sum = bias ? bias[co] : 0;
            for (let ci = 0; ci < cin; ci++) {
              for (let ky = 0; ky < kh; ky++) {
                const iy = oy * stride - padding + ky;
                if (iy < 0 || iy >= height) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const ix = ox * stride - padding + kx;
                  if (ix < 0 || ix >= width) continue;
                  sum += x[((b * cin + ci) * height + iy) * width + ix] * weight[((co * cin + ci) * kh + ky) * kw + kx];
                }
              }
            }
            data[o] = sum + (opts.residual ? opts.residual[o] : 0);
          }
        }
      }
    }
    return { data, shape: [batch, cout, outHeight, outWidth] };
  },
};
