// The playground's one store: the settings (mirrored in the URL), what the engine reports, the
// images on screen, the XY plot and the notices. Components read it with useApp(selector); the
// render controller (engine/render-controller.ts) turns settings changes into engine requests.

import { create } from 'zustand';
import type { AttentionMapsResult, AttentionMultipliers, ModelInfo, RgbaImage } from '../../engine';
import type { EngineErrorKind } from '../engine/worker-protocol';
import { INITIAL_MODEL_STATE, type ModelState } from '../models/model-state';
import { DEFAULT_SETTINGS, parseSettings, type MultiplierPart, type SettingKey, type Settings } from './settings-schema';
import { readXYAxes, type Axis, type XYAxes } from './xy-axes';

export interface Notice {
  id: number;
  text: string;
  /** 'warning' stays until dismissed; 'info' fades after a few seconds. */
  tone: 'info' | 'warning';
}

export interface AppError {
  kind: EngineErrorKind;
  title: string;
  message: string;
  /** What the person can do about it. */
  help: string;
  action?: 'retry' | 'reload';
}

export interface EngineState {
  phase: 'starting' | 'loading' | 'ready' | 'failed';
  adapter?: string;
  /** The adapter is a CPU implementation (SwiftShader and the like). */
  software?: boolean;
  loadFraction: number;
  loadWhat: string;
  loadMs?: number;
  info?: ModelInfo;
}

export interface ShownImage {
  image: RgbaImage;
  /** The request that made it (requestKey), to tell whether it matches the settings. */
  key: string;
  ms: number;
  msPerStep: number;
  /** The image is broken (NaN or ±Infinity) from this sampling step on (1-based); said beside it. */
  nonFiniteFromStep?: number;
  /** The prompt's tokens (start and end too) and the attention maps the request asked for. */
  promptTokens?: string[];
  attentionMaps?: AttentionMapsResult;
}

export interface RenderState {
  /** The key of the newest live request sent; the image is current when shown.key equals it. */
  wantedKey?: string;
  busy: boolean;
  step: number;
  steps: number;
  /** The image as predicted after `step` (cheap for pixel-space models); cleared when the render ends. */
  preview?: RgbaImage;
  /** The preview's values went non-finite from this step (1-based). */
  nonFiniteFromStep?: number;
  /** The person stopped this render (Cancel); the image shown is an older one. */
  cancelled?: boolean;
}

export interface XYPlotState {
  status: 'idle' | 'running' | 'done' | 'cancelled' | 'failed';
  x?: Axis;
  y?: Axis;
  /** Row-major, y then x; undefined until rendered. */
  cells: (RgbaImage | undefined)[];
  done: number;
  total: number;
  /** The page's settings when the plot started: the grid's shared seed, prompt and the rest. */
  settings?: Settings;
  /** Cells whose values went NaN or ±Infinity, by their axis values ("Self-attention q ×10, CFG 30"). */
  nonFinite?: string[];
  message?: string;
}

export type ChangeKind = 'drag' | 'discrete';

export interface AppState {
  settings: Settings;
  /** Settings the URL or the person chose; model defaults fill in only the others. */
  given: ReadonlySet<SettingKey>;
  /** How the last settings change was made: drags replace the history entry, the rest push one. */
  lastChange: ChangeKind;
  notices: Notice[];
  engine: EngineState;
  error?: AppError;
  shown?: ShownImage;
  baseline?: ShownImage;
  render: RenderState;
  /** The "before" image (every multiplier at 1) is being rendered for the comparison. */
  baselineRendering?: boolean;
  xy: XYPlotState;
  /** The XY plot a person rendered or a link asked for, while its dialog is open; mirrored in the
   * URL's `xy` parameter, so a link brings the grid back. */
  xyAxes?: XYAxes;
  /** Which model is loaded, loading, asked for by a link, cached (models/model-state.ts). */
  model: ModelState;

  update(patch: Partial<Settings>, change?: ChangeKind): void;
  setMultiplier(which: 'self' | 'cross' | 'clip', part: MultiplierPart, value: number, change?: ChangeKind): void;
  setMultipliers(which: 'self' | 'cross' | 'clip', multipliers: AttentionMultipliers, change?: ChangeKind): void;
  /** The pointer or key that was dragging a control is released. */
  endDrag(): void;
  notify(text: string, tone?: Notice['tone']): void;
  dismissNotice(id: number): void;
}

let nextNoticeId = 1;
const initial = typeof location === 'undefined' ? { settings: { ...DEFAULT_SETTINGS }, given: new Set<SettingKey>(), notices: [] } : parseSettings(location.search);
const initialXY = readXYAxes(typeof location === 'undefined' ? '' : location.search);

export const useApp = create<AppState>()((set, get) => ({
  settings: initial.settings,
  given: initial.given,
  lastChange: 'discrete',
  notices: [...initial.notices, ...initialXY.notices].map((text) => ({ id: nextNoticeId++, text, tone: 'warning' as const })),
  engine: { phase: 'starting', loadFraction: 0, loadWhat: '' },
  render: { busy: false, step: 0, steps: 0 },
  xy: { status: 'idle', cells: [], done: 0, total: 0 },
  xyAxes: initialXY.axes,
  model: INITIAL_MODEL_STATE,

  update(patch, change = 'discrete') {
    const given = new Set(get().given);
    for (const key of Object.keys(patch) as SettingKey[]) given.add(key);
    set({ settings: { ...get().settings, ...patch }, given, lastChange: change });
  },
  setMultiplier(which, part, value, change = 'discrete') {
    get().update({ [which]: { ...get().settings[which], [part]: value } }, change);
  },
  setMultipliers(which, multipliers, change = 'discrete') {
    get().update({ [which]: { ...multipliers } }, change);
  },
  endDrag() {
    if (get().lastChange === 'drag') set({ lastChange: 'discrete' });
  },
  notify(text, tone = 'info') {
    const id = nextNoticeId++;
    // The same text twice in a row (a repeated click) shows once.
    const notices = get().notices.filter((n) => n.text !== text);
    set({ notices: [...notices, { id, text, tone }].slice(-5) });
    if (tone === 'info') setTimeout(() => get().dismissNotice(id), 5000);
  },
  dismissNotice(id) {
    set({ notices: get().notices.filter((n) => n.id !== id) });
  },
}));
