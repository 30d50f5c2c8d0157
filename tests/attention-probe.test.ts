import { describe, expect, it } from 'vitest';
import { probeKeyTotals, probeQueryRows, probeReference, type ProbeShape } from '../src/engine/kernels/attention-probe';
import type { AttentionInput } from '../src/engine/kernels/attention';
import type { GpuContext } from '../src/engine/gpu/gpu-context';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';
import type { Tensor } from '../src/engine/gpu/tensor';

// Probabilities in f32 against an f64 reference: each is exp2 of a logit's f32 rounding over a sum,
// so the error is that of the logits (a few ulps of values up to ~10) passed through the softmax.
const TOLERANCE = 2e-5;

interface Case extends ProbeShape {
  headDim: number;
  /** q and k read in place from one wider tensor (a self-attention's fused projection). */
  fused?: boolean;
}

function describeCase(c: Case): string {
  return `B${c.batch}[${c.batchIndex}] H${c.heads} D${c.headDim} Lq${c.seqQ} Lk${c.seqK}${c.multipliers ? ` ×[${c.multipliers}]` : ''}${c.fused ? ' fused' : ''}`;
}

/** q and k on the GPU; fused: side by side in one tensor with NaN in the spare columns (a read
 * outside a slice makes the result NaN). */
function inputs(gpu: GpuContext, c: Case, q: Float32Array, k: Float32Array): [AttentionInput, AttentionInput] {
  const width = c.heads * c.headDim;
  if (!c.fused) return [tensorFrom(gpu, [c.batch, c.seqQ, width], q, 'q'), tensorFrom(gpu, [c.batch, c.seqK, width], k, 'k')];
  const stride = 2 * width + 3;
  const packed = new Float32Array(c.batch * c.seqQ * stride).fill(NaN);
  for (let r = 0; r < c.batch * c.seqQ; r++) {
    packed.set(q.subarray(r * width, (r + 1) * width), r * stride + width + 1);
    packed.set(k.subarray(r * width, (r + 1) * width), r * stride);
  }
  const tensor = tensorFrom(gpu, [c.batch, c.seqQ, stride], packed, 'qk');
  return [{ tensor, first: width + 1, count: width }, { tensor, first: 0, count: width }];
}

function randomCase(random: () => number, fused = false): Case {
  const batch = randInt(random, 1, 3);
  const seqQ = randInt(random, 1, 90);
  const multiplierChoices = [undefined, [1, 1], [0, 1], [2, 0.5], [1.7, 3]];
  return {
    batch,
    batchIndex: randInt(random, 0, batch - 1),
    heads: randInt(random, 1, 5),
    headDim: randInt(random, 1, 41),
    seqQ,
    seqK: fused ? seqQ : randInt(random, 1, 80),
    multipliers: multiplierChoices[randInt(random, 0, multiplierChoices.length - 1)],
    fused,
  };
}

async function setUp(c: Case, random: () => number) {
  const gpu = await testGpu();
  const width = c.heads * c.headDim;
  const q = randn(c.batch * c.seqQ * width, random, 1.5);
  const k = randn(c.batch * c.seqK * width, random, 1.5);
  const site = 2;
  const table = new Float32Array(4 * (site + 2)).fill(9); // other sites' values must not leak in
  if (c.multipliers) table.set([...c.multipliers, 1, 1], 4 * site);
  const multipliers = c.multipliers ? { buffer: gpu.upload('site-table', table), site } : undefined;
  const [qIn, kIn] = inputs(gpu, c, q, k);
  return { gpu, qIn, kIn, multipliers, mean: probeReference.meanProbabilities(q, k, c) };
}

describe('the attention probe matches the head-averaged softmax on random shapes', () => {
  const random = rng(16);
  const cases: Case[] = Array.from({ length: 8 }, (_, i) => randomCase(random, i % 3 === 2));
  // Cross-attention to 77 tokens at an odd 5×7 level; SD's head dims; one key; one query.
  cases.push({ batch: 2, batchIndex: 1, heads: 8, headDim: 40, seqQ: 35, seqK: 77 });
  cases.push({ batch: 2, batchIndex: 0, heads: 2, headDim: 80, seqQ: 63, seqK: 63, fused: true, multipliers: [2, 1] });
  cases.push({ batch: 1, batchIndex: 0, heads: 3, headDim: 7, seqQ: 9, seqK: 1 });
  cases.push({ batch: 3, batchIndex: 2, heads: 1, headDim: 5, seqQ: 1, seqK: 13 });

  for (const c of cases) {
    it(`key totals: ${describeCase(c)}`, async () => {
      const { gpu, qIn, kIn, multipliers, mean } = await setUp(c, random);
      const out = await runOnce(gpu, (rec) => probeKeyTotals(rec, qIn, kIn, { heads: c.heads, batchIndex: c.batchIndex, multipliers }));
      const expected = probeReference.keyTotals(mean, c);
      expect(relError(out, expected)).toBeLessThan(TOLERANCE);
      expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(c.seqQ, 2);
    });

    it(`probed query rows and the keys-major map: ${describeCase(c)}`, async () => {
      const { gpu, qIn, kIn, multipliers, mean } = await setUp(c, random);
      // Repeated and out-of-order queries, the last query, and one past it (read as the last).
      const picked = [c.seqQ - 1, randInt(random, 0, c.seqQ - 1), 0, randInt(random, 0, c.seqQ - 1), c.seqQ - 1];
      const listed = [...picked.slice(0, 4), c.seqQ];
      const queries = { buffer: gpu.upload('queries', new Uint32Array(listed)), count: listed.length };
      const rows = await runOnce(gpu, (rec) =>
        probeQueryRows(rec, qIn, kIn, { heads: c.heads, batchIndex: c.batchIndex, multipliers, queries, layout: 'rows', out: rec.alloc([listed.length, c.seqK], 'rows') }),
      );
      expect(relError(rows, probeReference.queryRows(mean, c, picked))).toBeLessThan(TOLERANCE);
      const keysMajor = await runOnce(gpu, (rec) =>
        probeQueryRows(rec, qIn, kIn, { heads: c.heads, batchIndex: c.batchIndex, multipliers, layout: 'keys-major', out: rec.alloc([c.seqK, c.seqQ], 'map') }),
      );
      expect(relError(keysMajor, probeReference.keysMajor(mean, c))).toBeLessThan(TOLERANCE);
    });
  }
});

describe('the attention probe accumulates over steps with a weight read at run time', () => {
  it('two runs of one plan add weight × rows into the same buffer', async () => {
    const c: Case = { batch: 2, batchIndex: 1, heads: 2, headDim: 12, seqQ: 15, seqK: 7 };
    const { gpu, qIn, kIn, mean } = await setUp(c, rng(3));
    const weight = gpu.upload('step-weight', new Float32Array([0.25]));
    const out: Tensor = tensorFrom(gpu, [c.seqK, c.seqQ], new Float32Array(c.seqK * c.seqQ).fill(1), 'accumulated');
    const { Recorder } = await import('../src/engine/gpu/recorder');
    const rec = new Recorder(gpu, 'accumulate');
    probeQueryRows(rec, qIn, kIn, { heads: c.heads, batchIndex: c.batchIndex, layout: 'keys-major', out, stepWeight: weight });
    const plan = rec.finish();
    plan.run();
    gpu.write(weight, new Float32Array([0.5]));
    plan.run();
    const result = await gpu.readF32(out.buffer, c.seqK * c.seqQ);
    plan.destroy();
    const expected = probeReference.keysMajor(mean, c).map((p) => 1 + 0.75 * p);
    expect(relError(result, expected)).toBeLessThan(TOLERANCE);
  });

  it('refuses a batch item the tensors do not have, naming it', async () => {
    const gpu = await testGpu();
    const q = tensorFrom(gpu, [1, 4, 8], new Float32Array(32), 'q');
    await expect(runOnce(gpu, (rec) => probeKeyTotals(rec, q, q, { heads: 2, batchIndex: 1 }))).rejects.toThrow(/batch item 1 of 1/);
  });
});
