import { describe, expect, it } from 'vitest';
import { embedding, reference } from '../src/engine/kernels/embedding';
import type { Tensor } from '../src/engine/gpu/tensor';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

/** IEEE half bits of `value`, round to nearest even (normal range only: test data stays there). */
function halfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign; // flush tiny values to zero
  let mantissa = bits & 0x7fffff;
  let half = sign | (exponent << 10) | (mantissa >>> 13);
  mantissa &= 0x1fff;
  if (mantissa > 0x1000 || (mantissa === 0x1000 && (half & 1))) half++;
  return half;
}

function halfValue(h: number): number {
  const exponent = (h >>> 10) & 0x1f;
  const value = exponent === 0 ? (h & 0x3ff) * 2 ** -24 : (1 + (h & 0x3ff) / 1024) * 2 ** (exponent - 15);
  return h & 0x8000 ? -value : value;
}

/** Packs values as f16 pairs in u32 words, the engine's f16 weight layout; returns the rounded values too. */
function packF16(values: Float32Array): { words: Uint32Array; rounded: Float32Array } {
  const words = new Uint32Array(Math.ceil(values.length / 2));
  const rounded = new Float32Array(values.length);
  values.forEach((v, i) => {
    const h = halfBits(v);
    rounded[i] = halfValue(h);
    words[i >> 1] |= h << (16 * (i & 1));
  });
  return { words, rounded };
}

describe('embedding gathers rows by token id, like torch.nn.Embedding', () => {
  const random = rng(11);

  for (let trial = 0; trial < 3; trial++) {
    const vocab = randInt(random, 2, 300);
    const channels = randInt(random, 1, 40);
    const batch = randInt(random, 1, 3);
    const length = randInt(random, 1, 20);
    const ids = Int32Array.from({ length: batch * length }, () => randInt(random, 0, vocab - 1));
    const table = randn(vocab * channels, random);
    const positions = randn((length + 3) * channels, random);

    it(`gather ${ids.length} ids from [${vocab}, ${channels}]`, async () => {
      const gpu = await testGpu();
      const idBuffer = gpu.upload('ids', ids);
      const out = await runOnce(gpu, (rec) => embedding(rec, idBuffer, ids.length, tensorFrom(gpu, [vocab, channels], table)));
      expect(relError(out, reference.embedding(ids, table, channels))).toBe(0);
    });

    it(`token + position embeddings for [${batch}, ${length}] over [${vocab}, ${channels}]`, async () => {
      const gpu = await testGpu();
      const idBuffer = gpu.upload('ids', ids);
      const out = await runOnce(gpu, (rec) =>
        embedding(rec, idBuffer, ids.length, tensorFrom(gpu, [vocab, channels], table), {
          positions: tensorFrom(gpu, [length + 3, channels], positions),
          length,
        }),
      );
      expect(relError(out, reference.embedding(ids, table, channels, positions, length))).toBeLessThan(1e-7);
    });
  }

  it('reads f16 tables packed in pairs, odd widths included', async () => {
    const gpu = await testGpu();
    const [vocab, channels, length] = [17, 7, 5];
    const ids = Int32Array.from({ length: 2 * length }, () => randInt(random, 0, vocab - 1));
    const table = packF16(randn(vocab * channels, random));
    const positions = packF16(randn(length * channels, random));
    const f16 = (data: Uint32Array, shape: number[], label: string): Tensor => ({ buffer: gpu.upload(label, data), shape, dtype: 'f16', byteOffset: 0, label });
    const idBuffer = gpu.upload('ids', ids);
    const out = await runOnce(gpu, (rec) =>
      embedding(rec, idBuffer, ids.length, f16(table.words, [vocab, channels], 'tokens'), { positions: f16(positions.words, [length, channels], 'positions'), length }),
    );
    expect(relError(out, reference.embedding(ids, table.rounded, channels, positions.rounded, length))).toBeLessThan(1e-7);
  });

  it('an id past the table reads the last row instead of out of bounds', async () => {
    const gpu = await testGpu();
    const table = randn(4 * 3, random);
    const idBuffer = gpu.upload('ids', Int32Array.from([0, 99, -1]));
    const out = await runOnce(gpu, (rec) => embedding(rec, idBuffer, 3, tensorFrom(gpu, [4, 3], table)));
    expect(relError(out, reference.embedding([0, 3, 3], table, 3))).toBe(0);
  });

  it('refuses more tokens per sequence than there are positions', async () => {
    const gpu = await testGpu();
    const { Recorder } = await import('../src/engine/gpu/recorder');
    const rec = new Recorder(gpu, 'refuse');
    const idBuffer = gpu.upload('ids', new Int32Array(6));
    expect(() => embedding(rec, idBuffer, 6, tensorFrom(gpu, [4, 3], randn(12, random)), { positions: tensorFrom(gpu, [2, 3], randn(6, random)), length: 3 })).toThrow(
      /only 2 positions/,
    );
  });
});
