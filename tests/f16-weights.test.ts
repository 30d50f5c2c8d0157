// f16 weight storage: a checkpoint's F16 matrices reach the GPU bit for bit and the kernels read
// them as the values they are; F32 matrices stored as f16 are rounded to nearest, ties to even.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../src/engine/gpu/gpu-context';
import { numel, tensorBytes, type Tensor } from '../src/engine/gpu/tensor';
import { conv2d, reference as convReference } from '../src/engine/kernels/conv2d';
import { linear, reference as linearReference } from '../src/engine/kernels/linear';
import { bytesSource } from '../src/engine/weights/byte-source';
import { f32BitsToF16, loadWeights, type GpuWeightStore } from '../src/engine/weights/gpu-weights';
import { decodeF32, encodeSafetensors, type TensorToWrite } from '../src/engine/weights/safetensors';
import { randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

/** Random finite halves with magnitudes in [2^-6, 4), plus a few zeros and subnormals. */
function randomHalves(count: number, random: () => number): Uint16Array {
  return Uint16Array.from({ length: count }, () => {
    const sign = random() < 0.5 ? 0x8000 : 0;
    const draw = random();
    if (draw < 0.03) return sign; // ±0
    if (draw < 0.06) return sign | Math.floor(random() * 0x3ff + 1); // subnormal
    return sign | ((9 + Math.floor(random() * 8)) << 10) | Math.floor(random() * 1024);
  });
}

function halfTensor(name: string, shape: number[], halves: Uint16Array): TensorToWrite {
  return { name, dtype: 'F16', shape, data: new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength) };
}

/** The halves a tensor's GPU slot holds, including the zero half that pads an odd count. */
async function readHalves(gpu: GpuContext, t: Tensor): Promise<Uint16Array> {
  return new Uint16Array(await gpu.readBytes(t.buffer, tensorBytes(t), t.byteOffset));
}

/** f16 bit patterns as f32 values, through the same exact decoding the f32 path uses. */
function halvesToF32(halves: Uint16Array): Float32Array {
  const bytes = new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength);
  return decodeF32(bytes, { name: 'halves', dtype: 'F16', shape: [halves.length], begin: 0, end: bytes.byteLength }, 'test');
}

describe('a checkpoint of F16 matrices runs from f16 weights as from the same values in f32', () => {
  const random = rng(16);
  // Odd counts everywhere, so that the last word of each f16 tensor is half padding, and a 1-D F16
  // tensor of 5 halves first, so the next tensor's bytes start at file offset 10 (not 4-aligned).
  const halves = {
    'fc.bias': randomHalves(5, random),
    'fc.weight': randomHalves(5 * 37, random),
    'conv.weight': randomHalves(7 * 3 * 3 * 3, random),
    'conv.bias': randomHalves(7, random),
    'conv1x1.weight': randomHalves(7 * 7, random),
  };
  const shapes: Record<keyof typeof halves, number[]> = {
    'fc.bias': [5],
    'fc.weight': [5, 37],
    'conv.weight': [7, 3, 3, 3],
    'conv.bias': [7],
    'conv1x1.weight': [7, 7, 1, 1],
  };
  // NaN with a payload, ±Inf, ±0, the largest half and subnormals: a copy keeps every bit.
  const special = new Uint16Array([0x7e01, 0xfd55, 0x7c00, 0xfc00, 0x0000, 0x8000, 0x7bff, 0x0001, 0x83ff]);
  const file = encodeSafetensors([
    ...Object.entries(halves).map(([name, h]) => halfTensor(name, shapes[name as keyof typeof halves], h)),
    halfTensor('special.weight', [3, 3], special),
  ]);

  async function load(storage: 'auto' | 'f32'): Promise<GpuWeightStore> {
    return loadWeights(await testGpu(), bytesSource('half.safetensors', file), { storage });
  }

  it("'auto' keeps F16 matrices as f16 bit for bit and widens F16 biases to f32", async () => {
    const gpu = await testGpu();
    const store = await load('auto');
    const f32Store = await load('f32');
    for (const [name, h] of [...Object.entries(halves), ['special.weight', special] as const]) {
      const t = store.get(name);
      if (t.shape.length >= 2) {
        expect(t.dtype, name).toBe('f16');
        const stored = await readHalves(gpu, t);
        expect(Array.from(stored.subarray(0, h.length)), name).toEqual(Array.from(h));
        expect(stored.length, name).toBe(h.length + (h.length % 2));
        if (h.length % 2) expect(stored[h.length], `${name} padding`).toBe(0);
      } else {
        expect(t.dtype, name).toBe('f32');
        const stored = new Float32Array(await gpu.readBytes(t.buffer, tensorBytes(t), t.byteOffset));
        expect(new Uint32Array(stored.buffer), name).toEqual(new Uint32Array(halvesToF32(h).buffer));
      }
    }
    // The store counts the bytes its buffers really take: each ends with its last tensor.
    for (const s of [store, f32Store]) {
      const ends = s.buffers.map((b) => Math.max(...s.names().map((n) => s.get(n)).filter((t) => t.buffer === b).map((t) => t.byteOffset + tensorBytes(t))));
      expect(s.buffers.map((b) => b.size)).toEqual(ends);
      expect(s.byteSize).toBe(ends.reduce((a, b) => a + b, 0));
    }
    expect(store.byteSize).toBeLessThan(f32Store.byteSize);
    store.destroy();
    f32Store.destroy();
  });

  it('linear with f16 weights matches linear with the same weights in f32', async () => {
    const gpu = await testGpu();
    const [store, f32Store] = [await load('auto'), await load('f32')];
    const x = randn(2 * 9 * 37, random);
    const run = (s: GpuWeightStore) => runOnce(gpu, (rec) => linear(rec, tensorFrom(gpu, [2, 9, 37], x, 'x'), s.get('fc.weight'), s.get('fc.bias')));
    expect(store.get('fc.weight').dtype).toBe('f16');
    const [fromF16, fromF32] = [await run(store), await run(f32Store)];
    const expected = linearReference.linear(x, halvesToF32(halves['fc.weight']), halvesToF32(halves['fc.bias']), 37, 5);
    expect(relError(fromF16, fromF32)).toBeLessThan(1e-6);
    expect(relError(fromF16, expected)).toBeLessThan(1e-6);
    store.destroy();
    f32Store.destroy();
  });

  it('conv2d 3x3 (stride 1 and 2) and 1x1 with f16 weights match conv2d with the same weights in f32', async () => {
    const gpu = await testGpu();
    const [store, f32Store] = [await load('auto'), await load('f32')];
    const xShape = [2, 3, 9, 7];
    const x = randn(numel(xShape), random);
    for (const stride of [1, 2] as const) {
      const run = (s: GpuWeightStore) =>
        runOnce(gpu, (rec) => conv2d(rec, tensorFrom(gpu, xShape, x, 'x'), { weight: s.get('conv.weight'), bias: s.get('conv.bias') }, { stride }));
      const [fromF16, fromF32] = [await run(store), await run(f32Store)];
      const expected = convReference.conv2d(x, xShape, halvesToF32(halves['conv.weight']), shapes['conv.weight'], halvesToF32(halves['conv.bias']), { stride });
      expect(relError(fromF16, fromF32), `stride ${stride}`).toBeLessThan(1e-6);
      expect(relError(fromF16, expected.data), `stride ${stride}`).toBeLessThan(1e-5);
    }
    const hShape = [1, 7, 5, 4];
    const h = randn(numel(hShape), random);
    const run1x1 = (s: GpuWeightStore) => runOnce(gpu, (rec) => conv2d(rec, tensorFrom(gpu, hShape, h, 'h'), { weight: s.get('conv1x1.weight') }));
    expect(relError(await run1x1(store), await run1x1(f32Store))).toBeLessThan(1e-6);
    store.destroy();
    f32Store.destroy();
  });
});

/** Independent of f32BitsToF16's bit manipulation: the nearest multiple of the half ulp at x's
 * binade (ties to the even multiple), Infinity from 65520 up. */
function roundToHalfReference(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const magnitude = Math.abs(x);
  if (magnitude >= 65520) return Math.sign(x) * Infinity;
  let exponent = Math.floor(Math.log2(magnitude));
  while (2 ** exponent > magnitude) exponent--;
  while (2 ** (exponent + 1) <= magnitude) exponent++;
  const ulp = 2 ** (Math.max(exponent, -14) - 10);
  const units = magnitude / ulp; // exact: x is an f32 and ulp a power of two
  let rounded = Math.floor(units);
  const fraction = units - rounded;
  if (fraction > 0.5 || (fraction === 0.5 && rounded % 2 === 1)) rounded++;
  return x < 0 ? -rounded * ulp : rounded * ulp;
}

/** Values where rounding is decided: ties both ways, the overflow edge, the subnormal edges. */
const EDGE_VALUES = [
  0, -0, 1, -1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -23, 1 - 2 ** -12, 2 ** -24 + 2 ** -23 - 2 ** -30,
  65504, 65519.99, 65520, -65520, 3.4e38, 2 ** -14, 2 ** -14 - 2 ** -25, 2 ** -24, 2 ** -25, 2 ** -25 + 2 ** -40, 1.5 * 2 ** -24, 2.5 * 2 ** -24,
  2 ** -26, 1e-45, -1e-45, Infinity, -Infinity, NaN, 0.1, -0.3333333, Math.PI, 1024.5, 2049, 2051, 4097, 4098, 4099,
];

describe("'f16' storage rounds F32 matrices to nearest, ties to even", () => {
  it('f32BitsToF16 matches the reference on edge cases and 200,000 random f32 bit patterns', () => {
    const random = rng(32);
    const values = new Float32Array(EDGE_VALUES.length + 200_000);
    values.set(EDGE_VALUES);
    const bits = new Uint32Array(values.buffer);
    // Every exponent from below the subnormal range to above the overflow edge, random mantissas.
    for (let i = EDGE_VALUES.length; i < values.length; i++) {
      const exponent = 127 - 28 + Math.floor(random() * 46);
      bits[i] = ((random() < 0.5 ? 0x80000000 : 0) | (exponent << 23) | Math.floor(random() * 0x800000)) >>> 0;
    }
    const got = halvesToF32(Uint16Array.from(bits, (b) => f32BitsToF16(b)));
    const expected = Float32Array.from(values, roundToHalfReference);
    const gotBits = new Uint32Array(got.buffer);
    const expectedBits = new Uint32Array(expected.buffer);
    const mismatches = [...values.keys()].filter((i) => (Number.isNaN(expected[i]) ? !Number.isNaN(got[i]) : gotBits[i] !== expectedBits[i]));
    expect(mismatches.slice(0, 5).map((i) => `${values[i]} -> ${got[i]}, want ${expected[i]}`)).toEqual([]);
  });

  it('every f16 value survives a round trip through f32; signaling NaNs come back quiet, payload kept', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, h) => h);
    const asF32 = new Uint32Array(halvesToF32(all).buffer);
    const back = Uint16Array.from(asF32, (b) => f32BitsToF16(b));
    const isNaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    expect(back).toEqual(all.map((h) => (isNaN(h) ? h | 0x200 : h)));
  });

  it("F32 and BF16 matrices uploaded with storage 'f16' hold the rounded halves; 1-D tensors stay exact f32", async () => {
    const gpu = await testGpu();
    const random = rng(64);
    const matrix = new Float32Array(EDGE_VALUES.length + 2 * 61 - (EDGE_VALUES.length % 2));
    matrix.set(EDGE_VALUES);
    matrix.set(randn(matrix.length - EDGE_VALUES.length, random, 3), EDGE_VALUES.length);
    const bf16 = Uint16Array.from({ length: 3 * 5 }, () => Math.floor(random() * 0x10000) & 0xbfff); // |x| < 2: finite
    const bias = randn(7, random);
    const file = encodeSafetensors([
      { name: 'bias', shape: [7], data: bias },
      { name: 'matrix', shape: [2, matrix.length / 2], data: matrix },
      { name: 'brain', dtype: 'BF16', shape: [3, 1, 5], data: new Uint8Array(bf16.buffer) },
    ]);
    const store = await loadWeights(gpu, bytesSource('f32.safetensors', file), { storage: 'f16' });
    expect([store.get('bias').dtype, store.get('matrix').dtype, store.get('brain').dtype]).toEqual(['f32', 'f16', 'f16']);
    const storedBias = new Float32Array(await gpu.readBytes(store.get('bias').buffer, 28, store.get('bias').byteOffset));
    expect(new Uint32Array(storedBias.buffer)).toEqual(new Uint32Array(bias.buffer));
    for (const [name, values] of [['matrix', matrix], ['brain', new Float32Array(Uint32Array.from(bf16, (h) => h << 16).buffer)]] as const) {
      const got = halvesToF32((await readHalves(gpu, store.get(name))).subarray(0, values.length));
      const expected = Float32Array.from(values, roundToHalfReference);
      const same = Array.from(got).every((v, i) => Object.is(v, expected[i]) || (Number.isNaN(v) && Number.isNaN(expected[i])));
      expect(same, name).toBe(true);
    }
    store.destroy();
  });
});
