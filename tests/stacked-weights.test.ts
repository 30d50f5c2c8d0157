import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../src/engine/gpu/gpu-context';
import type { Tensor, TensorDType } from '../src/engine/gpu/tensor';
import { rowStackProblem, withRowStacks } from '../src/engine/weights/stacked-weights';
import type { WeightStore } from '../src/engine/weights/weight-store';
import { rng, testGpu } from './support/gpu';

const random = rng(8);

/** A matrix of random words: f32 values, or f16 pairs (any bits: the stack copies bytes). */
function matrix(gpu: GpuContext, label: string, shape: [number, number], dtype: TensorDType, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC): { tensor: Tensor; words: Uint32Array } {
  const words = new Uint32Array(dtype === 'f32' ? shape[0] * shape[1] : Math.ceil((shape[0] * shape[1]) / 2)).map(() => (random() * 2 ** 32) >>> 0);
  const buffer = gpu.createBuffer(label, words.byteLength, usage | GPUBufferUsage.COPY_DST);
  gpu.write(buffer, words);
  return { tensor: { buffer, byteOffset: 0, shape, dtype, label }, words };
}

function store(tensors: Tensor[]): WeightStore {
  const byName = new Map(tensors.map((t) => [t.label, t]));
  return {
    get: (name) => byName.get(name) ?? (() => { throw new Error(`no ${name}`); })(),
    has: (name) => byName.has(name),
    names: () => [...byName.keys()],
    byteSize: 0,
    destroy: () => tensors.forEach((t) => t.buffer.destroy()),
  };
}

describe('stacking the rows of weight matrices', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`copies ${dtype} matrices end to end, bit for bit, as one [N1 + N2 + N3, K] matrix`, async () => {
      const gpu = await testGpu();
      const parts = [matrix(gpu, 'q', [6, 10], dtype), matrix(gpu, 'k', [6, 10], dtype), matrix(gpu, 'v', [4, 10], dtype)];
      const weights = withRowStacks(gpu, store(parts.map((p) => p.tensor)), [{ name: 'qkv', parts: ['q', 'k', 'v'] }]);
      const stacked = weights.get('qkv');
      expect(stacked).toMatchObject({ shape: [16, 10], dtype, byteOffset: 0 });
      const expected = new Uint32Array(parts.flatMap((p) => [...p.words]));
      expect(new Uint32Array(await gpu.readBytes(stacked.buffer))).toEqual(expected);
      expect(weights.get('k')).toBe(parts[1].tensor);
      weights.destroy();
    });
  }

  it('stacks vectors (biases) end to end as one [N1 + N2] vector, and refuses a matrix among them', async () => {
    const gpu = await testGpu();
    const a = matrix(gpu, 'a', [6, 1], 'f16');
    const b = matrix(gpu, 'b', [10, 1], 'f16');
    const vectors = [a, b].map((p) => ({ ...p.tensor, shape: [p.tensor.shape[0]] }));
    const weights = withRowStacks(gpu, store(vectors), [{ name: 'ab', parts: ['a', 'b'] }]);
    expect(weights.get('ab')).toMatchObject({ shape: [16], dtype: 'f16' });
    expect(new Uint32Array(await gpu.readBytes(weights.get('ab').buffer))).toEqual(new Uint32Array([...a.words, ...b.words]));
    expect(rowStackProblem([vectors[0], matrix(gpu, 'm', [2, 4], 'f16').tensor])).toBe('m is not a vector like a');
    weights.destroy();
  });

  it('leaves out what a byte copy cannot stack, and says why', async () => {
    const gpu = await testGpu();
    const f32 = matrix(gpu, 'first', [2, 4], 'f32').tensor;
    const problems = [
      [matrix(gpu, 'odd', [3, 3], 'f16').tensor, matrix(gpu, 'b', [2, 4], 'f16').tensor],
      [f32, matrix(gpu, 'wider', [2, 6], 'f32').tensor],
      [f32, matrix(gpu, 'half', [2, 4], 'f16').tensor],
      [f32, matrix(gpu, 'storage only', [2, 4], 'f32', GPUBufferUsage.STORAGE).tensor],
    ];
    expect(problems.map(rowStackProblem)).toEqual([
      'odd holds an odd number of f16 values',
      'wider is not a matrix of 4 columns',
      'half is f16, not f32 like first',
      "storage only's buffer cannot be copied from",
    ]);
    const weights = withRowStacks(gpu, store([...new Set(problems.flat())]), [{ name: 'odd + b', parts: ['odd', 'b'] }, { name: 'first + wider', parts: ['first', 'wider'] }]);
    expect(weights.has('odd + b') || weights.has('first + wider')).toBe(false);
    weights.destroy();
  });
});
