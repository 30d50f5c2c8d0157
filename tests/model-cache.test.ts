import { describe, expect, it } from 'vitest';
import { copyToCache, downloadToCache } from '../src/engine/weights/cache-transfer';
import { sampledContentHash } from '../src/engine/weights/content-hash';
import { planDiffusersFiles, relativeToModelRoot } from '../src/engine/weights/diffusers-files';
import { ModelCache, type CacheManifest } from '../src/engine/weights/model-cache';
import { MemoryDirectory } from './support/memory-opfs';

const FILE = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7) % 251);

async function openCache(root = new MemoryDirectory()) {
  return ModelCache.open(root as unknown as FileSystemDirectoryHandle);
}

/** A server for one file: honours Range, can cut a response off after `cutAt` bytes. */
function fileServer(bytes: Uint8Array, options: { cutAt?: number; etag?: string; ignoreRange?: boolean; html?: boolean } = {}) {
  const requests: { range: string | null }[] = [];
  const serve = async (_url: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const range = new Headers(init?.headers).get('range');
    requests.push({ range });
    if (options.html) return new Response('<html>not found</html>', { headers: { 'content-type': 'text/html' } });
    const start = range && !options.ignoreRange ? Number(/bytes=(\d+)-/.exec(range)![1]) : 0;
    const body = bytes.subarray(start);
    const headers: Record<string, string> = { 'content-length': String(body.byteLength), ...(options.etag ? { etag: options.etag } : {}) };
    if (start > 0) headers['content-range'] = `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}`;
    const cut = options.cutAt;
    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const cutting = cut !== undefined && cut < body.byteLength;
        if (pulls++ === 0) controller.enqueue(body.slice(0, cutting ? cut : undefined));
        else if (cutting) controller.error(new TypeError('network error'));
        else controller.close();
      },
    });
    return new Response(stream, { status: start > 0 ? 206 : 200, headers });
  };
  return { fetch: serve as typeof fetch, requests };
}

const manifest = (files: CacheManifest['files']): CacheManifest => ({ version: 1, key: 'm', ref: 'hf:a/b@main', label: 'a/b', layout: 'diffusers', files, savedAt: 0 });

describe('the model cache', () => {
  it('lists saved models with their bytes on disk, reads files back, and removing one frees its space', async () => {
    const cache = await openCache();
    await cache.save(manifest({ 'unet/w.safetensors': { size: FILE.byteLength, complete: true } }));
    await copyToCache(cache, 'm', 'unet/w.safetensors', new Blob([FILE]));
    const [listed] = await cache.list();
    expect(listed).toMatchObject({ key: 'm', label: 'a/b', totalBytes: FILE.byteLength, complete: true });
    expect(listed.bytes).toBeGreaterThan(FILE.byteLength); // the manifest too
    const folder = cache.folder((await cache.manifest('m'))!);
    const source = await folder.open('unet/w.safetensors');
    expect(await source.read(100, 5)).toEqual(FILE.subarray(100, 105));
    await cache.remove('m');
    expect(await cache.list()).toEqual([]);
    expect(await cache.bytesOnDisk('m')).toBe(0);
  });

  it('a download cut off halfway resumes with a Range request from the bytes on disk', async () => {
    const cache = await openCache();
    const record = { size: FILE.byteLength, complete: false };
    const cut = fileServer(FILE, { cutAt: 4000, etag: '"v1"' });
    await expect(downloadToCache(cache, 'm', 'w', 'http://x/w', record, { fetch: cut.fetch })).rejects.toThrow(/broke off after 4000 bytes.*resumes/);
    expect((await cache.file('m', 'w')).size).toBe(4000);
    const rest = fileServer(FILE, { etag: '"v1"' });
    let written = 0;
    const done = await downloadToCache(cache, 'm', 'w', 'http://x/w', { ...record, etag: '"v1"' }, { fetch: rest.fetch, onBytes: (n) => (written += n) });
    expect(rest.requests).toEqual([{ range: 'bytes=4000-' }]);
    expect(done).toMatchObject({ complete: true, etag: '"v1"' });
    expect(written).toBe(FILE.byteLength); // 4000 already there + 6000 new
    expect(new Uint8Array(await (await cache.file('m', 'w')).arrayBuffer())).toEqual(FILE);
  });

  it('starts over when the server ignores Range or the file changed (another ETag)', async () => {
    for (const options of [{ ignoreRange: true }, { etag: '"v2"' }]) {
      const cache = await openCache();
      await downloadToCache(cache, 'm', 'w', 'u', { size: FILE.byteLength, complete: false }, { fetch: fileServer(FILE, { cutAt: 3000, etag: '"v1"' }).fetch }).catch(() => undefined);
      const server = fileServer(FILE, options);
      await downloadToCache(cache, 'm', 'w', 'u', { size: FILE.byteLength, complete: false, etag: '"v1"' }, { fetch: server.fetch });
      expect(new Uint8Array(await (await cache.file('m', 'w')).arrayBuffer())).toEqual(FILE);
    }
  });

  it('refuses an HTML page served in place of the file, and a file of the wrong size', async () => {
    const cache = await openCache();
    await expect(downloadToCache(cache, 'm', 'unet/w.safetensors', 'http://x/w', { size: 10, complete: false }, { fetch: fileServer(FILE, { html: true }).fetch })).rejects.toThrow(
      /unet\/w.safetensors: http:\/\/x\/w returned an HTML page/,
    );
    await expect(downloadToCache(cache, 'm', 'w', 'http://x/w', { size: FILE.byteLength + 5, complete: false }, { fetch: fileServer(FILE).fetch })).rejects.toThrow(/sent 10000 bytes, but the file has 10005/);
  });

  it('a full disk says so with what to do', async () => {
    const root = new MemoryDirectory();
    root.quota = { left: 5000 };
    const cache = await openCache(root);
    await expect(copyToCache(cache, 'm', 'big.safetensors', new Blob([FILE]))).rejects.toThrow(/Not enough storage to cache big.safetensors.*Remove cached models/);
  });
});

describe('which files of a diffusers folder are fetched', () => {
  const listing = (paths: string[]) => paths.map((path) => ({ path, size: path.includes('fp16') ? 5 : 10 }));
  const base = ['model_index.json', 'scheduler/scheduler_config.json', 'unet/config.json', 'text_encoder/config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'vae/config.json'];

  it('prefers *.fp16.safetensors and stores each under the name the engine reads', () => {
    const plan = planDiffusersFiles(
      listing([...base, 'unet/diffusion_pytorch_model.safetensors', 'unet/diffusion_pytorch_model.fp16.safetensors', 'unet/diffusion_pytorch_model.bin', 'text_encoder/model.safetensors', 'vae/diffusion_pytorch_model.fp16.safetensors', 'README.md', 'v1-5.ckpt']),
      'repo',
    );
    expect(plan.find((f) => f.to === 'unet/diffusion_pytorch_model.safetensors')).toEqual({ from: 'unet/diffusion_pytorch_model.fp16.safetensors', to: 'unet/diffusion_pytorch_model.safetensors', size: 5 });
    expect(plan.map((f) => f.from)).not.toContain('README.md');
    expect(plan.map((f) => f.from)).not.toContain('v1-5.ckpt');
  });

  it('names what is missing or unsupported before anything is downloaded', () => {
    expect(() => planDiffusersFiles(listing(['v1-5-pruned.safetensors']), 'repo')).toThrow(/no model_index.json.*v1-5-pruned.safetensors.*Open .safetensors file/);
    expect(() => planDiffusersFiles(listing([...base, 'text_encoder/model.safetensors', 'vae/diffusion_pytorch_model.safetensors']), 'repo')).toThrow('repo: unet/diffusion_pytorch_model.safetensors is missing');
    expect(() => planDiffusersFiles(listing([...base, 'unet/diffusion_pytorch_model.bin']), 'repo')).toThrow(/unet\/ has only pickle weights/);
    expect(() => planDiffusersFiles(listing([...base, 'text_encoder_2/config.json']), 'repo')).toThrow(/SDXL/);
  });

  it('a picked folder may be the model itself or a folder above it', () => {
    expect(relativeToModelRoot([{ path: 'downloads/sd/model_index.json' }, { path: 'downloads/sd/unet/config.json' }, { path: 'downloads/other.txt' }])).toEqual([{ path: 'model_index.json' }, { path: 'unet/config.json' }]);
  });
});

describe('a file\'s content hash', () => {
  it('changes with the weights, not only with the header and size', async () => {
    const header = new TextEncoder().encode(JSON.stringify({ w: { dtype: 'F32', shape: [2500], data_offsets: [0, 10000] } }));
    const file = (data: Uint8Array) => {
      const length = new Uint8Array(8);
      new DataView(length.buffer).setBigUint64(0, BigInt(header.byteLength), true);
      return new Blob([length, header, data as BlobPart]);
    };
    const tuned = FILE.slice();
    tuned[5000] ^= 1;
    const a = await sampledContentHash(file(FILE));
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(await sampledContentHash(file(FILE))).toBe(a);
    expect(await sampledContentHash(file(tuned))).not.toBe(a);
  });
});
