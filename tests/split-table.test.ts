// Tables larger than one binding (CLIP's 49408×768 token embedding is 152 MB in f32, over the
// default 128 MiB binding) are split by rows across buffers at upload, and the embedding lookup
// reads them block by block. Here with a small forced buffer limit (maxBufferBytes), against the
// CPU reference, in f32 and f16 (odd widths too: blocks must start on whole f16 pairs).
import { describe, expect, it } from 'vitest';
import { numel } from '../src/engine/gpu/tensor';
import { embedding, reference } from '../src/engine/kernels/embedding';
import { linear } from '../src/engine/kernels/linear';
import { bytesSource } from '../src/engine/weights/byte-source';
import { f32BitsToF16, loadWeights, planWeightBuffers } from '../src/engine/weights/gpu-weights';
import { decodeF16, encodeSafetensors } from '../src/engine/weights/safetensors';
import { nodeGpu } from '../src/engine/gpu/node-gpu';
import { randInt, randn, relError, rng, runOnce, testGpu } from './support/gpu';

const desktop = { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20, minStorageBufferOffsetAlignment: 256 };

/** `values` as F16 bytes, and the values those halves hold. */
function asHalves(values: Float32Array): { bytes: Uint8Array; rounded: Float32Array } {
  const halves = Uint16Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length), (b) => f32BitsToF16(b));
  return { bytes: new Uint8Array(halves.buffer), rounded: decodeF16(halves) };
}

describe('GpuContext', () => {
  it("asks for the adapter's own buffer limits, not WebGPU's defaults (128 MiB per binding, 256 MiB per buffer)", async () => {
    const gpu = await testGpu();
    const adapter = (await (await nodeGpu()).requestAdapter({ powerPreference: 'high-performance' }))!;
    for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const) expect(gpu.limits[name]).toBe(adapter.limits[name]);
  });
});

describe('planWeightBuffers splits a table larger than one buffer by rows', () => {
  it("CLIP ViT-H's token table in f32 under a 128 MiB binding: two row blocks in buffers of their own", () => {
    const tensors = [
      { name: 'a.bias', shape: [1024] },
      { name: 'embeddings.token_embedding.weight', shape: [49408, 1024] },
      { name: 'b.weight', shape: [1024, 1024], dtype: 'F16' },
    ];
    const plan = planWeightBuffers(tensors, desktop);
    const table = plan.slots[1];
    expect(table.blocks).toEqual([
      { bufferIndex: 1, byteOffset: 0, rows: 32768 },
      { bufferIndex: 2, byteOffset: 0, rows: 16640 },
    ]);
    expect(plan.bufferSizes).toEqual([4096, 32768 * 4096, 16640 * 4096, 1024 * 1024 * 2]);
    expect(plan.slots[2]).toEqual({ bufferIndex: 3, byteOffset: 0, dtype: 'f16' });
    // The same table in f16 fits one buffer; under a 64 MiB binding it takes two.
    expect(planWeightBuffers([{ ...tensors[1], dtype: 'F16' }], desktop).slots[0].blocks).toBeUndefined();
    expect(planWeightBuffers([{ ...tensors[1], dtype: 'F16' }], { ...desktop, maxStorageBufferBindingSize: 64 * 2 ** 20 }).slots[0].blocks?.map((b) => b.rows)).toEqual([32768, 16640]);
  });

  it('f16 blocks of an odd width hold an even number of rows, so each starts on a whole u32 word', () => {
    const plan = planWeightBuffers([{ name: 't', shape: [100, 7], dtype: 'F16' }], desktop, { maxBufferBytes: 16 * 11 });
    const rows = plan.slots[0].blocks!.map((b) => b.rows);
    expect(rows.slice(0, -1).every((r) => r % 2 === 0)).toBe(true);
    expect(rows.reduce((a, b) => a + b, 0)).toBe(100);
  });

  it('a vector, or a row, larger than a buffer is refused by name', () => {
    expect(() => planWeightBuffers([{ name: 'v', shape: [1000] }], desktop, { maxBufferBytes: 2048, file: 'm.safetensors' })).toThrow(
      'm.safetensors: tensor "v" [1000] takes 4000 bytes as f32, more than the largest weight buffer this GPU allows (2048 bytes), and it has no rows to split it by',
    );
    expect(() => planWeightBuffers([{ name: 'w', shape: [2, 1000] }], desktop, { maxBufferBytes: 2048 })).toThrow('one of its rows alone is larger');
  });
});

describe('the embedding lookup reads a table split across buffers', () => {
  const random = rng(5);
  for (const [dtype, channels] of [['F32', 6], ['F16', 7], ['F16', 8]] as const) {
    it(`${dtype} [301, ${channels}] with positions, in blocks of under 1 KiB, equals the CPU reference`, async () => {
      const gpu = await testGpu();
      const vocab = 301;
      const length = 9;
      const values = randn(vocab * channels, random);
      const positions = randn(length * channels, random);
      const half = asHalves(values);
      const table = dtype === 'F16' ? half.rounded : values;
      const file = encodeSafetensors([
        { name: 'embeddings.position_embedding.weight', shape: [length, channels], data: positions },
        { name: 'embeddings.token_embedding.weight', dtype, shape: [vocab, channels], data: dtype === 'F16' ? half.bytes : values },
        { name: 'final.weight', shape: [channels, channels], data: randn(channels * channels, random) },
      ]);
      const store = await loadWeights(gpu, bytesSource('clip.safetensors', file), { maxBufferBytes: 1024 });
      const tokens = store.get('embeddings.token_embedding.weight');
      expect(tokens.parts!.length).toBeGreaterThan(4);
      for (const b of store.buffers) expect(b.size).toBeLessThanOrEqual(1024);
      // Every block holds its rows, bit for bit.
      let row = 0;
      for (const part of tokens.parts!) {
        const count = numel(part.shape);
        const bytes = await gpu.readBytes(part.buffer, dtype === 'F16' ? Math.ceil(count / 2) * 4 : count * 4, part.byteOffset);
        const read = dtype === 'F16' ? decodeF16(new Uint16Array(bytes, 0, count)) : new Float32Array(bytes);
        expect(read).toEqual(table.subarray(row * channels, row * channels + count));
        row += part.shape[0];
      }
      // Ids in every block, the first and last rows included, and out-of-range ids clamped to the last row.
      const ids = Int32Array.from({ length: 2 * length }, (_, i) => (i === 0 ? 0 : i === 1 ? vocab - 1 : randInt(random, 0, vocab - 1)));
      const idBuffer = gpu.upload('ids', ids);
      const out = await runOnce(gpu, (rec) => embedding(rec, idBuffer, ids.length, tokens, { positions: store.get('embeddings.position_embedding.weight'), length }));
      expect(relError(out, reference.embedding(ids, table, channels, positions, length))).toBe(0);
      const past = gpu.upload('ids-past', Int32Array.from([vocab + 5, 3]));
      const clamped = await runOnce(gpu, (rec) => embedding(rec, past, 2, tokens));
      expect(relError(clamped, reference.embedding([vocab - 1, 3], table, channels))).toBe(0);
      // Any other kernel refuses a split table by name instead of reading past a binding.
      await expect(runOnce(gpu, (rec) => linear(rec, rec.alloc([1, channels], 'x'), tokens, undefined))).rejects.toThrow(/token_embedding\.weight \[301, \d\] is split across \d+ buffers/);
      store.destroy();
    });
  }
});
