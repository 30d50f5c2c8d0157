// Filling the model cache: downloads that resume with Range requests, and copies of picked files.
// Both write in slices, so neither holds a whole file in memory. A full disk becomes a message
// that says how much was needed and how much the browser allows.

import { assertNotHtml } from './byte-source';
import type { CacheFileWriter, CachedFile, ModelCache } from './model-cache';

/** Called with each batch of bytes written (for progress, rate and ETA). */
export type BytesWritten = (bytes: number) => void;

export interface DownloadOptions {
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onBytes?: BytesWritten;
}

/**
 * Downloads `url` into the cached file `path` of model `key`, expected to be `record.size` bytes.
 * What is already on disk is kept: the rest is asked for with `Range: bytes=<have>-`. A server that
 * answers 200 instead, or a file whose ETag changed, starts the file over. Returns the record with
 * the ETag seen and complete: true; throws with the bytes received when the stream breaks off.
 */
export async function downloadToCache(cache: ModelCache, key: string, path: string, url: string, record: CachedFile, options: DownloadOptions = {}): Promise<CachedFile> {
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const writer = await cache.writer(key, path);
  try {
    let have = await writer.size();
    if (have > record.size) await writer.truncate((have = 0));
    if (have === record.size && record.size > 0) return { ...record, complete: true };
    options.onBytes?.(have);
    let response: Response;
    try {
      response = await doFetch(url, { signal: options.signal, headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
    } catch (e) {
      throw new Error(`${path}: could not fetch ${url} (${(e as Error).message})`, { cause: e });
    }
    if (!response.ok) throw new Error(`${path}: fetching ${url} failed with HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    assertNotHtml(response, url, path);
    const etag = response.headers.get('etag') ?? undefined;
    const resumed = response.status === 206 && contentRangeStart(response) === have && (!record.etag || !etag || etag === record.etag);
    if (!resumed && have > 0) {
      // A full answer, or a different file under the same name: start over.
      options.onBytes?.(-have);
      await writer.truncate((have = 0));
      if (response.status === 206) {
        await response.body?.cancel();
        return downloadToCache(cache, key, path, url, { ...record, etag: undefined }, options);
      }
    }
    const next: CachedFile = { ...record, etag: resumed ? (record.etag ?? etag) : etag, complete: false };
    have = await streamInto(writer, response, have, path, options.onBytes);
    if (have !== record.size) {
      throw new Error(`${path}: the server sent ${have} bytes, but the file has ${record.size}${have > record.size ? '' : '; trying again resumes the download'}`);
    }
    return { ...next, complete: true };
  } finally {
    await writer.close();
  }
}

/** Copies a picked file into the cache in 16 MiB slices (File.slice: never the whole file at once). */
export async function copyToCache(cache: ModelCache, key: string, path: string, blob: Blob, onBytes?: BytesWritten, signal?: AbortSignal): Promise<CachedFile> {
  const writer = await cache.writer(key, path);
  const slice = 16 * 2 ** 20;
  try {
    await writer.truncate(0);
    for (let at = 0; at < blob.size; at += slice) {
      signal?.throwIfAborted();
      const bytes = new Uint8Array(await blob.slice(at, Math.min(blob.size, at + slice)).arrayBuffer());
      await writeOrExplain(writer, bytes, at, path);
      onBytes?.(bytes.byteLength);
    }
    return { size: blob.size, complete: true };
  } finally {
    await writer.close();
  }
}

async function streamInto(writer: CacheFileWriter, response: Response, at: number, path: string, onBytes?: BytesWritten): Promise<number> {
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    await writeOrExplain(writer, bytes, at, path);
    onBytes?.(bytes.byteLength);
    return at + bytes.byteLength;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new Error(`${path}: the download broke off after ${at} bytes (${(e as Error).message}); trying again resumes it`, { cause: e });
      }
      if (chunk.done) return at;
      await writeOrExplain(writer, chunk.value, at, path);
      at += chunk.value.byteLength;
      onBytes?.(chunk.value.byteLength);
    }
  } finally {
    reader.releaseLock();
  }
}

async function writeOrExplain(writer: CacheFileWriter, bytes: Uint8Array, at: number, path: string): Promise<void> {
  try {
    await writer.write(bytes, at);
  } catch (e) {
    if ((e as DOMException)?.name === 'QuotaExceededError') throw await quotaError(path);
    throw e;
  }
}

/** QuotaExceededError, said with numbers and what to do. */
export async function quotaError(path: string): Promise<Error> {
  const estimate = await globalThis.navigator?.storage?.estimate?.().catch(() => undefined);
  const numbers = estimate?.quota ? ` (this site uses ${formatBytes(estimate.usage ?? 0)} of the ${formatBytes(estimate.quota)} the browser allows it)` : '';
  const error = new Error(`Not enough storage to cache ${path}${numbers}. Remove cached models in the Model panel, or free disk space, and try again.`);
  error.name = 'QuotaExceededError';
  return error;
}

function contentRangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : undefined;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) (value /= 1024), unit++;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
