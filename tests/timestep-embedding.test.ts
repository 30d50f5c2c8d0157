import { describe, expect, it } from 'vitest';
import { Recorder } from '../src/engine/gpu/recorder';
import { reference, timestepEmbedding, type TimestepEmbeddingOptions } from '../src/engine/kernels/timestep-embedding';
import { randInt, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

/** The same formula with no float32 rounding at all. */
function exactEmbedding(timesteps: ArrayLike<number>, opts: TimestepEmbeddingOptions): Float64Array {
  const half = Math.floor(opts.dim / 2);
  const out = new Float64Array(timesteps.length * opts.dim);
  for (let n = 0; n < timesteps.length; n++) {
    for (let k = 0; k < half; k++) {
      const arg = timesteps[n] * Math.exp((-Math.log(opts.maxPeriod ?? 10000) * k) / (half - opts.freqShift));
      out[n * opts.dim + k] = opts.flipSinToCos ? Math.cos(arg) : Math.sin(arg);
      out[n * opts.dim + half + k] = opts.flipSinToCos ? Math.sin(arg) : Math.cos(arg);
    }
  }
  return out;
}

// Tolerance 1e-4 (of max|emb| = 1). The kernel repeats diffusers' float32 steps with + - * alone, so
// what remains is exp within 1 ulp, as torch's own expf on CPU or CUDA: a frequency one ulp off moves
// a 1000-radian argument by an ulp, 6.1e-5, the largest difference seen on SwiftShader. Against the
// unrounded formula the GPU is off by 9.4e-5, diffusers' float32 arithmetic itself by 8.0e-5.
describe('timestepEmbedding matches diffusers get_timestep_embedding', () => {
  const random = rng(3);
  const configs: TimestepEmbeddingOptions[] = [
    { dim: 320, flipSinToCos: true, freqShift: 0 }, // SD 1.x / 2.x UNet
    { dim: 256, flipSinToCos: true, freqShift: 0 }, // SDXL's add_time_proj
    { dim: 32, flipSinToCos: false, freqShift: 1 }, // diffusers' defaults
    { dim: 7, flipSinToCos: false, freqShift: 1, maxPeriod: 100 }, // odd: one zero column
  ];
  for (const opts of configs) {
    const n = randInt(random, 1, 3);
    const timesteps = Float32Array.from({ length: n }, (_, i) => (i === 0 ? 999 : Math.fround(random() * 1000)));

    it(`dim ${opts.dim}, flip ${opts.flipSinToCos}, shift ${opts.freqShift}, max period ${opts.maxPeriod ?? 10000}, t = ${[...timesteps].map((t) => t.toFixed(2))}`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => timestepEmbedding(rec, tensorFrom(gpu, [n], timesteps), opts));
      expect(relError(out, reference.timestepEmbedding(timesteps, opts))).toBeLessThan(1e-4);
      if (opts.dim % 2 === 1) for (let i = 0; i < n; i++) expect(out[i * opts.dim + opts.dim - 1]).toBe(0);
    });
  }

  it('stays accurate up to t = 1000 (every quarter step, dim 320)', async () => {
    const gpu = await testGpu();
    const opts = { dim: 320, flipSinToCos: true, freqShift: 0 };
    const timesteps = Float32Array.from({ length: 4001 }, (_, i) => i / 4);
    const out = await runOnce(gpu, (rec) => timestepEmbedding(rec, tensorFrom(gpu, [timesteps.length], timesteps), opts));
    expect(relError(out, reference.timestepEmbedding(timesteps, opts))).toBeLessThan(1e-4);
    expect(relError(out, exactEmbedding(timesteps, opts))).toBeLessThan(1e-4);
  });

  it('one plan serves every step: timesteps written between runs', async () => {
    const gpu = await testGpu();
    const opts = { dim: 64, flipSinToCos: true, freqShift: 0 };
    const timesteps = tensorFrom(gpu, [2], new Float32Array([0, 0]), 'timesteps');
    const rec = new Recorder(gpu, 'steps');
    const out = rec.keep(timestepEmbedding(rec, timesteps, opts));
    const plan = rec.finish();
    for (const step of [[999, 999], [500.5, 20], [1, 0]]) {
      gpu.write(timesteps.buffer, new Float32Array(step));
      plan.run();
      const result = await gpu.readF32(out.buffer, 2 * 64);
      expect(relError(result, reference.timestepEmbedding(step, opts))).toBeLessThan(1e-4);
    }
    plan.destroy();
  });
});
