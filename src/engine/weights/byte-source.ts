// Random access to the bytes of a model file, wherever it lives: a File the user picked, a buffer
// in memory, or a URL. Readers ask for ranges, so a multi-GB checkpoint is never held whole in
// JavaScript memory (a File is read through slice(), which also works past 2 GB).
// Node files are in node-byte-source.ts, which only Node code imports.

export interface ByteSource {
  /** For messages: the file name, e.g. "diffusion_pytorch_model.safetensors". */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes from `offset`; rejects a range that leaves the file. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export type ProgressCallback = (loadedBytes: number, totalBytes: number) => void;

/** Progress of a whole load, as a fraction 0..1 and what is loading now. */
export type LoadProgress = (fraction: number, what: string) => void;

/** The byte progress of one part of a load that spans `from`..`to` of the whole, as LoadProgress. */
export function progressSpan(onProgress: LoadProgress | undefined, from: number, to: number, what: string): ProgressCallback {
  return (loaded, total) => onProgress?.(from + (to - from) * (total ? loaded / total : 1), what);
}

/** Throws unless [offset, offset + length) lies inside a source of `size` bytes. */
export function checkRange(source: { name: string; size: number }, offset: number, length: number): void {
  const ok = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= source.size;
  if (!ok) throw new RangeError(`${source.name}: cannot read ${length} bytes at offset ${offset} of a ${source.size}-byte file`);
}

/** Bytes already in memory (tests, golden files, small downloads). Reads are views, not copies. */
export function bytesSource(name: string, data: ArrayBuffer | Uint8Array): ByteSource {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(this, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A Blob or File. Each read slices the blob, so only the requested range is loaded. */
export function blobSource(blob: Blob, name = (blob as Partial<File>).name || 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(this, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

export interface FetchSourceOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Defaults to globalThis.fetch; tests pass their own. */
  fetch?: typeof fetch;
  /** For messages; defaults to the last segment of the URL's path. */
  name?: string;
}

/** Received chunks are gathered into a Blob part every this many bytes, so the browser may keep
 * them out of the JavaScript heap (Chrome spills large blobs to disk). */
const BLOB_PART_BYTES = 64 * 2 ** 20;

/**
 * Downloads `url` whole into a Blob, reporting progress, and reads from that Blob. (Range requests
 * would avoid the download, but static hosts and caches handle them unevenly; a checkpoint is read
 * whole anyway.) Rejects with the HTTP status when the server refuses.
 */
export async function fetchSource(url: string, options: FetchSourceOptions = {}): Promise<ByteSource> {
  const name = options.name ?? fileNameOf(url);
  const doFetch = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await doFetch(url, { signal: options.signal });
  } catch (e) {
    throw new Error(`${name}: could not fetch ${url} (${(e as Error).message})`, { cause: e });
  }
  if (!response.ok) throw new Error(`${name}: fetching ${url} failed with HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  assertNotHtml(response, url, name);
  const total = Number(response.headers.get('content-length') ?? 0);
  const blob = await downloadBlob(response, total, options.onProgress);
  if (total > 0 && blob.size !== total) throw new Error(`${name}: download of ${url} ended after ${blob.size} of ${total} bytes`);
  return blobSource(blob, name);
}

async function downloadBlob(response: Response, total: number, onProgress?: ProgressCallback): Promise<Blob> {
  if (!response.body) {
    const blob = await response.blob();
    onProgress?.(blob.size, blob.size);
    return blob;
  }
  const parts: Blob[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let loaded = 0;
  const reader = response.body.getReader();
  onProgress?.(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending.push(value);
    pendingBytes += value.byteLength;
    loaded += value.byteLength;
    if (pendingBytes >= BLOB_PART_BYTES) {
      parts.push(new Blob(pending as BlobPart[]));
      pending = [];
      pendingBytes = 0;
    }
    // Without a content-length the total is unknown: report what has arrived as the total so far.
    onProgress?.(loaded, total || loaded);
  }
  parts.push(new Blob(pending as BlobPart[]));
  return new Blob(parts);
}

/** Dev servers answer a missing file with the app's index.html (status 200); say so instead of
 * failing later on a "corrupt" model file. */
export function assertNotHtml(response: Response, url: string, name: string): void {
  if ((response.headers.get('content-type') ?? '').includes('text/html')) {
    throw new Error(`${name}: ${url} returned an HTML page, not the file; the file is probably missing (dev servers answer missing paths with index.html)`);
  }
}

export function fileNameOf(path: string): string {
  const clean = path.split(/[?#]/)[0];
  return clean.slice(clean.lastIndexOf('/') + 1) || clean;
}
