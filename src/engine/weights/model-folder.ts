// A model folder in the diffusers layout ("unet/config.json", "unet/diffusion_pytorch_model.safetensors",
// "text_encoder/model.safetensors", ...), wherever it lives: under a URL (public/models/... in the
// app), in files the user picked, or in a Node directory (node-byte-source.ts).

import { assertNotHtml, blobSource, bytesSource, fetchSource, type ByteSource, type ProgressCallback } from './byte-source';

export interface ModelFolder {
  /** For messages: the folder's URL, directory or picked name. */
  readonly name: string;
  has(path: string): Promise<boolean>;
  readText(path: string): Promise<string>;
  readJson<T>(path: string): Promise<T>;
  /** Random access to a file; `onProgress` reports a download where the folder is remote. */
  open(path: string, options?: { onProgress?: ProgressCallback }): Promise<ByteSource>;
}

/** Parses `text` as JSON, with an error that names the file. */
export function parseJsonFile<T>(text: string, where: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${where} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** The files under `dir` of `folder`: subFolder(root, 'unet').readJson('config.json'). */
export function subFolder(folder: ModelFolder, dir: string): ModelFolder {
  const base = dir.replace(/\/+$/, '');
  const full = (path: string) => `${base}/${path}`;
  return {
    name: `${folder.name}/${base}`,
    has: (path) => folder.has(full(path)),
    readText: (path) => folder.readText(full(path)),
    readJson: (path) => folder.readJson(full(path)),
    open: (path, options) => folder.open(full(path), options),
  };
}

export interface UrlFolderOptions {
  /** Defaults to globalThis.fetch; tests pass their own. */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** Files under a URL, e.g. `${import.meta.env.BASE_URL}models/sd15-tiny/`. */
export function urlModelFolder(baseUrl: string, options: UrlFolderOptions = {}): ModelFolder {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const url = (path: string) => base + path.replace(/^\/+/, '');

  async function get(path: string): Promise<Response> {
    let response: Response;
    try {
      response = await doFetch(url(path), { signal: options.signal });
    } catch (e) {
      throw new Error(`${path}: could not fetch ${url(path)} (${(e as Error).message})`, { cause: e });
    }
    if (!response.ok) throw new Error(`${path}: fetching ${url(path)} failed with HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    assertNotHtml(response, url(path), path);
    return response;
  }

  // Configs are read by the memory estimate, the loader and each component: fetched once each
  // (a failed fetch is forgotten, so trying again fetches again).
  const texts = new Map<string, Promise<string>>();
  function text(path: string): Promise<string> {
    let kept = texts.get(path);
    if (!kept) {
      kept = get(path).then((response) => response.text());
      kept.catch(() => texts.delete(path));
      texts.set(path, kept);
    }
    return kept;
  }

  return {
    name: base,
    async has(path) {
      const response = await doFetch(url(path), { method: 'HEAD', signal: options.signal }).catch(() => undefined);
      return !!response?.ok && !(response.headers.get('content-type') ?? '').includes('text/html');
    },
    readText: (path) => text(path),
    readJson: async <T>(path: string) => parseJsonFile<T>(await text(path), url(path)),
    open: (path, openOptions) => fetchSource(url(path), { fetch: doFetch, signal: options.signal, onProgress: openOptions?.onProgress, name: path }),
  };
}

/**
 * Files the user picked: an `<input type="file" webkitdirectory>` FileList (each File has a
 * webkitRelativePath starting with the picked folder's name) or dropped files. "unet/config.json"
 * matches the file whose relative path is, or ends with, "/unet/config.json"; so the user may pick
 * the diffusers folder itself or a folder above it. When several match, the shallowest wins;
 * a tie is an error, since guessing could load the wrong model.
 */
export function fileListModelFolder(files: FileList | readonly File[], name?: string): ModelFolder {
  const entries = Array.from(files, (file) => ({ file, path: (file.webkitRelativePath || file.name).replace(/\\/g, '/') }));
  const folderName = name ?? (entries[0]?.path.includes('/') ? entries[0].path.split('/')[0] : 'picked files');

  function find(path: string): File | undefined {
    const wanted = path.replace(/^\/+/, '');
    const matches = entries.filter((e) => e.path === wanted || e.path.endsWith(`/${wanted}`));
    if (matches.length <= 1) return matches[0]?.file;
    const depth = (p: string) => p.split('/').length;
    matches.sort((a, b) => depth(a.path) - depth(b.path));
    if (depth(matches[0].path) === depth(matches[1].path)) {
      throw new Error(`${folderName}: "${path}" is ambiguous among the picked files: ${matches.map((m) => m.path).join(', ')}`);
    }
    return matches[0].file;
  }

  function need(path: string): File {
    const file = find(path);
    if (!file) throw new Error(`${folderName}: "${path}" is not among the ${entries.length} picked files; pick the model's folder (the one that holds unet/, vae/, ...)`);
    return file;
  }

  return {
    name: folderName,
    has: async (path) => find(path) !== undefined,
    readText: async (path) => need(path).text(),
    readJson: async <T>(path: string) => parseJsonFile<T>(await need(path).text(), `${folderName}/${path}`),
    open: async (path) => blobSource(need(path), path),
  };
}

/** Files held in memory, by path: for tests and for folders unpacked from an archive. */
export function memoryModelFolder(name: string, files: Record<string, Uint8Array | string>): ModelFolder {
  const bytes = (path: string): Uint8Array => {
    const file = files[path];
    if (file === undefined) throw new Error(`${name}: no file "${path}"`);
    return typeof file === 'string' ? new TextEncoder().encode(file) : file;
  };
  return {
    name,
    has: async (path) => path in files,
    readText: async (path) => new TextDecoder().decode(bytes(path)),
    readJson: async <T>(path: string) => parseJsonFile<T>(new TextDecoder().decode(bytes(path)), `${name}/${path}`),
    open: async (path) => bytesSource(path, bytes(path)),
  };
}

/** `folder` whose `has` answers from `files` (its paths, as model_index.json's attention_lab.files
 * lists them) instead of asking the server: no request for a file the model does not have. */
export function listedModelFolder(folder: ModelFolder, files: readonly string[]): ModelFolder {
  const listed = new Set(files.map((f) => f.replace(/^\/+/, '')));
  return { ...folder, has: async (path) => listed.has(path.replace(/^\/+/, '')) };
}
