// What GPU tests share: one device per test file (dawn.node; SwiftShader where no GPU exists),
// tensors from arrays, seeded random data and a symmetric closeness check.
import { afterAll } from 'vitest';
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { createNodeGpuContext } from '../../src/engine/gpu/node-gpu';
import { Recorder } from '../../src/engine/gpu/recorder';
import type { Tensor } from '../../src/engine/gpu/tensor';

let contextPromise: Promise<GpuContext> | undefined;

export function testGpu(): Promise<GpuContext> {
  if (!contextPromise) {
    contextPromise = createNodeGpuContext({ onError: (e) => { throw e; } });
    afterAll(async () => (await contextPromise)?.destroy());
  }
  return contextPromise;
}

export function tensorFrom(gpu: GpuContext, shape: number[], data: Float32Array, label = 'input'): Tensor {
  return { buffer: gpu.upload(label, data), shape, dtype: 'f32', byteOffset: 0, label };
}

/** Records with `build`, runs the plan once, reads back the tensor it returns. */
export async function runOnce(gpu: GpuContext, build: (rec: Recorder) => Tensor): Promise<Float32Array> {
  const rec = new Recorder(gpu, 'test');
  const out = rec.keep(build(rec));
  const plan = rec.finish();
  plan.run();
  const result = await gpu.readF32(out.buffer, out.shape.reduce((a, b) => a * b, 1), out.byteOffset / 4);
  plan.destroy();
  return result;
}

export { rng } from './random';

export function randn(count: number, random: () => number, scale = 1): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = Math.max(random(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random()) * scale;
  }
  return out;
}

export function randInt(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

/** max|a-b| / max|b|, symmetric in the sense that every element of both sides is compared;
 * NaN or Inf anywhere in either makes it Infinity. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
    maxDiff = Math.max(maxDiff, Math.abs(a - b));
    maxRef = Math.max(maxRef, Math.abs(b));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}
