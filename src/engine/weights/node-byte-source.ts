// Model files on a Node file system, for tests, golden checks and benchmarks.
// Only Node code imports this file; the browser uses byte-source.ts and model-folder.ts.

import { open, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { checkRange, type ByteSource } from './byte-source';
import { parseJsonFile, type ModelFolder } from './model-folder';

/**
 * A file read at offsets. Each read opens and closes the file, so a source needs no closing and
 * leaks no descriptor; an open costs microseconds next to reading a tensor.
 */
export async function nodeFileSource(path: string, name = basename(path)): Promise<ByteSource> {
  const { size } = await stat(path).catch((e: Error) => {
    throw new Error(`${path}: cannot open (${e.message})`, { cause: e });
  });
  return {
    name,
    size,
    async read(offset, length) {
      checkRange({ name, size }, offset, length);
      const out = new Uint8Array(length);
      const handle = await open(path, 'r');
      try {
        let done = 0;
        // read() may return fewer bytes than asked (large reads are capped near 2 GB).
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done);
          if (bytesRead === 0) throw new Error(`${path}: file ended at ${offset + done} while reading ${length} bytes at ${offset}`);
          done += bytesRead;
        }
      } finally {
        await handle.close();
      }
      return out;
    },
  };
}

/** A directory holding a model, e.g. a diffusers folder or one of shared/fixtures/*. */
export function nodeModelFolder(dir: string): ModelFolder {
  const root = resolve(dir);
  const full = (path: string) => join(root, path);
  const readText = (path: string) =>
    readFile(full(path), 'utf8').catch((e: Error) => {
      throw new Error(`${full(path)}: cannot read (${e.message})`, { cause: e });
    });
  return {
    name: root,
    has: (path) => stat(full(path)).then((s) => s.isFile(), () => false),
    readText,
    readJson: async <T>(path: string) => parseJsonFile<T>(await readText(path), full(path)),
    // Named by its folder-relative path ("unet/diffusion_pytorch_model.safetensors"): clearer than the base name alone.
    open: (path) => nodeFileSource(full(path), path),
  };
}
