import { describe, expect, it } from 'vitest';
import { reference, scale } from '../src/engine/kernels/elementwise';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

describe('elementwise kernels match their CPU reference', () => {
  const random = rng(7);
  for (let trial = 0; trial < 3; trial++) {
    const shape = [randInt(random, 1, 2), randInt(random, 1, 9), randInt(random, 1, 17), randInt(random, 1, 13)];
    const n = shape.reduce((a, b) => a * b, 1);
    const a = randn(n, random, 3);

    it(`scale ${shape}`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => scale(rec, tensorFrom(gpu, shape, a), 0.7));
      expect(relError(out, reference.scale(a, 0.7))).toBeLessThan(1e-6);
    });
  }

  it('a grid beyond 65535 workgroups covers every element', async () => {
    const gpu = await testGpu();
    const n = 65536 * 256 + 1000;
    const a = randn(n, random);
    const out = await runOnce(gpu, (rec) => scale(rec, tensorFrom(gpu, [n], a), 0.7));
    expect(relError(out, reference.scale(a, 0.7))).toBeLessThan(1e-6);
  });
});
