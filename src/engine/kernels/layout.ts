// Layout kernels: nearest 2x upsampling, channel concatenation and the NCHW <-> token transposes.
// They move data and do no arithmetic, so their results are exact.
import wgsl from '../../../shaders/layout.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { assertShape, numel, shapeString, type Tensor } from '../gpu/tensor';

const WORKGROUP = 256;
/** The transpose's tile side (TILE in layout.wgsl): one workgroup per block of TILE x TILE. */
const TRANSPOSE_TILE = 32;

function outputFor(rec: Recorder, shape: number[], label: string, out: Tensor | undefined, inputs: Tensor[]): Tensor {
  const result = out ?? rec.alloc(shape, label);
  assertShape(result, shape, `${label} output`);
  for (const input of inputs) {
    if (input.buffer === result.buffer) throw new Error(`${label}: the output may not alias an input (${input.label})`);
  }
  return result;
}

function assertNchw(x: Tensor, what: string): number[] {
  if (x.shape.length !== 4) throw new Error(`${what}: expected [N, C, H, W], got ${shapeString(x.shape)} (${x.label})`);
  return [...x.shape];
}

/** [N, C, H, W] -> [N, C, 2H, 2W], each pixel repeated 2x2 (F.interpolate(scale_factor=2, mode="nearest")). */
export function upsampleNearest2x(rec: Recorder, x: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const [n, c, h, w] = assertNchw(x, 'upsampleNearest2x');
  const label = `up2x(${x.label})`;
  const out = outputFor(rec, [n, c, 2 * h, 2 * w], label, opts.out, [x]);
  const count = numel(out.shape);
  rec.dispatch({
    label,
    pipeline: rec.gpu.pipeline('layout', wgsl, 'upsample_nearest_2x'),
    params: params().u32(count, h, w),
    bindings: [x, null, out],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
  return out;
}

/** torch.cat([a, b], dim=1): [N, Ca, H, W] and [N, Cb, H, W] -> [N, Ca+Cb, H, W] (UNet skip connections). */
export function concatChannels(rec: Recorder, a: Tensor, b: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const [n, ca, h, w] = assertNchw(a, 'concatChannels');
  assertShape(b, [n, undefined, h, w], `concatChannels second input (first is ${shapeString(a.shape)})`);
  const cb = b.shape[1];
  const label = `cat(${a.label}, ${b.label})`;
  const out = outputFor(rec, [n, ca + cb, h, w], label, opts.out, [a, b]);
  const count = numel(out.shape);
  rec.dispatch({
    label,
    pipeline: rec.gpu.pipeline('layout', wgsl, 'concat_channels'),
    params: params().u32(count, ca * h * w, cb * h * w),
    bindings: [a, b, out],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
  return out;
}

/** Per batch item, [rows, cols] -> [cols, rows]. */
function transpose(rec: Recorder, x: Tensor, batch: number, rows: number, cols: number, out: Tensor, label: string): Tensor {
  rec.dispatch({
    label,
    pipeline: rec.gpu.pipeline('layout', wgsl, 'transpose', { TILE: TRANSPOSE_TILE }),
    params: params().u32(0, rows, cols),
    bindings: [x, null, out],
    workgroups: [Math.ceil(cols / TRANSPOSE_TILE), Math.ceil(rows / TRANSPOSE_TILE), batch],
  });
  return out;
}

/** [N, C, H, W] -> [N, H*W, C]: the token sequence a transformer block reads (x.flatten(2).transpose(1, 2)). */
export function nchwToTokens(rec: Recorder, x: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const [n, c, h, w] = assertNchw(x, 'nchwToTokens');
  const label = `tokens(${x.label})`;
  const out = outputFor(rec, [n, h * w, c], label, opts.out, [x]);
  return transpose(rec, x, n, c, h * w, out, label);
}

/** [N, H*W, C] -> [N, C, H, W], the inverse of nchwToTokens. */
export function tokensToNchw(rec: Recorder, x: Tensor, height: number, width: number, opts: { out?: Tensor } = {}): Tensor {
  assertShape(x, [undefined, height * width, undefined], `tokensToNchw (${height}x${width})`);
  const [n, , c] = x.shape;
  const label = `nchw(${x.label})`;
  const out = outputFor(rec, [n, c, height, width], label, opts.out, [x]);
  return transpose(rec, x, n, height * width, c, out, label);
}

// CPU references, used by the tests. Shapes are [N, C, H, W] unless named otherwise.
export const reference = {
  upsampleNearest2x(x: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
    const out = new Float32Array(n * c * 4 * h * w);
    for (let plane = 0; plane < n * c; plane++) {
      for (let y = 0; y < 2 * h; y++) {
        for (let xx = 0; xx < 2 * w; xx++) out[(plane * 2 * h + y) * 2 * w + xx] = x[(plane * h + (y >> 1)) * w + (xx >> 1)];
      }
    }
    return out;
  },

  concatChannels(a: Float32Array, aShape: readonly number[], b: Float32Array, bShape: readonly number[]): Float32Array {
    const [n, ca, h, w] = aShape;
    const cb = bShape[1];
    const out = new Float32Array(n * (ca + cb) * h * w);
    for (let i = 0; i < n; i++) {
      out.set(a.subarray(i * ca * h * w, (i + 1) * ca * h * w), i * (ca + cb) * h * w);
      out.set(b.subarray(i * cb * h * w, (i + 1) * cb * h * w), (i * (ca + cb) + ca) * h * w);
    }
    return out;
  },

  nchwToTokens(x: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
    const out = new Float32Array(x.length);
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        for (let s = 0; s < h * w; s++) out[(i * h * w + s) * c + ch] = x[(i * c + ch) * h * w + s];
      }
    }
    return out;
  },

  /** x is [N, H*W, C]. */
  tokensToNchw(x: Float32Array, n: number, c: number, height: number, width: number): Float32Array {
    const out = new Float32Array(x.length);
    for (let i = 0; i < n; i++) {
      for (let s = 0; s < height * width; s++) {
        for (let ch = 0; ch < c; ch++) out[(i * c + ch) * height * width + s] = x[(i * height * width + s) * c + ch];
      }
    }
    return out;
  },
};
