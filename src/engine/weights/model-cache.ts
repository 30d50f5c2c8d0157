// Model files kept in the Origin Private File System (navigator.storage.getDirectory()), one
// directory per model with a manifest.json. Files are read back as File objects, so the engine
// reads them in slices (blobSource) and a multi-GB checkpoint never sits whole in memory. Writes go
// through a sync access handle where there is one (dedicated workers): each write lands on disk,
// so a download cut off by a reload resumes from the bytes already there.

import { blobSource } from './byte-source';
import { parseJsonFile, type ModelFolder } from './model-folder';

export interface CachedFile {
  /** The file's full size, known before it is written (hub listing, picked file). */
  size: number;
  /** The server's ETag of the first response: a resumed download must come from the same file. */
  etag?: string;
  complete: boolean;
}

export interface CacheManifest {
  version: 1;
  key: string;
  /** How a link names it: hf:owner/name@revision, file:name@hash, folder:name@hash. */
  ref: string;
  /** For people: the repo id or file name. */
  label: string;
  /** 'diffusers': the files are a diffusers folder; 'single-file': `checkpoint` (+ `vae`) in the original layout. */
  layout: 'diffusers' | 'single-file';
  /** 'taesd': a fast decoder (TAESD) to use beside a model, not a model (app/engine/taesd-loader.ts). */
  role?: 'taesd';
  files: Record<string, CachedFile>;
  checkpoint?: string;
  vae?: string;
  /** Configs given with a single file instead of the inferred ones (SingleFileOptions.config). */
  config?: { unet?: Record<string, unknown>; textEncoder?: Record<string, unknown>; vae?: Record<string, unknown> };
  savedAt: number;
}

export interface CachedModelSummary {
  key: string;
  ref: string;
  label: string;
  /** Bytes on disk now (partial downloads included). */
  bytes: number;
  /** Bytes when every file is complete. */
  totalBytes: number;
  complete: boolean;
  role?: 'taesd';
}

/** Writes into one cached file at any offset; `size` is what is on disk. */
export interface CacheFileWriter {
  size(): Promise<number>;
  write(bytes: Uint8Array, at: number): Promise<void>;
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

const MANIFEST = 'manifest.json';
const MODELS_DIR = 'models';

/** A cache key is a directory name: letters, digits and -._ only. */
export function cacheKeyOf(ref: string): string {
  return ref.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 200);
}

export class ModelCache {
  private constructor(private readonly root: FileSystemDirectoryHandle) {}

  /** The cache under `root` (default: the origin's private file system). Asks for persistent
   * storage, so the browser does not evict gigabytes of weights under pressure. */
  static async open(root?: FileSystemDirectoryHandle): Promise<ModelCache> {
    const base = root ?? (await navigator.storage.getDirectory());
    if (!root) await navigator.storage.persist?.().catch(() => false);
    return new ModelCache(await base.getDirectoryHandle(MODELS_DIR, { create: true }));
  }

  async list(): Promise<CachedModelSummary[]> {
    const out: CachedModelSummary[] = [];
    for await (const [name, handle] of entriesOf(this.root)) {
      if (handle.kind !== 'directory') continue;
      const manifest = await this.manifest(name);
      if (!manifest) continue;
      const totalBytes = Object.values(manifest.files).reduce((sum, f) => sum + f.size, 0);
      out.push({ key: name, ref: manifest.ref, label: manifest.label, bytes: await this.bytesOnDisk(name), totalBytes, complete: isComplete(manifest), role: manifest.role });
    }
    return out.sort((a, b) => a.label.localeCompare(b.label));
  }

  async manifest(key: string): Promise<CacheManifest | undefined> {
    const dir = await this.modelDir(key, false);
    if (!dir) return undefined;
    try {
      const file = await (await dir.getFileHandle(MANIFEST)).getFile();
      return parseJsonFile<CacheManifest>(await file.text(), `cached model ${key}/${MANIFEST}`);
    } catch {
      return undefined;
    }
  }

  async save(manifest: CacheManifest): Promise<void> {
    const dir = (await this.modelDir(manifest.key, true))!;
    const writer = await openWriter(await dir.getFileHandle(MANIFEST, { create: true }));
    try {
      const bytes = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
      await writer.truncate(0);
      await writer.write(bytes, 0);
    } finally {
      await writer.close();
    }
  }

  async remove(key: string): Promise<void> {
    await this.root.removeEntry(key, { recursive: true }).catch((e: unknown) => {
      if ((e as DOMException)?.name !== 'NotFoundError') throw e;
    });
  }

  async bytesOnDisk(key: string): Promise<number> {
    const dir = await this.modelDir(key, false);
    return dir ? directoryBytes(dir) : 0;
  }

  /** The cached file at `path` (e.g. "unet/diffusion_pytorch_model.safetensors"). */
  async file(key: string, path: string): Promise<File> {
    const handle = await this.fileHandle(key, path, false);
    if (!handle) throw new Error(`cached model ${key}: "${path}" is not in the cache; remove the model and load it again`);
    return handle.getFile();
  }

  async writer(key: string, path: string): Promise<CacheFileWriter> {
    return openWriter((await this.fileHandle(key, path, true))!);
  }

  /** A diffusers folder read from the cache. */
  folder(manifest: CacheManifest): ModelFolder {
    const name = manifest.label;
    const need = async (path: string) => {
      const clean = path.replace(/^\/+/, '');
      if (!manifest.files[clean]?.complete) throw new Error(`${name}: "${clean}" is not in the cached model`);
      return this.file(manifest.key, clean);
    };
    return {
      name,
      has: async (path) => !!manifest.files[path.replace(/^\/+/, '')]?.complete,
      readText: async (path) => (await need(path)).text(),
      readJson: async <T>(path: string) => parseJsonFile<T>(await (await need(path)).text(), `${name}/${path}`),
      open: async (path) => blobSource(await need(path), path),
    };
  }

  private async modelDir(key: string, create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
    try {
      return await this.root.getDirectoryHandle(key, { create });
    } catch (e) {
      if (!create && (e as DOMException)?.name === 'NotFoundError') return undefined;
      throw e;
    }
  }

  private async fileHandle(key: string, path: string, create: boolean): Promise<FileSystemFileHandle | undefined> {
    let dir = await this.modelDir(key, create);
    const parts = path.split('/').filter(Boolean);
    try {
      for (const part of parts.slice(0, -1)) dir = await dir?.getDirectoryHandle(part, { create });
      return await dir?.getFileHandle(parts[parts.length - 1], { create });
    } catch (e) {
      if (!create && ((e as DOMException)?.name === 'NotFoundError' || (e as DOMException)?.name === 'TypeMismatchError')) return undefined;
      throw e;
    }
  }
}

export function isComplete(manifest: CacheManifest): boolean {
  return Object.values(manifest.files).every((f) => f.complete);
}

async function directoryBytes(dir: FileSystemDirectoryHandle): Promise<number> {
  let sum = 0;
  for await (const [, handle] of entriesOf(dir)) {
    sum += handle.kind === 'file' ? (await (handle as FileSystemFileHandle).getFile()).size : await directoryBytes(handle as FileSystemDirectoryHandle);
  }
  return sum;
}

function entriesOf(dir: FileSystemDirectoryHandle): AsyncIterable<[string, FileSystemHandle]> {
  return (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries();
}

interface SyncAccessHandle {
  getSize(): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

/** A sync access handle where the browser offers one (dedicated workers): each write is on disk
 * at once. Elsewhere a writable stream, whose writes appear only when it is closed. */
async function openWriter(handle: FileSystemFileHandle): Promise<CacheFileWriter> {
  const withSync = handle as FileSystemFileHandle & { createSyncAccessHandle?: () => Promise<SyncAccessHandle> };
  if (typeof withSync.createSyncAccessHandle === 'function') {
    const sync = await withSync.createSyncAccessHandle();
    return {
      size: async () => sync.getSize(),
      async write(bytes, at) {
        let done = 0;
        while (done < bytes.byteLength) done += sync.write(bytes.subarray(done), { at: at + done });
      },
      truncate: async (size) => sync.truncate(size),
      async close() {
        sync.flush();
        sync.close();
      },
    };
  }
  let size = (await handle.getFile()).size;
  const stream = await handle.createWritable({ keepExistingData: true });
  return {
    size: async () => size,
    async write(bytes, at) {
      await stream.write({ type: 'write', position: at, data: bytes as BlobPart });
      size = Math.max(size, at + bytes.byteLength);
    },
    async truncate(to) {
      await stream.truncate(to);
      size = to;
    },
    close: () => stream.close(),
  };
}
