// Sinusoidal timestep embedding (diffusers get_timestep_embedding), read from a GPU buffer at run
// time so that one recorded plan serves every sampling step.
import wgsl from '../../../shaders/timestep-embedding.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { numel, sameShape, shapeString, type Tensor } from '../gpu/tensor';

const WORKGROUP = 256;
const DEFAULT_MAX_PERIOD = 10000;

export interface TimestepEmbeddingOptions {
  dim: number;
  flipSinToCos: boolean;
  freqShift: number;
  maxPeriod?: number;
}

function checkOptions(opts: TimestepEmbeddingOptions): number {
  const half = Math.floor(opts.dim / 2);
  if (!Number.isInteger(opts.dim) || half < 1) throw new Error(`timestepEmbedding: dim must be an integer >= 2, got ${opts.dim}`);
  if (half - opts.freqShift === 0) throw new Error(`timestepEmbedding: freqShift ${opts.freqShift} equals dim / 2, which divides by zero`);
  return half;
}

/** diffusers get_timestep_embedding(timesteps, dim, flip_sin_to_cos, downscale_freq_shift=freqShift, scale=1, max_period=10000): timesteps [N] f32 (read from the GPU buffer at run time: the same plan serves every step) -> [N, dim]. */
export function timestepEmbedding(rec: Recorder, timesteps: Tensor, opts: TimestepEmbeddingOptions & { out?: Tensor }): Tensor {
  const half = checkOptions(opts);
  const n = numel(timesteps.shape);
  if (timesteps.dtype !== 'f32') throw new Error(`timestepEmbedding: timesteps must be f32 (${timesteps.label})`);
  const shape = [n, opts.dim];
  if (opts.out && !sameShape(opts.out.shape, shape)) throw new Error(`timestepEmbedding: out is ${shapeString(opts.out.shape)}, expected ${shapeString(shape)}`);
  const out = opts.out ?? rec.alloc(shape, `timestepEmbedding(${timesteps.label})`);
  const count = n * opts.dim;
  rec.dispatch({
    label: `timestep_embedding:${out.label}`,
    pipeline: rec.gpu.pipeline('timestep-embedding', wgsl, 'timestep_embedding'),
    params: params()
      .u32(count, opts.dim, half, opts.flipSinToCos ? 1 : 0)
      // torch rounds the Python scalars to f32 first, then (on CUDA) divides as a * (1 / b).
      .f32(-Math.log(opts.maxPeriod ?? DEFAULT_MAX_PERIOD), Math.fround(1 / Math.fround(half - opts.freqShift)))
      .u32(0, 0),
    bindings: [timesteps, out],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
  return out;
}

// CPU reference, used by the tests.
export const reference = {
  /** diffusers' float32 arithmetic step by step (every intermediate rounded with Math.fround, as
   * torch on CUDA computes it), then sin and cos of the rounded f32 argument in float64. */
  timestepEmbedding: (timesteps: ArrayLike<number>, opts: TimestepEmbeddingOptions): Float64Array => {
    const half = checkOptions(opts);
    const f = Math.fround;
    const negLog = f(-Math.log(opts.maxPeriod ?? DEFAULT_MAX_PERIOD));
    const invDenominator = f(1 / f(half - opts.freqShift));
    const out = new Float64Array(timesteps.length * opts.dim);
    for (let n = 0; n < timesteps.length; n++) {
      for (let k = 0; k < half; k++) {
        const freq = f(Math.exp(f(f(negLog * k) * invDenominator)));
        const arg = f(f(timesteps[n]) * freq);
        const [first, second] = opts.flipSinToCos ? [Math.cos(arg), Math.sin(arg)] : [Math.sin(arg), Math.cos(arg)];
        out[n * opts.dim + k] = first;
        out[n * opts.dim + half + k] = second;
      }
    }
    return out;
  },
};
