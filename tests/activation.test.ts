import { describe, expect, it } from 'vitest';
import { erf, gelu, quickGelu, reference, relu, scaledTanh } from '../src/engine/kernels/activation';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

/** Where exp overflows, erf saturates or changes branch, tanh would be inf / inf. */
const EXTREMES = Float32Array.from([0, -0, 1e-30, -1e-30, 0.875, -0.875, 4, -4, 30, -30, 200, -200, 3e38, -3e38]);

describe('the float64 erf used by the references', () => {
  it('matches tabulated values to 1e-15', () => {
    const table: [number, number][] = [
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3.5, 0.9999992569016276],
    ];
    for (const [x, value] of table) {
      expect(Math.abs(erf(x) - value)).toBeLessThan(1e-15);
      expect(Math.abs(erf(-x) + value)).toBeLessThan(1e-15);
    }
  });
});

// Tolerances: a few times the worst error seen on SwiftShader (gelu 4e-8, quickGelu 8e-8,
// scaledTanh 1.7e-7: its tanh is good to about 2e-7 absolute).
describe('activation kernels match their CPU reference', () => {
  const random = rng(11);
  for (let trial = 0; trial < 3; trial++) {
    const shape = [randInt(random, 1, 2), randInt(random, 1, 7), randInt(random, 1, 33), randInt(random, 1, 19)];
    const n = shape.reduce((a, b) => a * b, 1);
    const x = randn(n, random, 3);

    it(`gelu ${shape}`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => gelu(rec, tensorFrom(gpu, shape, x)));
      expect(relError(out, reference.gelu(x))).toBeLessThan(2e-7);
    });

    it(`quickGelu ${shape}`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => quickGelu(rec, tensorFrom(gpu, shape, x)));
      expect(relError(out, reference.quickGelu(x))).toBeLessThan(3e-7);
    });

    it(`relu ${shape}`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => relu(rec, tensorFrom(gpu, shape, x)));
      expect(relError(out, reference.relu(x))).toBe(0);
    });

    it(`scaledTanh ${shape}`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => scaledTanh(rec, tensorFrom(gpu, shape, x), 3));
      expect(relError(out, reference.scaledTanh(x, 3))).toBeLessThan(5e-7);
    });
  }

  it('gelu is accurate across erf branches (dense sweep of [-9, 9])', async () => {
    const gpu = await testGpu();
    const n = 36001;
    const x = Float32Array.from({ length: n }, (_, i) => -9 + (18 * i) / (n - 1));
    const out = await runOnce(gpu, (rec) => gelu(rec, tensorFrom(gpu, [n], x)));
    const expected = reference.gelu(x);
    // max|gelu| is 9 here: 2e-7 relative is about the 1e-7 absolute accuracy of erf.
    expect(relError(out, expected)).toBeLessThan(2e-7);
  });
});

describe('activations of extreme inputs', () => {
  // Each element on its own: error relative to max(|expected|, 1), so that tiny tails such as
  // gelu(-4) = -1.3e-4 are held to absolute accuracy and large values to relative accuracy.
  it('stay finite and match the reference elementwise', async () => {
    const gpu = await testGpu();
    const n = EXTREMES.length;
    const run = (build: Parameters<typeof runOnce>[1]) => runOnce(gpu, build);
    const x = () => tensorFrom(gpu, [n], EXTREMES);
    const cases: [string, Float32Array, Float64Array][] = [
      ['gelu', await run((rec) => gelu(rec, x())), reference.gelu(EXTREMES)],
      ['quickGelu', await run((rec) => quickGelu(rec, x())), reference.quickGelu(EXTREMES)],
      ['relu', await run((rec) => relu(rec, x())), reference.relu(EXTREMES)],
      ['scaledTanh', await run((rec) => scaledTanh(rec, x(), 3)), reference.scaledTanh(EXTREMES, 3)],
    ];
    for (const [name, out, expected] of cases) {
      for (let i = 0; i < n; i++) {
        const scale = Math.max(Math.abs(expected[i]), 1);
        expect(Math.abs(out[i] - expected[i]) / scale, `${name}(${EXTREMES[i]})`).toBeLessThan(1e-6);
      }
    }
  });
});
