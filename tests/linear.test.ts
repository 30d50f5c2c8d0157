import { describe, expect, it } from 'vitest';
import { linear, linearTileNames, reference, type LinearOptions } from '../src/engine/kernels/linear';
import { Recorder } from '../src/engine/gpu/recorder';
import { reference as activationReference } from '../src/engine/kernels/activation';
import type { Tensor } from '../src/engine/gpu/tensor';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

// f32 sums of at most a few hundred products of unit normals against an f64 reference: SwiftShader
// stays under 1e-7 of max|y|; 1e-6 leaves room for another summation order or FMA contraction.
const TOLERANCE = 1e-6;

/** Weights that f16 holds exactly (k/64, |k| < 2048), packed two per u32 word as tensor.ts describes. */
function f16Weights(count: number, random: () => number): { values: Float32Array; packed: Uint32Array } {
  const values = new Float32Array(count).map(() => randInt(random, -200, 200) / 64);
  const packed = new Uint32Array(Math.ceil(count / 2));
  const bits = new Uint32Array(values.buffer);
  for (let i = 0; i < count; i++) {
    const b = bits[i];
    let half = 0;
    if (values[i] !== 0) {
      const exponent = ((b >>> 23) & 0xff) - 127 + 15;
      if (exponent < 1 || exponent > 30 || (b & 0x1fff) !== 0) throw new Error(`${values[i]} is not exact in f16`);
      half = ((b >>> 16) & 0x8000) | (exponent << 10) | ((b >>> 13) & 0x3ff);
    }
    packed[i >> 1] |= half << ((i & 1) * 16);
  }
  return { values, packed };
}

describe('linear matches torch.nn.Linear on random shapes', () => {
  const random = rng(11);
  // Tails everywhere: K of tiny models (4, 8, 32, 37), M and N across the 64-wide tile boundary.
  const cases = [
    { lead: [1, 1], inner: 4, cols: 3 },
    { lead: [2, 7], inner: 8, cols: 32 },
    { lead: [2, 33], inner: 37, cols: 65 },
    { lead: [1, 70], inner: 32, cols: 16 },
    { lead: [130], inner: 320, cols: 100 },
    { lead: [randInt(random, 1, 2), randInt(random, 1, 70)], inner: randInt(random, 1, 70), cols: randInt(random, 1, 70) },
    { lead: [randInt(random, 1, 2), randInt(random, 1, 70)], inner: randInt(random, 1, 70), cols: randInt(random, 1, 70) },
  ];
  cases.forEach(({ lead, inner, cols }, index) => {
    const rows = lead.reduce((a, b) => a * b, 1);
    const x = randn(rows * inner, random);
    const w = randn(cols * inner, random, 1 / Math.sqrt(inner));
    const bias = randn(cols, random);
    const residual = randn(rows * cols, random);
    const scale = [1, 0, 10, 0.37][index % 4];

    it(`x [${lead}, ${inner}] · W [${cols}, ${inner}]ᵀ, no bias`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => linear(rec, tensorFrom(gpu, [...lead, inner], x), tensorFrom(gpu, [cols, inner], w)));
      expect(relError(out, reference.linear(x, w, undefined, inner, cols))).toBeLessThan(TOLERANCE);
    });

    it(`x [${lead}, ${inner}] · W [${cols}, ${inner}]ᵀ + b, * ${scale} + residual`, async () => {
      const gpu = await testGpu();
      const scaleBuffer = gpu.upload('scale', new Float32Array([5, 6, scale]));
      const out = await runOnce(gpu, (rec) =>
        linear(rec, tensorFrom(gpu, [...lead, inner], x), tensorFrom(gpu, [cols, inner], w), tensorFrom(gpu, [cols], bias), {
          residual: tensorFrom(gpu, [...lead, cols], residual),
          outputScale: { buffer: scaleBuffer, index: 2 },
        }),
      );
      expect(relError(out, reference.linear(x, w, bias, inner, cols, { residual, scale }))).toBeLessThan(TOLERANCE);
    });
  });

  it('reads f16 weights packed two per word (odd K, so pairs straddle rows)', async () => {
    const gpu = await testGpu();
    const [rows, inner, cols] = [67, 37, 9];
    const x = randn(rows * inner, random);
    const { values, packed } = f16Weights(cols * inner, random);
    const bias = randn(cols, random);
    const weight: Tensor = { buffer: gpu.upload('w16', packed), shape: [cols, inner], dtype: 'f16', byteOffset: 0, label: 'w16' };
    const out = await runOnce(gpu, (rec) => linear(rec, tensorFrom(gpu, [rows, inner], x), weight, tensorFrom(gpu, [cols], bias)));
    expect(relError(out, reference.linear(x, values, bias, inner, cols))).toBeLessThan(TOLERANCE);
  });

  // Every tile shape and K split, forced, on shapes with tails on all three sides (K not a multiple of
  // any run or step, odd for f16 so word pairs straddle rows) and on whole tiles with even K.
  const tuned: { rows: number; inner: number; cols: number; splits: number }[] = [
    { rows: 133, inner: 101, cols: 70, splits: 1 },
    { rows: 133, inner: 101, cols: 70, splits: 3 },
    { rows: 128, inner: 64, cols: 128, splits: 2 },
  ];
  for (const tile of linearTileNames) {
    for (const { rows, inner, cols, splits } of tuned) {
      const tuning: LinearOptions['tuning'] = { tile, splits };
      it(`tile ${tile}, ${splits} K split(s): [${rows}, ${inner}] · [${cols}, ${inner}]ᵀ + b, * scale + residual, f32 and f16 weights`, async () => {
        const gpu = await testGpu();
        const x = randn(rows * inner, random);
        const w = randn(cols * inner, random, 1 / Math.sqrt(inner));
        const w16 = f16Weights(cols * inner, random);
        const bias = randn(cols, random);
        const residual = randn(rows * cols, random);
        const scaleBuffer = gpu.upload('scale', new Float32Array([0.37]));
        const opts = (): LinearOptions => ({ residual: tensorFrom(gpu, [rows, cols], residual), outputScale: { buffer: scaleBuffer, index: 0 }, tuning, label: `linear ${tile}` });
        const out = await runOnce(gpu, (rec) => linear(rec, tensorFrom(gpu, [rows, inner], x), tensorFrom(gpu, [cols, inner], w), tensorFrom(gpu, [cols], bias), opts()));
        expect(relError(out, reference.linear(x, w, bias, inner, cols, { residual, scale: 0.37 }))).toBeLessThan(TOLERANCE);
        const weight: Tensor = { buffer: gpu.upload('w16', w16.packed), shape: [cols, inner], dtype: 'f16', byteOffset: 0, label: 'w16' };
        const plain = await runOnce(gpu, (rec) => linear(rec, tensorFrom(gpu, [rows, inner], x), weight, undefined, { tuning }));
        expect(relError(plain, reference.linear(x, w16.values, undefined, inner, cols))).toBeLessThan(TOLERANCE);
      });
    }
  }

  it('dragging the out multiplier changes the next run of the same plan', async () => {
    const gpu = await testGpu();
    const [rows, inner, cols] = [20, 24, 12];
    const x = randn(rows * inner, random);
    const w = randn(cols * inner, random);
    const bias = randn(cols, random);
    const multipliers = gpu.upload('multipliers', new Float32Array([1, 1, 1, 1]));
    const rec = new Recorder(gpu, 'slider');
    const out = rec.keep(
      linear(rec, tensorFrom(gpu, [rows, inner], x), tensorFrom(gpu, [cols, inner], w), tensorFrom(gpu, [cols], bias), {
        outputScale: { buffer: multipliers, index: 3 },
      }),
    );
    const plan = rec.finish();
    const results: Float32Array[] = [];
    for (const value of [1, 2.5, 0]) {
      gpu.write(multipliers, new Float32Array([value]), 3 * 4);
      plan.run();
      results.push(await gpu.readF32(out.buffer, rows * cols));
      expect(relError(results.at(-1)!, reference.linear(x, w, bias, inner, cols, { scale: value }))).toBeLessThan(TOLERANCE);
    }
    expect(relError(results[1], results[0])).toBeGreaterThan(0.5);
    plan.destroy();
  });

  // A transformer's proj_out: tokens [B, H*W, K] in, the image [B, N, H, W] out, plus the NCHW residual.
  for (const splits of [1, 3]) {
    it(`writes NCHW from tokens (proj_out), residual in NCHW, ${splits} K split(s)`, async () => {
      const gpu = await testGpu();
      const [batch, height, width, inner, cols] = [2, 5, 7, 70, 19];
      const plane = height * width;
      const x = randn(batch * plane * inner, random);
      const w = randn(cols * inner, random, 1 / Math.sqrt(inner));
      const bias = randn(cols, random);
      const residual = randn(batch * cols * plane, random);
      const rowMajor = reference.linear(x, w, bias, inner, cols);
      const expected = new Float32Array(residual);
      for (let b = 0; b < batch; b++) for (let i = 0; i < plane; i++) for (let n = 0; n < cols; n++) expected[(b * cols + n) * plane + i] += rowMajor[(b * plane + i) * cols + n];
      const out = await runOnce(gpu, (rec) =>
        linear(rec, tensorFrom(gpu, [batch, plane, inner], x), tensorFrom(gpu, [cols, inner], w), tensorFrom(gpu, [cols], bias), {
          residual: tensorFrom(gpu, [batch, cols, height, width], residual),
          nchwOutput: { height, width },
          tuning: { tile: 'small', splits },
        }),
      );
      expect(relError(out, expected)).toBeLessThan(TOLERANCE);
    });
  }

  // A feed-forward's ff.net.0.proj with diffusers GEGLU in the epilogue: hidden, gate = the halves of
  // the outputs; hidden * gelu(gate). Against the reference linear followed by the reference GEGLU.
  for (const [tile, splits] of [['large', 1], ['medium', 1], ['small', 3], ['large', 2]] as const) {
    it(`applies GEGLU to its outputs (tile ${tile}, ${splits} K split(s))`, async () => {
      const gpu = await testGpu();
      const [rows, inner, cols] = [70, 37, 2 * 45];
      const x = randn(rows * inner, random);
      const w = randn(cols * inner, random, 1 / Math.sqrt(inner));
      const bias = randn(cols, random);
      const expected = activationReference.geglu(reference.linear(x, w, bias, inner, cols), cols / 2);
      const out = await runOnce(gpu, (rec) =>
        linear(rec, tensorFrom(gpu, [rows, inner], x), tensorFrom(gpu, [cols, inner], w), tensorFrom(gpu, [cols], bias), { geglu: true, tuning: { tile, splits } }),
      );
      expect(out.length).toBe(rows * (cols / 2));
      expect(relError(out, Float32Array.from(expected))).toBeLessThan(TOLERANCE);
    });
  }

  // The time embedding's linear_1 and linear_2 with SiLU in the epilogue (and in the split-K sum).
  for (const [tile, splits] of [['medium', 1], ['small', 3]] as const) {
    it(`applies SiLU to its outputs (tile ${tile}, ${splits} K split(s))`, async () => {
      const gpu = await testGpu();
      const [rows, inner, cols] = [2, 67, 45];
      const x = randn(rows * inner, random);
      const w = randn(cols * inner, random, 1 / Math.sqrt(inner));
      const bias = randn(cols, random);
      const expected = activationReference.silu(reference.linear(x, w, bias, inner, cols));
      const out = await runOnce(gpu, (rec) =>
        linear(rec, tensorFrom(gpu, [rows, inner], x), tensorFrom(gpu, [cols, inner], w), tensorFrom(gpu, [cols], bias), { silu: true, tuning: { tile, splits } }),
      );
      expect(relError(out, expected)).toBeLessThan(TOLERANCE);
    });
  }
});
