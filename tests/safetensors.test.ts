import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { blobSource, bytesSource, fetchSource, type ByteSource } from '../src/engine/weights/byte-source';
import { fileListModelFolder, memoryModelFolder, subFolder, urlModelFolder } from '../src/engine/weights/model-folder';
import { nodeFileSource, nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { MAX_HEADER_BYTES, MAX_TENSORS, encodeSafetensors, parseSafetensorsHeader, readAllF32, readTensorF32 } from '../src/engine/weights/safetensors';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const fixturesDir = resolve(repoRoot, process.env.FIXTURES_DIR ?? '../shared/fixtures');

/** A file with a hand-written header, for corrupt cases the encoder would never produce. */
function rawFile(header: unknown, dataBytes: number, name = 'model.safetensors'): ByteSource {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 8);
  return bytesSource(name, out);
}

function u16(...values: number[]): Uint8Array {
  return new Uint8Array(new Uint16Array(values).buffer);
}

/** IEEE 754 binary16 decoded from its definition, independently of the reader's table. */
function f16Reference(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * Math.pow(2, -24);
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * Math.pow(2, exponent - 15);
}

describe('the golden fixtures parse', () => {
  // Tensor counts from Python's json.loads of each header.
  const expectedCounts: Record<string, number> = {
    'clip-text-tiny/io.safetensors': 4,
    'clip-text-tiny/model.safetensors': 52,
    'taesd-tiny/diffusion_pytorch_model.safetensors': 134,
    'taesd-tiny/io.safetensors': 2,
    'unet-sd15-tiny/diffusion_pytorch_model.safetensors': 494,
    'unet-sd15-tiny/io.safetensors': 24,
    // unet-sd15-tiny, clip-text-tiny and vae-kl-tiny in the original LDM layout, and their outputs.
    'unet-sd15-single-file-tiny/model.safetensors': 670,
    'unet-sd15-single-file-tiny/io.safetensors': 24,
    'vae-kl-tiny/diffusion_pytorch_model.safetensors': 124,
    'vae-kl-tiny/io.safetensors': 2,
  };
  const found = readdirSync(fixturesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(fixturesDir, d.name)).filter((f) => f.endsWith('.safetensors')).map((f) => `${d.name}/${f}`))
    .sort();

  it('every fixture file is one we know', () => {
    expect(found).toEqual(Object.keys(expectedCounts).sort());
  });

  for (const file of found) {
    it(`${file}: every tensor reads as f32 with its shape`, async () => {
      const source = await nodeFileSource(join(fixturesDir, file));
      const header = await parseSafetensorsHeader(source);
      expect(header.tensors.length).toBe(expectedCounts[file]);
      const all = await readAllF32(source);
      expect(all.size).toBe(header.tensors.length);
      for (const t of header.tensors) {
        expect(t.dtype).toBe('F32');
        expect(all.get(t.name)!.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
        expect(all.get(t.name)!.shape).toEqual(t.shape);
      }
    });
  }

  it('CLIP weights and inputs hold the values Python reads', async () => {
    const folder = nodeModelFolder(join(fixturesDir, 'clip-text-tiny'));
    const model = await folder.open('model.safetensors');
    const header = await parseSafetensorsHeader(model);
    const embedding = header.byName.get('text_model.embeddings.token_embedding.weight')!;
    expect(embedding.shape).toEqual([1000, 32]);
    const data = await readTensorF32(model, embedding);
    expect([data[0], data[1], data[31999]]).toEqual([-0.013548925518989563, 0.06361866742372513, 0.011628198437392712].map(Math.fround));
    expect(data.reduce((a, b) => a + b, 0)).toBeCloseTo(49.59099141300885, 3);

    const io = await readAllF32(await folder.open('io.safetensors'));
    expect(io.get('input_ids')!.shape).toEqual([2, 77]);
    expect(Array.from(io.get('input_ids')!.data.subarray(77, 85))).toEqual([998, 806, 539, 76, 402, 441, 58, 206]);
    expect(io.get('last_hidden_state')!.shape).toEqual([2, 77, 32]);
  });

  it('UNet weights and golden io hold the values Python reads', async () => {
    const folder = nodeModelFolder(join(fixturesDir, 'unet-sd15-tiny'));
    const unet = await folder.open('diffusion_pytorch_model.safetensors');
    const header = await parseSafetensorsHeader(unet);
    const convIn = await readTensorF32(unet, header.byName.get('conv_in.weight')!);
    expect(header.byName.get('conv_in.weight')!.shape).toEqual([32, 4, 3, 3]);
    expect([convIn[0], convIn[575]]).toEqual([-0.25426599383354187, 0.07423001527786255].map(Math.fround));
    const io = await readAllF32(await folder.open('io.safetensors'));
    expect(Array.from(io.get('timestep')!.data)).toEqual([999, 17]);
    expect(io.get('sample')!.shape).toEqual([2, 4, 16, 16]);
    expect(io.get('encoder_hidden_states')!.shape).toEqual([2, 7, 32]);
    expect((await folder.readJson<{ cross_attention_dim: number }>('config.json')).cross_attention_dim).toBe(32);
  });
});

describe('F16 and BF16 convert to f32 exactly', () => {
  it('every one of the 65536 F16 values, subnormals, infinities and NaN included', async () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const source = bytesSource('half.safetensors', encodeSafetensors([{ name: 'all', dtype: 'F16', shape: [256, 256], data: new Uint8Array(all.buffer) }]));
    const [info] = (await parseSafetensorsHeader(source)).tensors;
    const got = await readTensorF32(source, info);
    for (let h = 0; h < 65536; h++) {
      const want = f16Reference(h);
      if (Number.isNaN(want)) expect(got[h], `0x${h.toString(16)}`).toBeNaN();
      else if (got[h] !== want || Object.is(got[h], -0) !== Object.is(want, -0)) expect(got[h], `0x${h.toString(16)}`).toBe(want);
    }
  });

  it('named F16 values', async () => {
    const bits = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x7bff, 0x7c00, 0xfc00, 0x3555];
    const source = bytesSource('half.safetensors', encodeSafetensors([{ name: 'x', dtype: 'F16', shape: [bits.length], data: u16(...bits) }]));
    const got = Array.from(await readTensorF32(source, (await parseSafetensorsHeader(source)).tensors[0]));
    expect(got).toEqual([0, -0, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 1, -2, 65504, Infinity, -Infinity, 0.333251953125]);
    expect(Object.is(got[1], -0)).toBe(true);
  });

  it('every BF16 value is the top half of the same f32', async () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const source = bytesSource('bf16.safetensors', encodeSafetensors([{ name: 'all', dtype: 'BF16', shape: [65536], data: new Uint8Array(all.buffer) }]));
    const got = new Uint32Array((await readTensorF32(source, (await parseSafetensorsHeader(source)).tensors[0])).buffer);
    for (let h = 0; h < 65536; h++) if (got[h] !== h << 16 >>> 0) expect(got[h].toString(16)).toBe((h << 16 >>> 0).toString(16));
    const named = bytesSource('bf16.safetensors', encodeSafetensors([{ name: 'x', dtype: 'BF16', shape: [6], data: u16(0x3f80, 0xc040, 0x0001, 0x7f80, 0xff80, 0x7fc0) }]));
    const values = Array.from(await readTensorF32(named, (await parseSafetensorsHeader(named)).tensors[0]));
    expect(values).toEqual([1, -3, 2 ** -133, Infinity, -Infinity, NaN]);
  });

  it('tensors at offsets that are not multiples of their element size', async () => {
    const file = encodeSafetensors([
      { name: 'byte', dtype: 'U8', shape: [1], data: new Uint8Array([7]) },
      { name: 'half', dtype: 'F16', shape: [2], data: u16(0x3c00, 0xc000) },
      { name: 'float', dtype: 'F32', shape: [2], data: new Float32Array([1.5, -2.25]) },
    ], { format: 'pt' });
    const source = bytesSource('odd.safetensors', file);
    const header = await parseSafetensorsHeader(source);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(Array.from(await readTensorF32(source, header.byName.get('half')!))).toEqual([1, -2]);
    expect(Array.from(await readTensorF32(source, header.byName.get('float')!))).toEqual([1.5, -2.25]);
    await expect(readTensorF32(source, header.byName.get('byte')!)).rejects.toThrow('odd.safetensors: tensor "byte" is U8; only F32, F16, BF16, F64 can be read as floats');
    await expect(readAllF32(source)).rejects.toThrow('tensor "byte" is U8');
  });

  it('an unknown dtype parses and fails only when read', async () => {
    const source = rawFile({ packed: { dtype: 'F4', shape: [4], data_offsets: [0, 2] } }, 2);
    const header = await parseSafetensorsHeader(source);
    expect(header.tensors[0].dtype).toBe('F4');
    await expect(readTensorF32(source, header.tensors[0])).rejects.toThrow('tensor "packed" is F4');
  });
});

describe('corrupt and truncated files fail with a message naming the file and the tensor', () => {
  const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
  const cases: [string, () => ByteSource, string][] = [
    ['a file shorter than 8 bytes', () => bytesSource('tiny.safetensors', new Uint8Array(5)), 'tiny.safetensors: not a safetensors file (5 bytes'],
    ['a header longer than the file', () => {
      const bytes = new Uint8Array(100);
      new DataView(bytes.buffer).setUint32(0, 200, true);
      return bytesSource('cut.safetensors', bytes);
    }, 'cut.safetensors: not a safetensors file, or truncated: its header claims 200 bytes but only 92 follow'],
    ['a header that is not JSON', () => rawFile('{"x": ', 0), 'model.safetensors: the safetensors header is not valid JSON'],
    ['a header that is a JSON array', () => rawFile([1, 2], 0), 'model.safetensors: the safetensors header is not a JSON object'],
    ['an entry without dtype', () => rawFile({ x: { shape: [1], data_offsets: [0, 4] } }, 4), 'model.safetensors: tensor "x" has no dtype'],
    ['a negative dimension', () => rawFile({ x: entry('F32', [-1, 4], [0, 16]) }, 16), 'model.safetensors: tensor "x" has shape [-1,4]; a shape is a list of non-negative integers'],
    ['a fractional dimension', () => rawFile({ x: entry('F32', [1.5], [0, 4]) }, 4), 'tensor "x" has shape [1.5]'],
    ['missing data_offsets', () => rawFile({ x: { dtype: 'F32', shape: [1] } }, 4), 'model.safetensors: tensor "x" has no data_offsets'],
    ['begin after end', () => rawFile({ x: entry('F32', [0], [8, 4]) }, 8), 'model.safetensors: tensor "x" has data_offsets [8, 4]: begin is after end'],
    ['offsets past the data section', () => rawFile({ x: entry('F32', [4], [0, 16]) }, 12), 'model.safetensors: tensor "x" has data_offsets [0, 16] beyond the data section (12 bytes); the file may be truncated'],
    ['a size that does not match the shape', () => rawFile({ x: entry('F32', [4, 4], [0, 60]) }, 64), 'model.safetensors: tensor "x" needs 64 bytes (shape [4, 4], F32) but its offsets span 60'],
    ['overlapping tensors', () => rawFile({ a: entry('F32', [4], [0, 16]), b: entry('F16', [4], [12, 20]) }, 20), 'model.safetensors: tensors "a" and "b" overlap (data offsets [0, 16] and [12, 20])'],
    ['metadata that is not strings', () => rawFile({ __metadata__: { epochs: 3 } }, 0), 'model.safetensors: "__metadata__" must map strings to strings'],
  ];
  for (const [what, make, message] of cases) {
    it(what, async () => {
      await expect(parseSafetensorsHeader(make())).rejects.toThrow(message);
    });
  }

  it('a gap between tensors, bytes before the first one, or bytes after the last one', async () => {
    await expect(parseSafetensorsHeader(rawFile({ a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) }, 12))).rejects.toThrow(
      'model.safetensors: 4 bytes of the data section belong to no tensor (between tensors "a" and "b", data offsets [4, 8])',
    );
    await expect(parseSafetensorsHeader(rawFile({ a: entry('F32', [1], [4, 8]) }, 8))).rejects.toThrow('before the first tensor "a"');
    await expect(parseSafetensorsHeader(rawFile({ a: entry('F32', [1], [0, 4]) }, 9))).rejects.toThrow(
      'model.safetensors: 5 bytes follow the last tensor\'s data; the header length is wrong or the file has trailing data',
    );
  });

  it('a header length one byte short (the data would shift by a byte) is refused', async () => {
    const good = encodeSafetensors([{ name: 'w', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }]);
    const shifted = good.slice();
    const view = new DataView(shifted.buffer);
    view.setUint32(0, view.getUint32(0, true) - 1, true);
    await expect(parseSafetensorsHeader(bytesSource('shifted.safetensors', shifted))).rejects.toThrow('shifted.safetensors: 1 bytes follow the last tensor');
  });

  it('a tensor named twice is refused (JSON.parse would keep the last silently)', async () => {
    const text = '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "v": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}';
    await expect(parseSafetensorsHeader(rawFile(text, 8))).rejects.toThrow('model.safetensors: the header names tensor "w" twice');
    // Keys with escapes and nested objects do not confuse the scan.
    const ok = '{"__metadata__": {"w": "x", "a\\"b": "{"}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}';
    expect((await parseSafetensorsHeader(rawFile(ok, 4))).tensors.map((t) => t.name)).toEqual(['w']);
  });

  it('a dtype named like an Object property is an unknown dtype, not a crash', async () => {
    for (const dtype of ['__proto__', 'constructor', 'toString']) {
      const source = rawFile({ x: entry(dtype, [1], [0, 4]) }, 4);
      const header = await parseSafetensorsHeader(source);
      await expect(readTensorF32(source, header.tensors[0])).rejects.toThrow(`tensor "x" is ${dtype}; only F32`);
    }
  });

  it('other formats are named: a web page, a pickle checkpoint, a Git LFS pointer, a JSON file', async () => {
    const file = (text: string | number[]) => bytesSource('model.safetensors', typeof text === 'string' ? new TextEncoder().encode(text) : new Uint8Array(text));
    const html = '<!DOCTYPE html><html><head><title>Model page</title></head><body>' + 'x'.repeat(2000) + '</body></html>';
    await expect(parseSafetensorsHeader(file(html))).rejects.toThrow('model.safetensors: not a safetensors file: it is a web page (HTML), not a model');
    await expect(parseSafetensorsHeader(file('\n  <html lang="en">' + 'x'.repeat(100)))).rejects.toThrow('it is a web page (HTML)');
    await expect(parseSafetensorsHeader(file([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, ...new Array(100).fill(0)]))).rejects.toThrow('it is a ZIP archive, as PyTorch pickle checkpoints (.ckpt, .pt, .bin) are');
    await expect(parseSafetensorsHeader(file([0x80, 0x02, 0x7d, 0x71, 0, 0x58, 0, 0, ...new Array(100).fill(0)]))).rejects.toThrow('it is a Python pickle');
    await expect(parseSafetensorsHeader(file('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 4265380512\n'))).rejects.toThrow('it is a Git LFS pointer');
    await expect(parseSafetensorsHeader(file('{"_class_name": "UNet2DConditionModel", "in_channels": 4}'))).rejects.toThrow('it is a JSON file, not model weights');
  });

  it('a header of more tensors than any model is refused, quickly', async () => {
    const entries: Record<string, unknown> = {};
    for (let i = 0; i <= MAX_TENSORS; i++) entries[`t${i}`] = entry('F32', [0], [0, 0]);
    const source = rawFile(entries, 0);
    const started = performance.now();
    await expect(parseSafetensorsHeader(source)).rejects.toThrow(`the header lists ${MAX_TENSORS + 1} tensors, more than any model this app runs`);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('a fixture cut short', async () => {
    const full = await nodeFileSource(join(fixturesDir, 'vae-kl-tiny/io.safetensors'));
    const bytes = await full.read(0, full.size - 100);
    await expect(parseSafetensorsHeader(bytesSource('io.safetensors', bytes))).rejects.toThrow(
      /io\.safetensors: tensor "latent" has data_offsets \[3072, 4096\] beyond the data section \(3996 bytes\)/,
    );
  });

  it('a header claiming 2^60 bytes fails after reading 8 bytes, allocating nothing', async () => {
    const reads: number[] = [];
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setUint32(4, 2 ** 28, true); // high word: 2^28 × 2^32 = 2^60
    // A pretend 2^61-byte file: anything beyond the first 8 bytes would have to be allocated.
    const huge: ByteSource = { name: 'huge.safetensors', size: 2 ** 61, read: async (offset, length) => (reads.push(length), prefix.subarray(offset, offset + length)) };
    const started = performance.now();
    await expect(parseSafetensorsHeader(huge)).rejects.toThrow(`huge.safetensors: not a safetensors file, or truncated: its header claims ${2 ** 60} bytes but the limit is ${MAX_HEADER_BYTES}`);
    expect(reads).toEqual([8]);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('a 20 MB header in a large enough file is refused too', async () => {
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setUint32(0, 20_000_000, true);
    const big: ByteSource = { name: 'big.safetensors', size: 3e9, read: async (offset, length) => prefix.subarray(offset, offset + length) };
    await expect(parseSafetensorsHeader(big)).rejects.toThrow(`its header claims 20000000 bytes but the limit is ${MAX_HEADER_BYTES}`);
  });
});

describe('byte sources and model folders', () => {
  it('a Blob reads the ranges asked for, and refuses ranges outside it', async () => {
    const source = blobSource(new Blob([new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])]), 'ten.bin');
    expect(Array.from(await source.read(3, 4))).toEqual([3, 4, 5, 6]);
    await expect(source.read(8, 3)).rejects.toThrow('ten.bin: cannot read 3 bytes at offset 8 of a 10-byte file');
  });

  const file = encodeSafetensors([{ name: 'w', shape: [3], data: new Float32Array([1, 2, 3]) }]);
  const fakeFetch = (files: Record<string, { body: Uint8Array | string; type?: string }>): typeof fetch =>
    (async (input: RequestInfo | URL, init?: RequestInit) => {
      const f = files[String(input)];
      if (!f) return new Response('not here', { status: 404, statusText: 'Not Found' });
      const headers = { 'content-type': f.type ?? 'application/octet-stream', 'content-length': String(typeof f.body === 'string' ? new TextEncoder().encode(f.body).length : f.body.byteLength) };
      return new Response(init?.method === 'HEAD' ? null : (f.body as BodyInit), { headers });
    }) as typeof fetch;

  it('a URL downloads with progress and then reads like a file', async () => {
    const progress: [number, number][] = [];
    const source = await fetchSource('https://example.test/m/unet/model.safetensors', {
      fetch: fakeFetch({ 'https://example.test/m/unet/model.safetensors': { body: file } }),
      onProgress: (loaded, total) => progress.push([loaded, total]),
    });
    expect(source.name).toBe('model.safetensors');
    expect(progress.at(-1)).toEqual([file.byteLength, file.byteLength]);
    const all = await readAllF32(source);
    expect(Array.from(all.get('w')!.data)).toEqual([1, 2, 3]);
  });

  it('a URL folder reads JSON and files, and names the URL and status of a missing one', async () => {
    const folder = urlModelFolder('https://example.test/models/tiny', {
      fetch: fakeFetch({
        'https://example.test/models/tiny/unet/config.json': { body: '{"in_channels": 4}', type: 'application/json' },
        'https://example.test/models/tiny/unet/bad.json': { body: '{"in_channels": ', type: 'application/json' },
        'https://example.test/models/tiny/unet/diffusion_pytorch_model.safetensors': { body: file },
        'https://example.test/models/tiny/vae/config.json': { body: '<!doctype html><html></html>', type: 'text/html' },
      }),
    });
    const unet = subFolder(folder, 'unet');
    expect(await unet.readJson('config.json')).toEqual({ in_channels: 4 });
    expect(await unet.has('config.json')).toBe(true);
    expect(await unet.has('missing.json')).toBe(false);
    expect(await folder.has('vae/config.json')).toBe(false);
    await expect(unet.readJson('missing.json')).rejects.toThrow('unet/missing.json: fetching https://example.test/models/tiny/unet/missing.json failed with HTTP 404 Not Found');
    await expect(unet.readJson('bad.json')).rejects.toThrow('https://example.test/models/tiny/unet/bad.json is not valid JSON');
    await expect(folder.readJson('vae/config.json')).rejects.toThrow('returned an HTML page, not the file; the file is probably missing');
    const weights = await unet.open('diffusion_pytorch_model.safetensors');
    expect(weights.name).toBe('unet/diffusion_pytorch_model.safetensors');
    expect((await parseSafetensorsHeader(weights)).tensors[0].shape).toEqual([3]);
    await expect(unet.open('nope.safetensors')).rejects.toThrow('HTTP 404');
  });

  it('picked files match diffusers paths whether the model folder or a folder above it was picked', async () => {
    const picked = (relativePath: string, body: string | Uint8Array) => {
      const f = new File([body as BlobPart], relativePath.split('/').at(-1)!);
      Object.defineProperty(f, 'webkitRelativePath', { value: relativePath });
      return f;
    };
    const files = [
      picked('downloads/sd15/unet/config.json', '{"sample_size": 64}'),
      picked('downloads/sd15/unet/diffusion_pytorch_model.safetensors', file),
      picked('downloads/sd15/vae/config.json', '{"latent_channels": 4}'),
    ];
    const folder = fileListModelFolder(files);
    expect(folder.name).toBe('downloads');
    expect(await folder.readJson('unet/config.json')).toEqual({ sample_size: 64 });
    expect(await folder.readJson('vae/config.json')).toEqual({ latent_channels: 4 });
    expect(await folder.has('text_encoder/config.json')).toBe(false);
    await expect(folder.readText('config.json')).rejects.toThrow('"config.json" is ambiguous among the picked files');
    await expect(folder.open('text_encoder/model.safetensors')).rejects.toThrow('downloads: "text_encoder/model.safetensors" is not among the 3 picked files');
    const weights = await folder.open('unet/diffusion_pytorch_model.safetensors');
    expect(Array.from((await readAllF32(weights)).get('w')!.data)).toEqual([1, 2, 3]);
    // Files dropped without folders match by name.
    const loose = fileListModelFolder([new File(['{"a": 1}'], 'config.json')]);
    expect(await loose.readJson('config.json')).toEqual({ a: 1 });
  });

  it('a Node directory and an in-memory folder', async () => {
    const folder = nodeModelFolder(join(fixturesDir, 'vae-kl-tiny'));
    expect(await folder.has('config.json')).toBe(true);
    expect(await folder.has('nope.json')).toBe(false);
    await expect(folder.readJson('nope.json')).rejects.toThrow(/vae-kl-tiny\/nope\.json: cannot read/);
    const memory = memoryModelFolder('mem', { 'a.json': '{"x": 1}', 'b.json': '{' });
    expect(await memory.readJson('a.json')).toEqual({ x: 1 });
    await expect(memory.readJson('b.json')).rejects.toThrow('mem/b.json is not valid JSON');
  });
});
