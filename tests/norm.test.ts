import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../src/engine/gpu/gpu-context';
import type { Tensor } from '../src/engine/gpu/tensor';
import type { Recorder } from '../src/engine/gpu/recorder';
import { createNodeGpuContext } from '../src/engine/gpu/node-gpu';
import { groupNorm, layerNorm, reference } from '../src/engine/kernels/norm';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

/** Gaussian values around `mean`: an offset far from 0 is what breaks E[x^2] - E[x]^2. */
function shifted(count: number, random: () => number, mean: number, std: number): Float32Array {
  return randn(count, random, std).map((v) => v + mean);
}

/** Multiples of 1/64 in [-2, 2]: exactly representable in f16, so f16 and f32 weights agree. */
function halfExact(count: number, random: () => number): Float32Array {
  return Float32Array.from({ length: count }, () => randInt(random, -128, 128) / 64);
}

/** f16 bits of a value that f16 holds exactly (normal range or zero). */
function halfBits(v: number): number {
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const exponent = Math.floor(Math.log2(Math.abs(v)));
  const mantissa = Math.abs(v) / 2 ** exponent - 1;
  const bits = sign | ((exponent + 15) << 10) | Math.round(mantissa * 1024);
  if (mantissa * 1024 !== Math.round(mantissa * 1024)) throw new Error(`${v} is not exact in f16`);
  return bits;
}

/** A weight tensor stored as f16 pairs in u32 words, as the weight store keeps half checkpoints. */
function halfTensor(gpu: GpuContext, values: Float32Array, label: string): Tensor {
  const words = new Uint32Array(Math.ceil(values.length / 2));
  values.forEach((v, i) => (words[i >> 1] |= halfBits(v) << (16 * (i & 1))));
  return { buffer: gpu.upload(label, words), shape: [values.length], dtype: 'f16', byteOffset: 0, label };
}

// Tolerances are about twice the error of an ideal f32 implementation (exact statistics rounded to
// f32, then f32 arithmetic), measured on the same data: that floor grows with |mean| / std, because
// x - mean loses the low bits of x. Seen on SwiftShader: GPU 1.9e-7 vs ideal 1.5e-7 for the random
// groups, 1.06e-6 vs 1.04e-6 for the big group (mean 50, std 0.5), 4.2e-7 vs 2.0e-7 for LayerNorm.
describe('groupNorm matches torch.nn.GroupNorm (float64 reference)', () => {
  const random = rng(5);
  for (let trial = 0; trial < 4; trial++) {
    const groups = [1, 2, 4, 8][randInt(random, 0, 3)];
    const channels = groups * randInt(random, 1, 4);
    const shape = [randInt(random, 1, 2), channels, randInt(random, 1, 17), randInt(random, 1, 17)];
    const spatial = shape[2] * shape[3];
    const silu = trial % 2 === 1;
    const x = shifted(shape.reduce((a, b) => a * b, 1), random, 3, 2);
    const weight = randn(channels, random);
    const bias = randn(channels, random);
    const eps = trial < 2 ? 1e-5 : 1e-6;

    it(`${shape}, ${groups} groups${silu ? ', then SiLU' : ''}`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) =>
        groupNorm(rec, tensorFrom(gpu, shape, x), tensorFrom(gpu, [channels], weight), tensorFrom(gpu, [channels], bias), { groups, eps, silu }),
      );
      const expected = reference.groupNorm(x, channels, spatial, weight, bias, { groups, eps, silu });
      expect(relError(out, expected)).toBeLessThan(4e-7);
    });
  }

  it('tiny groups: C=8, 1x1, one and two values per group', async () => {
    const gpu = await testGpu();
    const random = rng(6);
    const x = randn(2 * 8, random);
    const weight = randn(8, random);
    const bias = randn(8, random);
    for (const groups of [8, 4]) {
      const out = await runOnce(gpu, (rec) =>
        groupNorm(rec, tensorFrom(gpu, [2, 8, 1, 1], x), tensorFrom(gpu, [8], weight), tensorFrom(gpu, [8], bias), { groups, eps: 1e-5, silu: true }),
      );
      const expected = reference.groupNorm(x, 8, 1, weight, bias, { groups, eps: 1e-5, silu: true });
      expect(relError(out, expected)).toBeLessThan(4e-7);
    }
  });

  it('a big group (SD 1.5 size: 40 channels x 64x64 = 163840 values) far from zero mean', async () => {
    const gpu = await testGpu();
    const random = rng(7);
    const shape = [1, 80, 64, 64];
    const x = shifted(80 * 64 * 64, random, 50, 0.5);
    const weight = randn(80, random);
    const bias = randn(80, random);
    const out = await runOnce(gpu, (rec) =>
      groupNorm(rec, tensorFrom(gpu, shape, x), tensorFrom(gpu, [80], weight), tensorFrom(gpu, [80], bias), { groups: 2, eps: 1e-5, silu: true }),
    );
    const expected = reference.groupNorm(x, 80, 64 * 64, weight, bias, { groups: 2, eps: 1e-5, silu: true });
    // An ideal f32 implementation is off by 1.04e-6 here (ulp(50) / 2 is 3.8e-6 of the std).
    expect(relError(out, expected)).toBeLessThan(2.5e-6);
  });

  // Rows up to 12288 values take one workgroup each (group_norm_row), longer ones chunks of 4096:
  // both sides of that line, the default model's largest groups (8192 and 12288 values: 48 held per
  // invocation), and chunks cut unevenly (4096 x 3 + 1, 4096 x 3 + 387).
  for (const [channels, side, groups] of [[2, 64, 1], [3, 64, 1], [12289, 1, 1], [3, 65, 1], [64, 64, 32]] as const) {
    const rowLen = (channels / groups) * side * side;
    it(`${channels} channels of ${side}x${side} in ${groups} group(s): rows of ${rowLen} values, SiLU`, async () => {
      const gpu = await testGpu();
      const random = rng(13 + rowLen);
      const shape = [2, channels, side, side];
      const x = shifted(2 * channels * side * side, random, -2, 1.5);
      const weight = randn(channels, random);
      const bias = randn(channels, random);
      const out = await runOnce(gpu, (rec) =>
        groupNorm(rec, tensorFrom(gpu, shape, x), tensorFrom(gpu, [channels], weight), tensorFrom(gpu, [channels], bias), { groups, eps: 1e-5, silu: true }),
      );
      const expected = reference.groupNorm(x, channels, side * side, weight, bias, { groups, eps: 1e-5, silu: true });
      expect(relError(out, expected)).toBeLessThan(4e-7);
    });
  }

  it('f16 weight and bias give the same result as f32', async () => {
    const gpu = await testGpu();
    const random = rng(8);
    const shape = [2, 12, 5, 7];
    const x = randn(2 * 12 * 35, random);
    const weight = halfExact(12, random);
    const bias = halfExact(12, random);
    const out = await runOnce(gpu, (rec) =>
      groupNorm(rec, tensorFrom(gpu, shape, x), halfTensor(gpu, weight, 'w16'), halfTensor(gpu, bias, 'b16'), { groups: 3, eps: 1e-5 }),
    );
    const expected = reference.groupNorm(x, 12, 35, weight, bias, { groups: 3, eps: 1e-5 });
    expect(relError(out, expected)).toBeLessThan(4e-7);
  });
});

describe('layerNorm matches torch.nn.LayerNorm (float64 reference)', () => {
  const random = rng(9);
  for (let trial = 0; trial < 4; trial++) {
    const channels = [1, 3, 40, 320][trial];
    const shape = [randInt(random, 1, 2), randInt(random, 1, 77), channels];
    const x = shifted(shape.reduce((a, b) => a * b, 1), random, -4, 3);
    const weight = randn(channels, random);
    const bias = randn(channels, random);

    it(`${shape}`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => layerNorm(rec, tensorFrom(gpu, shape, x), tensorFrom(gpu, [channels], weight), tensorFrom(gpu, [channels], bias), { eps: 1e-5 }));
      // Rows of 3 values can have a std far below the mean of 4: the f32 floor reaches 2e-7.
      expect(relError(out, reference.layerNorm(x, channels, weight, bias, 1e-5))).toBeLessThan(8e-7);
    });
  }

  it('wide rows (C = 1280) with f16 weights', async () => {
    const gpu = await testGpu();
    const random = rng(10);
    const x = shifted(3 * 1280, random, 20, 1);
    const weight = halfExact(1280, random);
    const bias = halfExact(1280, random);
    const out = await runOnce(gpu, (rec) => layerNorm(rec, tensorFrom(gpu, [3, 1280], x), halfTensor(gpu, weight, 'w16'), halfTensor(gpu, bias, 'b16'), { eps: 1e-5 }));
    expect(relError(out, reference.layerNorm(x, 1280, weight, bias, 1e-5))).toBeLessThan(6e-7);
  });

  it('rows of up to 64 x 48 values (all that 64 invocations hold) match, and wider rows are refused', async () => {
    const gpu = await testGpu();
    const random = rng(13);
    const channels = 64 * 48;
    const x = shifted(2 * channels, random, 20, 1);
    const weight = randn(channels, random);
    const bias = randn(channels, random);
    const out = await runOnce(gpu, (rec) => layerNorm(rec, tensorFrom(gpu, [2, channels], x), tensorFrom(gpu, [channels], weight), tensorFrom(gpu, [channels], bias), { eps: 1e-5 }));
    expect(relError(out, reference.layerNorm(x, channels, weight, bias, 1e-5))).toBeLessThan(6e-7);
    const wide = channels + 1;
    const tooWide = (rec: Recorder) => layerNorm(rec, tensorFrom(gpu, [1, wide], new Float32Array(wide)), tensorFrom(gpu, [wide], new Float32Array(wide)), tensorFrom(gpu, [wide], new Float32Array(wide)), { eps: 1e-5 });
    await expect(runOnce(gpu, tooWide)).rejects.toThrow(/3073 values exceed 64 invocations x 48/);
  });

  it('more rows than 65535 workgroups fit in one grid dimension', async () => {
    const gpu = await testGpu();
    const random = rng(12);
    // Rows (s, -s) with s from 0 to 0.01: mean exactly 0, and an output s / sqrt(s^2 + eps) that
    // differs from row to row, so a row skipped or normalized with another row's statistics shows.
    const rows = 65600;
    const x = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) [x[2 * r], x[2 * r + 1]] = [(0.01 * r) / rows, (-0.01 * r) / rows];
    const weight = randn(2, random);
    const bias = randn(2, random);
    const out = await runOnce(gpu, (rec) => layerNorm(rec, tensorFrom(gpu, [rows, 2], x), tensorFrom(gpu, [2], weight), tensorFrom(gpu, [2], bias), { eps: 1e-5 }));
    expect(relError(out, reference.layerNorm(x, 2, weight, bias, 1e-5))).toBeLessThan(4e-7);
  });
});

// Where the device has subgroups (SwiftShader's have 4 invocations), the reductions above merge
// through them; here the same kernels run the plain workgroup-memory tree, as on a device without.
describe('groupNorm and layerNorm on a device without subgroups', () => {
  it('match the float64 reference through the plain reduction: one-workgroup rows, chunked rows, LayerNorm', async () => {
    const gpu = await createNodeGpuContext({ withoutFeatures: ['subgroups'], onError: (e) => { throw e; } });
    const random = rng(21);
    try {
      expect(gpu.features.has('subgroups')).toBe(false);
      for (const [channels, side, groups] of [[64, 16, 32], [3, 53, 1]] as const) {
        const shape = [2, channels, side, side];
        const x = shifted(2 * channels * side * side, random, 3, 2);
        const weight = randn(channels, random);
        const bias = randn(channels, random);
        const out = await runOnce(gpu, (rec) =>
          groupNorm(rec, tensorFrom(gpu, shape, x), tensorFrom(gpu, [channels], weight), tensorFrom(gpu, [channels], bias), { groups, eps: 1e-5, silu: true }),
        );
        expect(relError(out, reference.groupNorm(x, channels, side * side, weight, bias, { groups, eps: 1e-5, silu: true }))).toBeLessThan(4e-7);
      }
      const x = shifted(5 * 320, random, -4, 3);
      const weight = randn(320, random);
      const bias = randn(320, random);
      const out = await runOnce(gpu, (rec) => layerNorm(rec, tensorFrom(gpu, [5, 320], x), tensorFrom(gpu, [320], weight), tensorFrom(gpu, [320], bias), { eps: 1e-5 }));
      expect(relError(out, reference.layerNorm(x, 320, weight, bias, 1e-5))).toBeLessThan(8e-7);
    } finally {
      gpu.destroy();
    }
  });
});
