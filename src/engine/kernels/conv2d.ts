// 2D convolution (PyTorch's nn.Conv2d semantics, zero padding) as one implicit-GEMM kernel, with the
// bias and an optional residual (ResNet shortcut, proj_out + skip) fused into its epilogue.
import wgsl from '../../../shaders/conv2d.wgsl?raw';
import type { Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { assertShape, shapeString, type Tensor } from '../gpu/tensor';

export interface Conv2dWeights {
  /** [Cout, Cin, kh, kw], PyTorch layout; f32, or f16 pairs packed in u32 words. */
  weight: Tensor;
  /** [Cout] */
  bias?: Tensor;
}

export interface Conv2dOptions {
  stride?: 1 | 2;
  /** Zero padding on every side; default (kh-1)/2, which keeps the size at stride 1. */
  padding?: number;
  /** Added after the bias; has the output's shape. */
  residual?: Tensor;
  out?: Tensor;
  label?: string;
  /** Forces a tile shape (tests, benchmarks); by default it is chosen from the GEMM size. */
  tile?: Conv2dTileName;
}

/** One workgroup's block of the output: TILE_M pixels x TILE_N channels, stepping TILE_K through
 * Cin*kh*kw. Each invocation computes 4x4 outputs (conv2d.wgsl), so a tile has TILE_M*TILE_N/16
 * invocations; TILE_N >= 16 and powers of two make every load loop in the shader divide evenly. */
interface Tile {
  TILE_M: number;
  TILE_N: number;
  TILE_K: number;
}

const TILES = {
  wide: { TILE_M: 64, TILE_N: 64, TILE_K: 16 }, // 256 invocations
  small: { TILE_M: 32, TILE_N: 32, TILE_K: 16 }, // 64 invocations, 4x the workgroups of wide
  narrow: { TILE_M: 64, TILE_N: 16, TILE_K: 16 }, // Cout <= 16 (tiny decoders, conv_out)
} satisfies Record<string, Tile>;

export type Conv2dTileName = keyof typeof TILES;
export const conv2dTileNames = Object.keys(TILES) as Conv2dTileName[];

/** Below this many 64x64 tiles the GPU would sit mostly idle (SD at 8x8 latents): use smaller tiles. */
const MIN_WIDE_WORKGROUPS = 256;

function chooseTile(m: number, cout: number): Conv2dTileName {
  if (cout <= TILES.narrow.TILE_N) return 'narrow';
  const wideGroups = Math.ceil(m / TILES.wide.TILE_M) * Math.ceil(cout / TILES.wide.TILE_N);
  return wideGroups < MIN_WIDE_WORKGROUPS ? 'small' : 'wide';
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
  const outShape = [batch, cout, outHeight, outWidth];
  if (opts.residual) assertShape(opts.residual, outShape, `${label} residual`);
  const out = opts.out ?? rec.alloc(outShape, label);
  assertShape(out, outShape, `${label} output`);
  for (const input of [x, opts.residual]) {
    if (input && input.buffer === out.buffer) throw new Error(`${label}: the output may not alias an input (${input.label})`);
  }

  const m = batch * outHeight * outWidth;
  const k = cin * kh * kw;
  const tile: Tile = TILES[opts.tile ?? chooseTile(m, cout)];
  const constants = {
    KERNEL_H: kh,
    KERNEL_W: kw,
    ...tile,
    WEIGHT_F16: w.weight.dtype === 'f16' ? 1 : 0,
    BIAS_F16: w.bias?.dtype === 'f16' ? 1 : 0,
    HAS_BIAS: w.bias ? 1 : 0,
    HAS_RESIDUAL: opts.residual ? 1 : 0,
  };
  rec.dispatch({
    label,
    pipeline: rec.gpu.pipeline('conv2d', wgsl, 'conv2d', constants),
    params: params().u32(cin, height, width, cout, outHeight, outWidth, stride, padding, m, k),
    // Absent bias and residual bind x in their place (read-only bindings may alias); the shader skips them.
    bindings: [x, w.weight, w.bias ?? x, opts.residual ?? x, out],
    workgroups: [Math.ceil(m / tile.TILE_M), Math.ceil(cout / tile.TILE_N)],
  });
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
