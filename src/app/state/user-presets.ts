// Presets of one's own: named settings kept in the browser's storage (localStorage), listed beside
// the built-in ones, exported and imported as JSON. A preset is stored as the settings' query string
// (the link's form), so it is read back through the same validated parser as a link, and a preset
// saved by an older version is repaired rather than rejected.

import { create } from 'zustand';
import { parseSettings, serializeSettings, type Settings } from './settings-schema';

export interface UserPreset {
  name: string;
  /** serializeSettings of what the preset sets (NOT_IN_PRESETS left out). */
  query: string;
}

export const STORAGE_KEY = 'attention-lab.presets';
export const EXPORT_FORMAT = 'attention-lab-presets';
const MAX_NAME = 60;
const MAX_PRESETS = 200;

/** Link keys a preset leaves alone: which model runs and what belongs to it (its image size and
 * prediction type: a 64×64 preset saved with the default model must not shrink an SD image), the
 * decoder and backend, which depend on what is loaded, and the view. */
const NOT_IN_PRESETS = ['model', 'w', 'h', 'pred', 'dec', 'backend', 'compare'];

/** What a preset sets: the image's settings, not which model or backend runs them, nor the view. */
export function presetQuery(settings: Readonly<Settings>): string {
  const params = new URLSearchParams(serializeSettings(settings));
  for (const key of NOT_IN_PRESETS) params.delete(key);
  return `?${params.toString().replace(/%2C/gi, ',')}`;
}

/** `settings` with the preset applied; notices for anything that had to be repaired. */
export function applyUserPreset(settings: Readonly<Settings>, preset: UserPreset): { settings: Settings; notices: string[] } {
  const parsed = parseSettings(preset.query, settings);
  return { settings: parsed.settings, notices: parsed.notices.map((n) => `Preset “${preset.name}”: ${n}`) };
}

export function matchingUserPreset(settings: Readonly<Settings>, presets: readonly UserPreset[]): UserPreset | undefined {
  const query = presetQuery(settings);
  return presets.find((p) => presetQuery(parseSettings(p.query, settings).settings) === query);
}

export function cleanName(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, MAX_NAME);
}

/** `presets` with `preset` in it: a preset of the same name is replaced, in place. */
export function withPreset(presets: readonly UserPreset[], preset: UserPreset): UserPreset[] {
  const at = presets.findIndex((p) => p.name === preset.name);
  return at < 0 ? [...presets, preset].slice(-MAX_PRESETS) : presets.map((p, i) => (i === at ? preset : p));
}

/** Renames `from` to `to`; a preset already called `to` is replaced. */
export function renamed(presets: readonly UserPreset[], from: string, to: string): UserPreset[] {
  const name = cleanName(to);
  if (!name || name === from) return [...presets];
  return presets.filter((p) => p.name !== name).map((p) => (p.name === from ? { ...p, name } : p));
}

export function exportJson(presets: readonly UserPreset[]): string {
  return JSON.stringify({ format: EXPORT_FORMAT, version: 1, presets }, null, 2);
}

/** The presets in an exported file; throws an error naming the file and the field. */
export function parseImport(text: string, fileName: string): UserPreset[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`${fileName} is not JSON (${(e as Error).message}).`, { cause: e });
  }
  const record = data as { format?: unknown; presets?: unknown };
  if (record?.format !== EXPORT_FORMAT || !Array.isArray(record.presets)) throw new Error(`${fileName} is not an Attention Lab presets file (expected "format": "${EXPORT_FORMAT}" and a "presets" list).`);
  return record.presets.map((p: unknown, i) => {
    const { name, query } = (p ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string' || !cleanName(name)) throw new Error(`${fileName}: presets[${i}].name must be a non-empty text.`);
    if (typeof query !== 'string' || !query.startsWith('?')) throw new Error(`${fileName}: presets[${i}].query must be a link's query ("?prompt=…").`);
    return { name: cleanName(name), query };
  });
}

function load(): UserPreset[] {
  try {
    const text = globalThis.localStorage?.getItem(STORAGE_KEY);
    return text ? parseImport(text, 'the saved presets') : [];
  } catch {
    // Unreadable storage (private mode, a damaged value): start without presets rather than fail.
    return [];
  }
}

/** The presets, as kept in localStorage; every change is written at once. */
export const useUserPresets = create<{ presets: UserPreset[] }>()(() => ({ presets: load() }));

export function saveUserPresets(presets: UserPreset[]): void {
  useUserPresets.setState({ presets });
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, exportJson(presets));
  } catch {
    // Storage full or blocked: the presets stay for this visit.
  }
}
