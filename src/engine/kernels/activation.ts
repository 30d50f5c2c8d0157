// Activations: exact GELU, CLIP's quick GELU, ReLU, TAESD's scaled tanh. (diffusers' GEGLU runs in
// its projection's epilogue: linear's `geglu` option.)
import activationWgsl from '../../../shaders/activation.wgsl?raw';
import geluWgsl from '../../../shaders/gelu.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { numel, sameShape, shapeString, type Tensor } from '../gpu/tensor';

const WORKGROUP = 256;
const wgsl = `${activationWgsl}\n${geluWgsl}`;

type ActivationEntry = 'gelu' | 'quick_gelu' | 'relu' | 'scaled_tanh';

function launch(rec: Recorder, entry: ActivationEntry, x: Tensor, outShape: readonly number[], out: Tensor | undefined, scale = 1): Tensor {
  if (out && !sameShape(out.shape, outShape)) throw new Error(`${entry}: out is ${shapeString(out.shape)}, expected ${shapeString(outShape)} (${out.label})`);
  // WebGPU refuses a buffer bound both read-only and writable in one dispatch.
  if (out && out.buffer === x.buffer) throw new Error(`${entry}: out may not share a buffer with the input (${x.label})`);
  const target = out ?? rec.alloc(outShape, `${entry}(${x.label})`);
  const count = numel(outShape);
  rec.dispatch({
    label: `${entry}:${target.label}`,
    pipeline: rec.gpu.pipeline('activation', wgsl, entry),
    params: params().u32(count, 0).f32(scale).u32(0),
    bindings: [x, target],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
  return target;
}

/** Exact GELU, 0.5 * x * (1 + erf(x / sqrt 2)), with erf accurate to about 1e-7 in f32. */
export function gelu(rec: Recorder, x: Tensor, opts: { out?: Tensor } = {}): Tensor {
  return launch(rec, 'gelu', x, x.shape, opts.out);
}

/** x * sigmoid(1.702 x), CLIP's quick_gelu. */
export function quickGelu(rec: Recorder, x: Tensor, opts: { out?: Tensor } = {}): Tensor {
  return launch(rec, 'quick_gelu', x, x.shape, opts.out);
}

export function relu(rec: Recorder, x: Tensor, opts: { out?: Tensor } = {}): Tensor {
  return launch(rec, 'relu', x, x.shape, opts.out);
}

/** tanh(x / scale) * scale: TAESD's Clamp, which bounds the latent smoothly to (-scale, scale). */
export function scaledTanh(rec: Recorder, x: Tensor, scale: number, opts: { out?: Tensor } = {}): Tensor {
  if (!(scale > 0)) throw new Error(`scaledTanh: scale must be positive, got ${scale}`);
  return launch(rec, 'scaled_tanh', x, x.shape, opts.out, scale);
}

/** erf in float64: the all-positive series erf(x) = 2/sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!
 * (Abramowitz & Stegun 7.1.6), which has no cancellation; beyond |x| = 6, erf is 1 within 2e-17. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (Number.isNaN(a)) return NaN;
  if (a >= 6) return Math.sign(x);
  const a2 = a * a;
  let term = a;
  let sum = a;
  for (let n = 1; n < 400 && term > sum * 1e-17; n++) {
    term *= (2 * a2) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-a2) * sum;
}

const geluOf = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));

// CPU references in float64, used by the tests.
export const reference = {
  erf,
  gelu: (x: ArrayLike<number>) => Float64Array.from(x, geluOf),
  quickGelu: (x: ArrayLike<number>) => Float64Array.from(x, (v) => v / (1 + Math.exp(-1.702 * v))),
  relu: (x: ArrayLike<number>) => Float64Array.from(x, (v) => Math.max(v, 0)),
  scaledTanh: (x: ArrayLike<number>, scale: number) => Float64Array.from(x, (v) => Math.tanh(v / scale) * scale),
  silu: (x: ArrayLike<number>) => Float64Array.from(x, (v) => v / (1 + Math.exp(-v))),
  /** diffusers GEGLU (linear's `geglu` epilogue): x is rows of width 2D, hidden | gate, flattened. */
  geglu: (x: ArrayLike<number>, halfWidth: number) => {
    const rows = x.length / (2 * halfWidth);
    const out = new Float64Array(rows * halfWidth);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < halfWidth; j++) out[r * halfWidth + j] = x[r * 2 * halfWidth + j] * geluOf(x[r * 2 * halfWidth + halfWidth + j]);
    }
    return out;
  },
};
