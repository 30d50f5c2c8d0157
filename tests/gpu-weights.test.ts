import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../src/engine/gpu/gpu-context';
import { numel, tensorBytes, type Tensor } from '../src/engine/gpu/tensor';
import { bytesSource, type ByteSource } from '../src/engine/weights/byte-source';
import { loadWeights, planWeightBuffers, storedDType, uploadTensor, type GpuWeightStore, type WeightStorage } from '../src/engine/weights/gpu-weights';
import { nodeFileSource } from '../src/engine/weights/node-byte-source';
import { encodeSafetensors, nonFiniteTensorWarning, readAllF32 } from '../src/engine/weights/safetensors';
import { testGpu } from './support/gpu';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const fixturesDir = resolve(repoRoot, process.env.FIXTURES_DIR ?? '../shared/fixtures');

/** Every weight of `store`, read back with one copy per buffer. */
async function readBack(gpu: GpuContext, store: GpuWeightStore): Promise<Map<string, Float32Array>> {
  const contents = new Map<GPUBuffer, ArrayBuffer>();
  for (const buffer of store.buffers) contents.set(buffer, await gpu.readBytes(buffer));
  return new Map(store.names().map((name) => {
    const t = store.get(name);
    return [name, new Float32Array(contents.get(t.buffer)!, t.byteOffset, numel(t.shape))];
  }));
}

/** Bit-for-bit equality, so NaN payloads and -0 count too. */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  return x.every((v, i) => v === y[i]);
}

/** Tensors of one buffer must not overlap, and must each start on the binding alignment. */
function expectPacked(store: GpuWeightStore, alignment: number, maxBufferBytes: number): void {
  for (const buffer of store.buffers) {
    expect(buffer.size).toBeLessThanOrEqual(maxBufferBytes);
    const inBuffer = store.names().map((n) => store.get(n)).filter((t) => t.buffer === buffer).sort((a, b) => a.byteOffset - b.byteOffset);
    inBuffer.forEach((t: Tensor, i) => {
      expect(t.byteOffset % alignment).toBe(0);
      expect(t.byteOffset + tensorBytes(t)).toBeLessThanOrEqual(buffer.size);
      if (i > 0) expect(t.byteOffset).toBeGreaterThanOrEqual(inBuffer[i - 1].byteOffset + tensorBytes(inBuffer[i - 1]));
    });
  }
}

/** Counts what a loader reads, to check it reads in moderate chunks. */
function countingSource(source: ByteSource): ByteSource & { reads: number[] } {
  const reads: number[] = [];
  return { name: source.name, size: source.size, reads, read: (offset, length) => (reads.push(length), source.read(offset, length)) };
}

describe('weights upload to the GPU exactly as the file holds them', () => {
  it('CLIP text encoder under its "text_model." prefix, in one buffer', async () => {
    const gpu = await testGpu();
    const source = await nodeFileSource(join(fixturesDir, 'clip-text-tiny/model.safetensors'));
    const expected = await readAllF32(source);
    const store = await loadWeights(gpu, source, { prefix: 'text_model.' });
    expect(store.names().length).toBe(expected.size);
    expect(store.buffers.length).toBe(1);
    const embedding = store.get('embeddings.token_embedding.weight');
    expect(embedding).toMatchObject({ shape: [1000, 32], dtype: 'f32', label: 'embeddings.token_embedding.weight' });
    const got = await readBack(gpu, store);
    for (const [key, { data }] of expected) expect(sameBits(got.get(key.slice('text_model.'.length))!, data), key).toBe(true);
    expectPacked(store, gpu.limits.minStorageBufferOffsetAlignment, 256 * 2 ** 20);
    store.destroy();
  });

  it('the UNet over many small buffers when maxBufferBytes is forced down, read in small chunks', async () => {
    const gpu = await testGpu();
    const source = countingSource(await nodeFileSource(join(fixturesDir, 'unet-sd15-tiny/diffusion_pytorch_model.safetensors')));
    const expected = await readAllF32(source);
    source.reads.length = 0;
    const progress: [number, number][] = [];
    const maxBufferBytes = 512 * 1024;
    const store = await loadWeights(gpu, source, { maxBufferBytes, readChunkBytes: 256 * 1024, onProgress: (loaded, total) => progress.push([loaded, total]) });
    expect(store.names().length).toBe(494);
    expect(store.buffers.length).toBeGreaterThanOrEqual(17); // 8.7 MB of weights in 0.5 MB buffers
    expectPacked(store, gpu.limits.minStorageBufferOffsetAlignment, maxBufferBytes);
    const largest = Math.max(...[...expected.values()].map((t) => t.data.byteLength));
    expect(Math.max(...source.reads.slice(2))).toBeLessThanOrEqual(Math.max(256 * 1024, largest));
    expect(progress[0][0]).toBe(0);
    expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);
    expect(progress.every(([loaded], i) => i === 0 || loaded >= progress[i - 1][0])).toBe(true);
    const got = await readBack(gpu, store);
    for (const [key, { data }] of expected) expect(sameBits(got.get(key)!, data), key).toBe(true);
    store.destroy();
  });

  it('F16 and BF16 tensors arrive as exact f32, infinities and NaN included', async () => {
    const gpu = await testGpu();
    const half = new Uint16Array([0x0000, 0x8000, 0x0001, 0x03ff, 0x3c00, 0x7bff, 0x7c00, 0xfc00, 0x7e00]);
    const bf16 = new Uint16Array([0x3f80, 0xc040, 0x0001, 0x7f80, 0xff80, 0x7fc0]);
    const file = encodeSafetensors([
      { name: 'half', dtype: 'F16', shape: [half.length], data: new Uint8Array(half.buffer) },
      { name: 'brain', dtype: 'BF16', shape: [2, 3], data: new Uint8Array(bf16.buffer) },
    ]);
    const source = bytesSource('mixed.safetensors', file);
    const store = await loadWeights(gpu, source);
    const got = await readBack(gpu, store);
    const expected = await readAllF32(source);
    expect(sameBits(got.get('half')!, expected.get('half')!.data)).toBe(true);
    expect(sameBits(got.get('brain')!, expected.get('brain')!.data)).toBe(true);
    expect(Array.from(got.get('half')!)).toEqual([0, -0, 2 ** -24, 1023 * 2 ** -24, 1, 65504, Infinity, -Infinity, NaN]);
    expect(Array.from(got.get('brain')!)).toEqual([1, -3, 2 ** -133, Infinity, -Infinity, NaN]);
    expect(store.get('brain').shape).toEqual([2, 3]);
    store.destroy();

    // With storage 'f32' an F16 matrix widens exactly too.
    const matrix = bytesSource('matrix.safetensors', encodeSafetensors([{ name: 'half', dtype: 'F16', shape: [3, 3], data: new Uint8Array(half.buffer) }]));
    const widened = await loadWeights(gpu, matrix, { storage: 'f32' });
    expect(widened.get('half').dtype).toBe('f32');
    expect(sameBits((await readBack(gpu, widened)).get('half')!, expected.get('half')!.data)).toBe(true);
    widened.destroy();
  });
});

describe('which tensors are stored as f16', () => {
  // dtype x rank: F16, F32 and BF16 as a bias (1-D), a matrix, a convolution kernel and a scalar.
  const tensors = ['F16', 'F32', 'BF16'].flatMap((dtype) =>
    [[6], [4, 6], [2, 3, 3, 3], []].map((shape) => ({ name: `${dtype.toLowerCase()}.${shape.length}d`, dtype, shape })),
  );
  const file = encodeSafetensors(
    tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape, data: new Uint8Array(numel(shape) * (dtype === 'F32' ? 4 : 2)).fill(0x3c) })),
  );
  const f16Under: Record<WeightStorage, string[]> = {
    auto: ['f16.2d', 'f16.4d'],
    f16: ['f16.2d', 'f16.4d', 'f32.2d', 'f32.4d', 'bf16.2d', 'bf16.4d'],
    f32: [],
  };

  for (const storage of ['auto', 'f16', 'f32'] as const) {
    it(`storage '${storage}': ${f16Under[storage].join(', ') || 'none'} as f16, biases and scalars as f32`, async () => {
      const gpu = await testGpu();
      const store = await loadWeights(gpu, bytesSource('ranks.safetensors', file), { storage });
      const asF16 = store.names().filter((n) => store.get(n).dtype === 'f16');
      expect(asF16.sort()).toEqual([...f16Under[storage]].sort());
      expect(tensors.filter((t) => storedDType(t, storage) === 'f16').map((t) => t.name).sort()).toEqual([...f16Under[storage]].sort());
      expectPacked(store, gpu.limits.minStorageBufferOffsetAlignment, 256 * 2 ** 20);
      store.destroy();
    });
  }

  it("'auto' is the default, and planWeightBuffers reports the dtype of each slot", async () => {
    const gpu = await testGpu();
    const store = await loadWeights(gpu, bytesSource('ranks.safetensors', file));
    expect(store.get('f16.2d').dtype).toBe('f16');
    expect(store.get('f32.2d').dtype).toBe('f32');
    const plan = planWeightBuffers(tensors, gpu.limits);
    expect(plan.slots.map((s) => s.dtype)).toEqual(tensors.map((t) => storedDType(t)));
    expect(store.byteSize).toBe(plan.bufferSizes.reduce((a, b) => a + b, 0));
    store.destroy();
  });
});

describe('what loadWeights keeps and refuses', () => {
  const file = encodeSafetensors([
    { name: 'encoder.a.weight', shape: [4], data: new Float32Array([1, 2, 3, 4]) },
    { name: 'encoder.b.weight', shape: [2, 2], data: new Float32Array([5, 6, 7, 8]) },
    { name: 'decoder.a.weight', shape: [1000], data: new Float32Array(1000) },
    { name: 'decoder.steps', dtype: 'I64', shape: [1], data: new Uint8Array(8) },
  ]);

  it('a prefix and a filter pick weights, and a missing key names the key and the file', async () => {
    const gpu = await testGpu();
    const store = await loadWeights(gpu, bytesSource('vae.safetensors', file), { prefix: 'encoder.', filter: (name) => name !== 'b.weight' });
    expect(store.names()).toEqual(['a.weight']);
    expect(() => store.get('a.bias')).toThrow('vae.safetensors (keys under "encoder."): no weight "a.bias" among its 1 tensors; similar: "a.weight"');
    expect(() => store.get('b.weight')).toThrow(/no weight "b\.weight" among its 1 tensors$/);
    expect(Array.from(new Float32Array(await gpu.readBytes(store.get('a.weight').buffer, 16)))).toEqual([1, 2, 3, 4]);
    store.destroy();
  });

  it('an integer tensor among the kept ones is refused before anything is allocated', async () => {
    const gpu = await testGpu();
    await expect(loadWeights(gpu, bytesSource('vae.safetensors', file), { prefix: 'decoder.' })).rejects.toThrow('vae.safetensors: tensor "decoder.steps" is I64');
  });

  it('a tensor larger than the largest buffer allowed', async () => {
    const gpu = await testGpu();
    await expect(loadWeights(gpu, bytesSource('vae.safetensors', file), { filter: (n) => n.endsWith('weight'), maxBufferBytes: 2048 })).rejects.toThrow(
      'vae.safetensors: tensor "decoder.a.weight" [1000] takes 4000 bytes as f32, more than the largest weight buffer this GPU allows (2048 bytes)',
    );
  });

  it('uploadTensor puts a standalone tensor in its own buffer', async () => {
    const gpu = await testGpu();
    const t = uploadTensor(gpu, 'scale', [2, 2], new Float32Array([1, -2, 3.5, 0]));
    expect(t).toMatchObject({ shape: [2, 2], dtype: 'f32', byteOffset: 0, label: 'scale' });
    expect(Array.from(new Float32Array(await gpu.readBytes(t.buffer)))).toEqual([1, -2, 3.5, 0]);
    expect(() => uploadTensor(gpu, 'bad', [3], new Float32Array(2))).toThrow('uploadTensor bad: shape [3] holds 3 values, data has 2');
    t.buffer.destroy();
  });
});

describe('planning buffers for a full-size checkpoint', () => {
  // Shapes in the proportions of SD 1.5's UNet: 686 tensors, 3.4 GB as f32, the largest a
  // 1280×2560×3×3 convolution (118 MB). Only the plan is made; nothing is allocated.
  const shapes: number[][] = [[1280, 2560, 3, 3], [1280, 1280, 3, 3], [640, 1280, 3, 3], [5120, 1280], [1280, 5120], [1280, 768], [1280, 1280], [640, 640], [320, 320], [1280], [640], [320]];
  const tensors = Array.from({ length: 686 }, (_, i) => ({ name: `unet.${i}`, shape: i < 20 ? shapes[0] : shapes[1 + (i % (shapes.length - 1))] }));
  const total = tensors.reduce((sum, t) => sum + numel(t.shape) * 4, 0);
  const desktop = { maxStorageBufferBindingSize: 2 ** 31 - 4, maxBufferSize: 2 ** 32, minStorageBufferOffsetAlignment: 256 };

  it('a 3.4 GB UNet becomes many buffers, none over 256 MiB or the device limits', () => {
    expect(total).toBeGreaterThan(3.3e9);
    for (const limits of [desktop, { ...desktop, maxStorageBufferBindingSize: 128 * 2 ** 20 }]) {
      const cap = Math.min(256 * 2 ** 20, limits.maxStorageBufferBindingSize);
      const plan = planWeightBuffers(tensors, limits);
      expect(plan.bufferSizes.length).toBeGreaterThanOrEqual(Math.ceil(total / cap));
      expect(Math.max(...plan.bufferSizes)).toBeLessThanOrEqual(cap);
      plan.slots.forEach((slot, i) => {
        expect(slot.byteOffset % 256).toBe(0);
        expect(slot.byteOffset + numel(tensors[i].shape) * 4).toBeLessThanOrEqual(plan.bufferSizes[slot.bufferIndex]);
      });
      // Little is lost to alignment and to buffer ends: the buffers hold the file within 10 %.
      expect(plan.bufferSizes.reduce((a, b) => a + b, 0)).toBeLessThan(total * 1.1);
    }
  });

  it('the same UNet as F16 takes half the bytes under storage "auto" (and "f16" rounds an F32 one to the same)', () => {
    const f16Tensors = tensors.map((t) => ({ ...t, dtype: 'F16' }));
    const sizes = (plan: { bufferSizes: number[] }) => plan.bufferSizes.reduce((a, b) => a + b, 0);
    const asF16 = sizes(planWeightBuffers(f16Tensors, desktop));
    expect(asF16).toBeLessThan(total / 2 * 1.1);
    expect(asF16).toBeGreaterThanOrEqual(total / 2); // biases stay f32
    expect(sizes(planWeightBuffers(tensors, desktop, { storage: 'f16' }))).toBe(asF16);
    expect(sizes(planWeightBuffers(f16Tensors, desktop, { storage: 'f32' }))).toBe(sizes(planWeightBuffers(tensors, desktop)));
  });

  it('a tensor no buffer can hold is refused as a limits error (a table larger than one buffer is split by rows: split-table.test.ts)', () => {
    const wide = [{ name: 'w', shape: [2, 64 * 2 ** 20] }];
    expect(() => planWeightBuffers(wide, { ...desktop, maxStorageBufferBindingSize: 128 * 2 ** 20 }, { file: 'model.safetensors' })).toThrow(
      'model.safetensors: tensor "w" [2, 67108864] takes 512.0 MiB as f32, more than the largest weight buffer this GPU allows (128.0 MiB), and one of its rows alone is larger',
    );
  });
});

describe('non-finite weights are named as they upload', () => {
  it('NaN and Infinity in f32, f16 and bf16 tensors, and f32 values that overflow f16, are counted per tensor', async () => {
    const gpu = await testGpu();
    const f16 = (...halves: number[]) => new Uint8Array(new Uint16Array(halves).buffer);
    const bf16 = (...values: number[]) => new Uint8Array(Uint16Array.from(new Uint32Array(new Float32Array(values).buffer), (bits) => bits >>> 16).buffer);
    const file = encodeSafetensors([
      { name: 'clean.weight', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: 'f32.weight', shape: [2, 2], data: new Float32Array([1, NaN, Infinity, -Infinity]) },
      { name: 'f32.bias', shape: [3], data: new Float32Array([NaN, 0, 0]) },
      { name: 'f16.weight', dtype: 'F16', shape: [1, 3], data: f16(0x3c00, 0x7c00, 0x7e00) }, // 1, +Inf, NaN
      { name: 'bf16.weight', dtype: 'BF16', shape: [1, 2], data: bf16(NaN, 2) },
      { name: 'big.weight', shape: [1, 2], data: new Float32Array([1e6, 1]) },
    ]);
    gpu.takeLoadWarnings();
    const auto = await loadWeights(gpu, bytesSource('broken.safetensors', file));
    expect(Object.fromEntries(auto.nonFinite)).toEqual({ 'f32.weight': 3, 'f32.bias': 1, 'f16.weight': 2, 'bf16.weight': 1 });
    // The model's loader takes them as warnings, worded as npm run check-model words them.
    const warnings = gpu.takeLoadWarnings();
    expect(warnings).toHaveLength(4);
    expect(warnings).toContain(nonFiniteTensorWarning('broken.safetensors', 'f32.weight', 3));
    expect(warnings[0]).toBe('broken.safetensors: tensor "f32.weight" holds 3 non-finite values (NaN or Infinity); images made with it will be broken');
    expect(gpu.takeLoadWarnings()).toEqual([]);
    auto.destroy();
    // Rounded to f16, 1e6 becomes Infinity: the stored weights are what counts.
    const halves = await loadWeights(gpu, bytesSource('broken.safetensors', file), { storage: 'f16' });
    expect(halves.nonFinite.get('big.weight')).toBe(1);
    expect(halves.nonFinite.has('clean.weight')).toBe(false);
    halves.destroy();
  });
});
