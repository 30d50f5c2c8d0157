// Where a model comes from, as the page sends it to the engine worker (plain data and File
// objects: both survive structured cloning), and how a link names it (`model=`).
//   emoji-64                       a model shipped with the app (public/models/<id>/)
//   hf:owner/name@revision         a Hugging Face hub repository (diffusers layout)
//   file:<name>@<hash>             a single .safetensors file a person opened (content-hash.ts)
//   folder:<name>@<hash>           a diffusers folder a person opened

import type { PredictionType } from '../../engine/weights/prediction-type';

export type ModelSource =
  | { kind: 'builtin'; id: string; url: string }
  /** `consented`: the person saw the size and chose Download; without it only a cached copy loads. */
  | { kind: 'hub'; id: string; revision: string; endpoint: string; consented: boolean }
  /** `config`: diffusers configs used instead of those inferred from the file's shapes (a group-norm
   * count cannot be read from shapes; tests set it through window.attentionLabSingleFileConfig). */
  | { kind: 'file'; file: File; vae?: File; config?: SingleFileConfig }
  /** `path`: inside the picked or dropped folder, e.g. "sd-turbo/unet/config.json". */
  | { kind: 'folder'; name: string; files: { path: string; file: File }[] }
  | { kind: 'cached'; key: string };

/** A folder picked with `<input webkitdirectory>`: its name and its files by their paths in it. */
export function pickedFolder(list: FileList | null): { kind: 'folder'; name: string; files: { path: string; file: File }[] } | undefined {
  const files = Array.from(list ?? []);
  if (!files.length) return undefined;
  const path = (file: File) => file.webkitRelativePath || file.name;
  return { kind: 'folder', name: path(files[0]).split('/')[0], files: files.map((file) => ({ path: path(file), file })) };
}

export type SingleFileConfig = { unet?: Record<string, unknown>; textEncoder?: Record<string, unknown>; vae?: Record<string, unknown> };

export interface LoadOptions {
  /** Replaces the scheduler's prediction_type (SD 2.x: epsilon at 512, v_prediction at 768). */
  predictionType?: PredictionType;
}

export type ModelRef =
  | { kind: 'builtin'; id: string }
  | { kind: 'hub'; id: string; revision: string }
  | { kind: 'file' | 'folder'; name: string; hash: string };

export const BUILTIN_MODELS: readonly string[] = ['emoji-64'];

const HUB = /^hf:([A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95})@([\w.-][\w./-]{0,99})$/;
const LOCAL = /^(file|folder):(.{1,200})@([0-9a-f]{16})$/;

/** Reads `model=`; undefined when it names nothing the page can load or ask for. */
export function parseModelRef(text: string): ModelRef | undefined {
  if (BUILTIN_MODELS.includes(text)) return { kind: 'builtin', id: text };
  const hub = HUB.exec(text);
  if (hub && !hub[2].includes('..')) return { kind: 'hub', id: hub[1], revision: hub[2] };
  const local = LOCAL.exec(text);
  if (local && !/[\u0000-\u001f/\\]/.test(local[2])) return { kind: local[1] as 'file' | 'folder', name: local[2], hash: local[3] };
  return undefined;
}

export function formatModelRef(ref: ModelRef): string {
  switch (ref.kind) {
    case 'builtin':
      return ref.id;
    case 'hub':
      return `hf:${ref.id}@${ref.revision}`;
    default:
      return `${ref.kind}:${ref.name.replace(/[\u0000-\u001f/\\]/g, '_').slice(0, 200)}@${ref.hash}`;
  }
}

/** For people: "stabilityai/sd-turbo (main)", "dreamshaper.safetensors". */
export function describeModelRef(ref: ModelRef): string {
  if (ref.kind === 'builtin') return ref.id;
  if (ref.kind === 'hub') return ref.revision === 'main' ? ref.id : `${ref.id} (${ref.revision})`;
  return ref.name;
}
