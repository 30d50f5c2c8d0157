import { describe, expect, it } from 'vitest';
import { concatChannels, nchwToTokens, reference, tokensToNchw, upsampleNearest2x } from '../src/engine/kernels/layout';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

// Layout kernels only copy values, so they must match exactly.
const EXACT = 0;

describe('layout kernels move every value where PyTorch puts it', () => {
  const random = rng(31);
  for (let trial = 0; trial < 4; trial++) {
    // Sizes around the transpose's 32-wide tile, so that partial tiles occur on both axes.
    const shape = [randInt(random, 1, 2), randInt(random, 1, 40), randInt(random, 1, 19), randInt(random, 1, 19)];
    const [n, c, h, w] = shape;
    const x = randn(n * c * h * w, random);

    it(`upsampleNearest2x [${shape}]`, async () => {
      const gpu = await testGpu();
      const out = await runOnce(gpu, (rec) => upsampleNearest2x(rec, tensorFrom(gpu, shape, x)));
      expect(relError(out, reference.upsampleNearest2x(x, shape))).toBe(EXACT);
    });

    it(`concatChannels [${shape}] with [${n}, ${c + trial}, ${h}, ${w}]`, async () => {
      const gpu = await testGpu();
      const bShape = [n, c + trial, h, w];
      const b = randn(n * (c + trial) * h * w, random);
      const out = await runOnce(gpu, (rec) => concatChannels(rec, tensorFrom(gpu, shape, x), tensorFrom(gpu, bShape, b)));
      expect(relError(out, reference.concatChannels(x, shape, b, bShape))).toBe(EXACT);
    });

    it(`nchwToTokens [${shape}] and back`, async () => {
      const gpu = await testGpu();
      const tokens = await runOnce(gpu, (rec) => nchwToTokens(rec, tensorFrom(gpu, shape, x)));
      expect(relError(tokens, reference.nchwToTokens(x, shape))).toBe(EXACT);
      const back = await runOnce(gpu, (rec) => tokensToNchw(rec, tensorFrom(gpu, [n, h * w, c], tokens), h, w));
      expect(relError(back, reference.tokensToNchw(tokens, n, c, h, w))).toBe(EXACT);
      expect(relError(back, x)).toBe(EXACT);
    });
  }

  it('transposes a token sequence longer than one tile in both directions', async () => {
    const gpu = await testGpu();
    const [n, c, h, w] = [2, 70, 9, 11]; // 99 tokens x 70 channels: 4 x 3 tiles, the last ones partial
    const tokens = randn(n * h * w * c, random);
    const out = await runOnce(gpu, (rec) => tokensToNchw(rec, tensorFrom(gpu, [n, h * w, c], tokens), h, w));
    expect(relError(out, reference.tokensToNchw(tokens, n, c, h, w))).toBe(EXACT);
  });

  it('rejects inputs whose sizes disagree', async () => {
    const gpu = await testGpu();
    const a = tensorFrom(gpu, [1, 2, 3, 3], randn(18, random));
    const b = tensorFrom(gpu, [1, 2, 3, 4], randn(24, random));
    await expect(runOnce(gpu, (rec) => concatChannels(rec, a, b))).rejects.toThrow(/expected shape/);
    await expect(runOnce(gpu, (rec) => tokensToNchw(rec, tensorFrom(gpu, [1, 9, 2], randn(18, random)), 3, 4))).rejects.toThrow(/expected shape/);
  });
});
