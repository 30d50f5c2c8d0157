import { describe, expect, it } from 'vitest';
import {
  ATTENTION_TILES,
  attention,
  chooseAttentionKernel,
  reference,
  type AttentionInput,
  type AttentionKernel,
  type AttentionShape,
  type RowKernelShape,
} from '../src/engine/kernels/attention';
import type { GpuContext } from '../src/engine/gpu/gpu-context';
import { Recorder } from '../src/engine/gpu/recorder';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

// Outputs are convex combinations of v (times mv) computed in f32 against an f64 reference: SwiftShader
// stays under 7e-7 of max|out| on these cases.
const TOLERANCE = 2e-6;
// Logits in the hundreds carry f32 rounding of about 300 * 6e-8 = 2e-5 each, and softmax passes a
// logit error on almost unchanged (d p_j / d s_j = p_j (1 - p_j)): the input, not the kernel, sets
// this bound. SwiftShader gives 7e-6.
const LARGE_LOGIT_TOLERANCE = 3e-5;

interface Case extends AttentionShape {
  headDim: number;
  kernel?: AttentionKernel;
  /** Where q, k, v are read from: their own tensors (the default); side by side in one tensor, as a
   * self-attention's fused projection gives them ('qkv', needs Lq = Lk); or q alone and k, v side by
   * side ('kv'), so that q and k differ in stride. */
  layout?: 'separate' | 'qkv' | 'kv';
}

function describeCase(c: Case): string {
  const m = c.multipliers ? ` ×[${c.multipliers}]` : '';
  const columns = c.kernel?.kind === 'tiled' && c.kernel.columns ? ` in chunks of ${c.kernel.columns}` : '';
  const kernel = c.kernel ? ` ${c.kernel.kind === 'tiled' ? `tiles ${c.kernel.tiles.blockQ}x${c.kernel.tiles.blockK}${columns}` : describeRowKernel(c.kernel)}` : '';
  const layout = c.layout && c.layout !== 'separate' ? `, ${c.layout} read in place from one tensor` : '';
  return `B${c.batch} H${c.heads} D${c.headDim} Lq${c.seqQ} Lk${c.seqK}${c.causal ? ' causal' : ''}${m}${kernel}${layout}`;
}

function describeRowKernel(k: RowKernelShape): string {
  const keySplits = k.keySplits ? `, keys in ${k.keySplits} splits` : '';
  return `row-per-thread ${k.threads}x${k.keyChunk}${keySplits}`;
}

/** `parts` ([rows, width] each) side by side in one [batch, rows / batch, parts * width + 3] tensor, in
 * reverse order and with 3 spare columns, so that no slice's offset or stride is a plain layout's.
 * The spare columns hold NaN: a read outside a slice makes the output NaN. */
function sideBySide(gpu: GpuContext, batch: number, width: number, parts: Float32Array[], label: string): AttentionInput[] {
  const rows = parts[0].length / width;
  const stride = parts.length * width + 3;
  const packed = new Float32Array(rows * stride).fill(NaN);
  const first = parts.map((_, i) => (parts.length - 1 - i) * width);
  for (let r = 0; r < rows; r++) {
    parts.forEach((part, i) => packed.set(part.subarray(r * width, (r + 1) * width), r * stride + first[i]));
  }
  const tensor = tensorFrom(gpu, [batch, rows / batch, stride], packed, label);
  return first.map((column) => ({ tensor, first: column, count: width }));
}

function attentionInputs(gpu: GpuContext, c: Case, q: Float32Array, k: Float32Array, v: Float32Array): AttentionInput[] {
  const width = c.heads * c.headDim;
  const own = (data: Float32Array, seq: number, label: string) => tensorFrom(gpu, [c.batch, seq, width], data, label);
  if (c.layout === 'qkv') {
    if (c.seqQ !== c.seqK) throw new Error(`case ${describeCase(c)}: q, k, v side by side need Lq = Lk`);
    return sideBySide(gpu, c.batch, width, [q, k, v], 'qkv');
  }
  if (c.layout === 'kv') return [own(q, c.seqQ, 'q'), ...sideBySide(gpu, c.batch, width, [k, v], 'kv')];
  return [own(q, c.seqQ, 'q'), own(k, c.seqK, 'k'), own(v, c.seqK, 'v')];
}

async function check(c: Case, random: () => number, scale = 1, tolerance = TOLERANCE): Promise<void> {
  const gpu = await testGpu();
  const width = c.heads * c.headDim;
  const q = randn(c.batch * c.seqQ * width, random, scale);
  const k = randn(c.batch * c.seqK * width, random, scale);
  const v = randn(c.batch * c.seqK * width, random);
  const site = 3;
  const multipliers = new Float32Array(4 * (site + 1)).fill(7); // other sites' values must not leak in
  if (c.multipliers) multipliers.set([...c.multipliers, 1], 4 * site);
  const buffer = gpu.upload('multipliers', multipliers);
  const [qIn, kIn, vIn] = attentionInputs(gpu, c, q, k, v);
  const out = await runOnce(gpu, (rec) =>
    attention(rec, qIn, kIn, vIn, {
      heads: c.heads,
      causal: c.causal,
      multipliers: c.multipliers ? { buffer, site } : undefined,
      kernel: c.kernel,
    }),
  );
  expect(relError(out, reference.attention(q, k, v, c))).toBeLessThan(tolerance);
}

describe('attention matches softmax(q·kᵀ/√D)·v on random shapes', () => {
  const random = rng(5);
  const multiplierChoices = [undefined, [1, 1, 1], [0, 1, 1], [10, 1, 1], [1, 10, 0.5], [2, 0.5, 3], [1, 0, 10]];
  const cases: Case[] = [];
  for (let trial = 0; trial < 10; trial++) {
    cases.push({
      batch: randInt(random, 1, 2),
      heads: randInt(random, 1, 8),
      headDim: randInt(random, 1, 40),
      seqQ: randInt(random, 1, 70),
      seqK: randInt(random, 1, 70),
      causal: random() < 0.3,
      multipliers: multiplierChoices[trial % multiplierChoices.length],
    });
  }
  // SD 1.5's larger heads, cross-attention to 77 and 7 text tokens, one key, CLIP's causal self-attention.
  cases.push({ batch: 1, heads: 2, headDim: 80, seqQ: 20, seqK: 77, multipliers: [1.5, 1, 1] });
  cases.push({ batch: 2, heads: 1, headDim: 160, seqQ: 33, seqK: 7 });
  cases.push({ batch: 1, heads: 3, headDim: 8, seqQ: 65, seqK: 1, multipliers: [1, 1, 2] });
  cases.push({ batch: 2, heads: 2, headDim: 16, seqQ: 77, seqK: 77, causal: true });
  // Every kernel and tile configuration, whichever the device would pick.
  ATTENTION_TILES.forEach((tiles, i) =>
    cases.push({ batch: 1, heads: 2, headDim: [96, 8][i], seqQ: 50, seqK: 45, causal: i % 2 === 0, kernel: { kind: 'tiled', tiles } }),
  );
  // The largest tiling the shader takes (4 x 4 scores per thread), though none picks it today.
  const largestTiles = { blockQ: 64, blockK: 32, rowsPerThread: 4, keysPerThread: 4 };
  cases.push({ batch: 2, heads: 1, headDim: 24, seqQ: 70, seqK: 66, causal: true, kernel: { kind: 'tiled', tiles: largestTiles } });
  cases.push({ batch: 2, heads: 3, headDim: 61, seqQ: 70, seqK: 69, causal: true, multipliers: [2, 1, 1], kernel: { kind: 'row-per-thread', threads: 128, keyChunk: 8 } });
  cases.push({ batch: 1, heads: 2, headDim: 5, seqQ: 3, seqK: 40, kernel: { kind: 'row-per-thread', threads: 64, keyChunk: 16 } });
  // Keys split across workgroups and merged by a second pass (flash-decoding): splits that get only
  // masked keys (causal rows), fewer keys than splits of 32, a last split cut short, and q, k, v read
  // in place from one tensor.
  for (const keySplits of [2, 3, 8]) {
    cases.push({ batch: 2, heads: 2, headDim: 64, seqQ: 50, seqK: 200, multipliers: [2, 1, 3], kernel: { kind: 'row-per-thread', threads: 128, keyChunk: 32, keySplits } });
    cases.push({ batch: 1, heads: 3, headDim: 13, seqQ: 90, seqK: 90, causal: true, kernel: { kind: 'row-per-thread', threads: 64, keyChunk: 32, keySplits } });
    cases.push({ batch: 2, heads: 1, headDim: 40, seqQ: 7, seqK: 40, kernel: { kind: 'row-per-thread', threads: 64, keyChunk: 16, keySplits } });
  }
  cases.push({ batch: 2, heads: 2, headDim: 24, seqQ: 40, seqK: 100, causal: true, multipliers: [1, 10, 0.5], kernel: { kind: 'row-per-thread', threads: 128, keyChunk: 8, keySplits: 2 } });
  cases.push({ batch: 2, heads: 2, headDim: 64, seqQ: 70, seqK: 70, multipliers: [2, 1, 3], layout: 'qkv', kernel: { kind: 'row-per-thread', threads: 128, keyChunk: 32, keySplits: 3 } });

  // One head wider than the tiles (SD's VAE mid-block: one head of 512): the output columns in chunks,
  // each recomputing q·k over all D. Whatever chunking the device picks, then chunks forced on small
  // heads, several heads and batches, a short last chunk, and every tiling.
  cases.push({ batch: 1, heads: 1, headDim: 300, seqQ: 17, seqK: 23 });
  cases.push({ batch: 1, heads: 1, headDim: 300, seqQ: 40, seqK: 40, causal: true, multipliers: [0, 1, 1] });
  cases.push({ batch: 1, heads: 1, headDim: 512, seqQ: 33, seqK: 19 });
  cases.push({ batch: 2, heads: 1, headDim: 512, seqQ: 9, seqK: 40, multipliers: [1, 0, 10] });
  cases.push({ batch: 2, heads: 3, headDim: 40, seqQ: 37, seqK: 29, causal: true, multipliers: [2, 1, 3], kernel: { kind: 'tiled', tiles: ATTENTION_TILES[0], columns: 16 } });
  cases.push({ batch: 1, heads: 2, headDim: 300, seqQ: 19, seqK: 26, kernel: { kind: 'tiled', tiles: ATTENTION_TILES[1], columns: 104 } });
  cases.push({ batch: 1, heads: 1, headDim: 70, seqQ: 70, seqK: 50, causal: true, kernel: { kind: 'tiled', tiles: largestTiles, columns: 32 } });

  // q, k, v read in place from the one output of a fused projection (or k, v from one, q from its
  // own), by every kernel: the device's choice, each tiling, one row per thread with and without key
  // splits, and a head wider than the tiles.
  cases.push({ batch: 2, heads: 3, headDim: 20, seqQ: 41, seqK: 41, causal: true, multipliers: [2, 1, 3], layout: 'qkv' });
  cases.push({ batch: 2, heads: 2, headDim: 12, seqQ: 30, seqK: 9, multipliers: [1, 10, 0.5], layout: 'kv' });
  ATTENTION_TILES.forEach((tiles, i) =>
    cases.push({ batch: 2, heads: 2, headDim: [96, 8][i], seqQ: 45, seqK: 45, causal: i % 2 === 1, layout: 'qkv', kernel: { kind: 'tiled', tiles } }),
  );
  cases.push({ batch: 1, heads: 1, headDim: 24, seqQ: 70, seqK: 70, causal: true, layout: 'qkv', kernel: { kind: 'tiled', tiles: largestTiles } });
  cases.push({ batch: 2, heads: 3, headDim: 61, seqQ: 37, seqK: 37, multipliers: [2, 1, 1], layout: 'qkv', kernel: { kind: 'row-per-thread', threads: 128, keyChunk: 8 } });
  cases.push({ batch: 1, heads: 2, headDim: 5, seqQ: 3, seqK: 40, layout: 'kv', kernel: { kind: 'row-per-thread', threads: 64, keyChunk: 16 } });
  cases.push({ batch: 2, heads: 2, headDim: 64, seqQ: 33, seqK: 33, multipliers: [2, 1, 3], layout: 'qkv', kernel: { kind: 'row-per-thread', threads: 128, keyChunk: 32, keySplits: 2 } });
  cases.push({ batch: 1, heads: 3, headDim: 13, seqQ: 20, seqK: 50, causal: true, layout: 'kv', kernel: { kind: 'row-per-thread', threads: 64, keyChunk: 16, keySplits: 2 } });
  cases.push({ batch: 1, heads: 1, headDim: 300, seqQ: 19, seqK: 19, layout: 'qkv' });
  cases.push({ batch: 2, heads: 3, headDim: 40, seqQ: 29, seqK: 29, causal: true, multipliers: [2, 1, 3], layout: 'qkv', kernel: { kind: 'tiled', tiles: ATTENTION_TILES[0], columns: 16 } });
  cases.push({ batch: 1, heads: 2, headDim: 70, seqQ: 26, seqK: 40, layout: 'kv', kernel: { kind: 'tiled', tiles: largestTiles, columns: 32 } });

  for (const c of cases) it(describeCase(c), () => check(c, random));

  it('a q·k multiplier of 0 gives the mean of v, also for large logits', async () => {
    await check({ batch: 1, heads: 2, headDim: 12, seqQ: 9, seqK: 30, multipliers: [0, 1, 1] }, random, 1e3);
    await check({ batch: 1, heads: 2, headDim: 12, seqQ: 30, seqK: 30, causal: true, multipliers: [1, 0, 1] }, random, 1e3);
  });

  it('large logits (|q·k|/√D in the hundreds) stay finite through the running max', () =>
    check({ batch: 1, heads: 1, headDim: 32, seqQ: 40, seqK: 70, multipliers: [10, 1, 1] }, random, 3, LARGE_LOGIT_TOLERANCE));

  // A q·k multiplier of 10 on a wide head: the f32 dot product over 300 or 512 columns rounds each
  // logit by ~1e-6 (x10), and softmax passes that on. Logits summed exactly in f32 in the kernel's
  // order, then an f64 softmax, already differ from this f64 reference by 0.8 to 5e-6 at D 300 / 512
  // on random inputs; SwiftShader stays within 3e-7 of those f32 logits. As above, the input sets the
  // bound; the test below shows the chunking itself adds nothing.
  it('a wide head with a q·k multiplier of 10 (D 300, 512) keeps to the f32 logits', async () => {
    await check({ batch: 1, heads: 1, headDim: 300, seqQ: 5, seqK: 33, multipliers: [1, 10, 0.5] }, random, 1, LARGE_LOGIT_TOLERANCE);
    await check({ batch: 1, heads: 1, headDim: 512, seqQ: 21, seqK: 21, causal: true, multipliers: [10, 1, 1] }, random, 1, LARGE_LOGIT_TOLERANCE);
  });

  it('splitting a head into column chunks changes no bit of the output', async () => {
    const gpu = await testGpu();
    const shape = { batch: 2, seqQ: 30, seqK: 27, heads: 2, headDim: 200 };
    const width = shape.heads * shape.headDim;
    const q = randn(shape.batch * shape.seqQ * width, random);
    const k = randn(shape.batch * shape.seqK * width, random);
    const v = randn(shape.batch * shape.seqK * width, random);
    const buffer = gpu.upload('multipliers', new Float32Array([2, 1, 3, 1]));
    const run = (kernel: AttentionKernel) =>
      runOnce(gpu, (rec) =>
        attention(rec, tensorFrom(gpu, [shape.batch, shape.seqQ, width], q), tensorFrom(gpu, [shape.batch, shape.seqK, width], k), tensorFrom(gpu, [shape.batch, shape.seqK, width], v), {
          heads: shape.heads,
          causal: true,
          multipliers: { buffer, site: 0 },
          kernel,
        }),
      );
    const whole = await run({ kind: 'tiled', tiles: ATTENTION_TILES[1] });
    const chunked = await run({ kind: 'tiled', tiles: ATTENTION_TILES[1], columns: 64 });
    expect(relError(whole, reference.attention(q, k, v, { ...shape, causal: true, multipliers: [2, 1, 3] }))).toBeLessThan(TOLERANCE);
    expect(chunked).toEqual(whole);
  });
});

describe('the attention kernel for a head dim', () => {
  it('keeps whole heads up to 256 in one pass, as before', () => {
    expect(chooseAttentionKernel(40, 32768)).toEqual({ kind: 'row-per-thread', threads: 64, keyChunk: 32 });
    expect(chooseAttentionKernel(80, 32768)).toEqual({ kind: 'row-per-thread', threads: 128, keyChunk: 32 });
    expect(chooseAttentionKernel(160, 32768)).toEqual({ kind: 'tiled', tiles: ATTENTION_TILES[0] });
    expect(chooseAttentionKernel(256, 32768)).toEqual({ kind: 'tiled', tiles: ATTENTION_TILES[1] });
  });

  it("splits SD's VAE head of 512 into the fewest column chunks the workgroup memory holds", () => {
    expect(chooseAttentionKernel(512, 32768)).toEqual({ kind: 'tiled', tiles: ATTENTION_TILES[1], columns: 256 });
    expect(chooseAttentionKernel(512, 16384)).toEqual({ kind: 'tiled', tiles: ATTENTION_TILES[1], columns: 128 });
    expect(chooseAttentionKernel(300, 32768)).toEqual({ kind: 'tiled', tiles: ATTENTION_TILES[0], columns: 152 });
  });

  it('splits the keys across workgroups only where the query rows make too few of them', () => {
    // SD 1.5's 64x64 level: 1024 workgroups of rows already; its 32x32 level, 128.
    expect(chooseAttentionKernel(40, 32768, { batch: 2, heads: 8, seqQ: 4096, seqK: 4096 })).toEqual({ kind: 'row-per-thread', threads: 64, keyChunk: 32 });
    expect(chooseAttentionKernel(80, 32768, { batch: 2, heads: 8, seqQ: 1024, seqK: 1024 })).toEqual({ kind: 'row-per-thread', threads: 128, keyChunk: 32, keySplits: 2 });
    // The default model's 2 heads of 32 x 32 and 3 heads of 16 x 16, batch 2 (CFG): as many splits as
    // 256 workgroups need, at most one per block of 32 keys.
    expect(chooseAttentionKernel(64, 32768, { batch: 2, heads: 2, seqQ: 1024, seqK: 1024 })).toEqual({ kind: 'row-per-thread', threads: 128, keyChunk: 32, keySplits: 8 });
    expect(chooseAttentionKernel(64, 32768, { batch: 2, heads: 3, seqQ: 256, seqK: 256 })).toEqual({ kind: 'row-per-thread', threads: 128, keyChunk: 32, keySplits: 8 });
    // Its cross-attention to 32 text tokens: one block of keys, so 16-row tiles make the workgroups.
    expect(chooseAttentionKernel(64, 32768, { batch: 2, heads: 2, seqQ: 1024, seqK: 32 })).toEqual({ kind: 'tiled', tiles: ATTENTION_TILES[0] });
    // SD 1.5's cross-attention to 77 tokens keeps one row per thread.
    expect(chooseAttentionKernel(40, 32768, { batch: 2, heads: 8, seqQ: 4096, seqK: 77 })).toEqual({ kind: 'row-per-thread', threads: 64, keyChunk: 32 });
  });
});

describe('the attention sliders act on a finished plan', () => {
  it('writing new multipliers between two runs of the same plan gives the new reference', async () => {
    const gpu = await testGpu();
    const random = rng(9);
    const shape: Case = { batch: 2, heads: 2, headDim: 8, seqQ: 24, seqK: 7 };
    const width = shape.heads * shape.headDim;
    const q = randn(shape.batch * shape.seqQ * width, random);
    const k = randn(shape.batch * shape.seqK * width, random);
    const v = randn(shape.batch * shape.seqK * width, random);
    const buffer = gpu.upload('multipliers', new Float32Array([1, 1, 1, 1, 1, 1, 1, 1]));
    const rec = new Recorder(gpu, 'slider');
    const out = rec.keep(
      attention(rec, tensorFrom(gpu, [2, 24, width], q), tensorFrom(gpu, [2, 7, width], k), tensorFrom(gpu, [2, 7, width], v), {
        heads: 2,
        multipliers: { buffer, site: 1 },
      }),
    );
    const plan = rec.finish();
    const results: Float32Array[] = [];
    for (const multipliers of [[1, 1, 1], [3, 1, 1], [1, 0, 2]]) {
      gpu.write(buffer, new Float32Array([...multipliers, 1]), 4 * 4);
      plan.run();
      results.push(await gpu.readF32(out.buffer, q.length));
      expect(relError(results.at(-1)!, reference.attention(q, k, v, { ...shape, multipliers }))).toBeLessThan(TOLERANCE);
    }
    expect(relError(results[1], results[0])).toBeGreaterThan(0.05);
    expect(relError(results[2], results[0])).toBeGreaterThan(0.05);
    plan.destroy();
  });
});
