// Connects the store to the engine worker: starts it, turns every settings change into a live
// render (the worker drops the stale ones), keeps the before/after baseline current, runs XY plots
// and turns engine problems into messages that say what to do.

import type { GenerateRequest, ModelInfo } from '../../engine';
import { attachModels } from '../models/model-controller';
import { afterModelReady, attachTaesd, onTaesdState } from '../models/taesd-controller';
import { isValidTarget, roundToMultiple, siteInTarget, toGenerateRequest, withModelDefaults, type SettingKey } from '../state/settings-schema';
import { useApp, type AppError, type ShownImage } from '../state/store';
import { startUrlSync } from '../state/url-sync';
import { axisName, cellRequest, formatAxisValue, type Axis } from '../state/xy-axes';
import { EngineClient, RenderError, type RenderOutcome } from './engine-client';
import type { ModelDetails } from './model-loader';
import { browserInfo, noAdapterHelp, noWebGpuHelp, softwareAdapterHelp } from './webgpu-help';
import type { EngineErrorKind } from './worker-protocol';

/** Identifies a request: equal keys render equal images (previews do not change the image). */
export function requestKey(request: GenerateRequest): string {
  return JSON.stringify({ ...request, preview: undefined });
}

/** The request as the engine renders it: with TAESD only where the current model has one (a link
 * may ask for it before it is loaded; the VAE renders meanwhile). */
function withDecoder(request: GenerateRequest): GenerateRequest {
  return request.decoder === 'taesd' && !useApp.getState().model.taesd.state?.attached ? { ...request, decoder: undefined } : request;
}

/** First-render steps on a CPU adapter, where one step of the default model takes a minute or more. */
const SOFTWARE_STEPS = 2;

let client: EngineClient | undefined;
let started = false;
let liveSentKey: string | undefined;
let baselineSentKey: string | undefined;
let gridRun = 0;
/** Baselines by key: moving a multiplier slider never changes the baseline, so keep a few. */
const baselineCache = new Map<string, ShownImage>();
const BASELINE_CACHE_SIZE = 8;

/** Settings a person keeps when they switch models; the rest take the new model's defaults. */
const KEPT_ACROSS_MODELS: readonly SettingKey[] = ['prompt', 'negative', 'seed', 'self', 'cross', 'target', 'freeu', 'freeuRange', 'compare', 'backend', 'prediction', 'decoder'];

/** Starts the engine and the URL sync once; safe to call from a React effect. */
export function startPlayground(): void {
  if (started) return;
  started = true;
  startUrlSync();
  useApp.subscribe((state, previous) => {
    // Another backend is another worker: a fresh device and the model loaded again.
    if (state.settings.backend !== previous.settings.backend) restartEngine(`Now running on ${state.settings.backend === 'onnxruntime' ? 'ONNX Runtime Web' : 'our WGSL engine'}.`);
    if (state.settings !== previous.settings || state.engine.info !== previous.engine.info || state.engine.phase !== previous.engine.phase || state.model.taesd.state !== previous.model.taesd.state) scheduleSync();
  });
  (globalThis as { attentionLab?: unknown }).attentionLab = {
    simulateDeviceLoss: () => client?.simulateDeviceLoss(),
  };
  startEngine();
}

/** Said once the restarted engine is ready, instead of the device-loss message of a recovery. */
let restartNotice: string | undefined;

/** After a model load failure, a fatal loss or a change of backend: a fresh worker, device and
 * model. `notice` is shown when it is ready. */
export function restartEngine(notice = 'The engine is ready again.'): void {
  restartNotice = notice;
  client?.dispose();
  client = undefined;
  liveSentKey = undefined;
  baselineSentKey = undefined;
  useApp.setState({ error: undefined, engine: { ...useApp.getState().engine, phase: 'starting', loadFraction: 0, loadWhat: '' }, render: { busy: false, step: 0, steps: 0 } });
  startEngine();
}

function startEngine(): void {
  if (typeof navigator === 'undefined' || !navigator.gpu) {
    fail('no-webgpu', 'Attention Lab runs the model on your GPU through WebGPU, which this browser does not offer. Chrome or Edge 113 and newer have it on Windows, macOS and ChromeOS.');
    return;
  }
  const { backend } = useApp.getState().settings;
  const current = client;
  client = new EngineClient(undefined, {}, backend, {
    adapter: (name, software) => setEngine({ adapter: name, software, phase: 'loading', loadWhat: 'Starting…' }),
    loadProgress: (fraction, what) => {
      // While another model loads, the one on screen stays ready; its progress shows in the Model panel.
      if (useApp.getState().engine.phase === 'ready') useApp.setState({ model: { ...useApp.getState().model, loading: { label: useApp.getState().model.loading?.label ?? '', transfer: undefined, fraction, what } } });
      else setEngine({ phase: 'loading', loadFraction: fraction, loadWhat: what });
    },
    transferProgress: (progress) => {
      const model = useApp.getState().model;
      useApp.setState({ model: { ...model, loading: { label: model.loading?.label ?? progress.what, transfer: progress } } });
    },
    ready: (info, details, loadMs) => onReady(info, details, loadMs),
    taesd: onTaesdState,
    error: (kind, message) => onEngineError(kind, message),
    deviceLost: (message, recovering) => {
      if (recovering) {
        useApp.getState().notify('The GPU device was lost. Recreating it and rendering again…', 'warning');
        setEngine({ phase: 'loading', loadFraction: 0, loadWhat: 'Recreating the GPU device…' });
      } else {
        fail('device-lost', message);
      }
    },
  });
  attachModels(client, current === undefined);
  attachTaesd(client);
}

function setEngine(patch: Partial<ReturnType<typeof useApp.getState>['engine']>): void {
  useApp.setState({ engine: { ...useApp.getState().engine, ...patch } });
}

function onReady(info: ModelInfo, details: ModelDetails, loadMs: number): void {
  const notice = restartNotice;
  restartNotice = undefined;
  const state = useApp.getState();
  const previous = state.model.details;
  const first = !state.engine.info || !previous;
  const switched = !first && previous.ref !== details.ref;
  // The same model loaded again from the Model panel (another prediction type): render again. A
  // restart (another backend, a fresh device) loads it again too, and says its own notice.
  const reloaded = !first && !switched && !!state.model.loading && notice === undefined;
  // The link's settings hold for the model it names; a model loaded later brings its own defaults.
  const given = switched ? new Set([...state.given].filter((k) => KEPT_ACROSS_MODELS.includes(k))) : state.given;
  let settings = first || switched ? withModelDefaults({ ...state.settings, model: details.ref }, info.defaults, given, info) : { ...state.settings, model: details.ref };
  if (switched && state.settings.prompt === (state.engine.info?.defaults.prompt ?? '')) settings = { ...settings, prompt: info.defaults.prompt ?? '' };
  settings = fitSize(settings, info, state.notify);
  useApp.setState({ model: { ...state.model, details, loading: undefined, needed: undefined, error: undefined }, given: switched ? given : state.given });
  if ((first || switched) && state.engine.software && !given.has('steps') && settings.steps > SOFTWARE_STEPS) {
    state.notify(
      `Your browser renders WebGPU on the CPU (${state.engine.adapter}), so each step takes a long time: Steps starts at ${SOFTWARE_STEPS} instead of the model's ${settings.steps}. Raise it for full quality. ${softwareAdapterHelp(visitor())}`,
      'warning',
    );
    settings = { ...settings, steps: SOFTWARE_STEPS };
  }
  if (settings.target !== 'all' && isValidTarget(settings.target) && !info.sites.some((site) => siteInTarget(site, settings.target))) {
    state.notify(`This model has no attention block "${settings.target}"; the sliders act on all blocks.`, 'warning');
    settings = { ...settings, target: 'all' };
  }
  useApp.setState({ settings, engine: { ...useApp.getState().engine, phase: 'ready', info, loadMs, loadFraction: 1, loadWhat: 'Ready' } });
  if (info.warnings?.length) notifyLoadWarnings(info);
  void afterModelReady();
  if (switched) {
    liveSentKey = undefined;
    baselineSentKey = undefined;
    baselineCache.clear();
    useApp.setState({ shown: undefined, baseline: undefined });
    useApp.getState().notify(`Loaded ${info.name}.`, 'info');
  } else if (reloaded) {
    liveSentKey = undefined;
    baselineSentKey = undefined;
    baselineCache.clear();
    useApp.getState().notify(`Loaded ${info.name} again.`, 'info');
  } else if (!first) {
    // After a device loss: the client sent unfinished renders again; a finished image is
    // rendered again too, on the new device, so what is shown comes from a working GPU.
    if (!useApp.getState().render.busy) liveSentKey = undefined;
    baselineSentKey = undefined;
    useApp.getState().notify(notice ?? 'The GPU device is back; rendering again.', 'info');
  }
}

/** What `npm run check-model` would warn about the model just loaded, in one notice. */
function notifyLoadWarnings(info: ModelInfo): void {
  const warnings = info.warnings ?? [];
  const more = warnings.length > 3 ? ` (and ${warnings.length - 3} more tensors)` : '';
  useApp.getState().notify(`${info.name} has broken weights: ${warnings.slice(0, 3).join('; ')}${more}. Load another copy of the model, or check its files with npm run check-model.`, 'warning');
}

/** The image size rounded to what `info`'s model takes, with a notice when it changes. */
function fitSize<T extends { width: number; height: number }>(settings: T, info: ModelInfo, notify: (text: string, tone?: 'info' | 'warning') => void): T {
  const width = roundToMultiple(settings.width, info.sizeMultiple);
  const height = roundToMultiple(settings.height, info.sizeMultiple);
  if (width === settings.width && height === settings.height) return settings;
  notify(`${info.name} takes sizes in multiples of ${info.sizeMultiple}: ${settings.width}×${settings.height} became ${width}×${height}.`, 'warning');
  return { ...settings, width, height };
}

let syncQueued = false;
function scheduleSync(): void {
  if (syncQueued) return;
  syncQueued = true;
  queueMicrotask(() => {
    syncQueued = false;
    sync();
  });
}

/** Sends the live request, and the baseline when comparing, if they changed. */
function sync(): void {
  const { settings, engine } = useApp.getState();
  if (engine.phase !== 'ready' || !client) return;
  // Live renders send a preview after each step: on a slow GPU the picture forms as it renders.
  const live: GenerateRequest = withDecoder({ ...toGenerateRequest(settings), preview: true });
  const key = requestKey(live);
  if (key !== liveSentKey) {
    liveSentKey = key;
    useApp.setState({ render: { wantedKey: key, busy: true, step: 0, steps: live.steps } });
    client
      .render('live', live, {
        onProgress: (step, steps, preview, nonFiniteFromStep) => {
          const render = useApp.getState().render;
          if (liveSentKey === key && !render.cancelled) useApp.setState({ render: { wantedKey: key, busy: true, step, steps, preview: preview ?? render.preview, nonFiniteFromStep: nonFiniteFromStep ?? render.nonFiniteFromStep } });
        },
      })
      .then((outcome) => showLive(key, outcome), (e: unknown) => renderFailed(key, e));
  }
  if (settings.compare) {
    const neutral = withDecoder(toGenerateRequest(settings, { neutral: true }));
    const neutralKey = requestKey(neutral);
    const cached = baselineCache.get(neutralKey);
    if (cached) {
      if (useApp.getState().baseline !== cached) useApp.setState({ baseline: cached });
    } else if (neutralKey === key && useApp.getState().shown?.key === key) {
      rememberBaseline(useApp.getState().shown!);
    } else if (neutralKey !== baselineSentKey) {
      baselineSentKey = neutralKey;
      useApp.setState({ baselineRendering: true });
      const settled = () => baselineSentKey === neutralKey && useApp.setState({ baselineRendering: false });
      client.render('baseline', neutral).then((outcome) => {
        settled();
        if (outcome.status === 'done') rememberBaseline({ ...outcome.result, key: neutralKey });
      }, (e: unknown) => (settled(), renderFailed(neutralKey, e)));
    }
  }
}

/** Stops the live render (the worker drops it at its step's end); the image shown stays. */
export function cancelRender(): void {
  const { render } = useApp.getState();
  if (!render.busy || !client) return;
  client.cancel('live');
  useApp.setState({ render: { ...render, busy: false, preview: undefined, cancelled: true } });
}

/** Renders the current settings again after a cancel. */
export function resumeRender(): void {
  liveSentKey = undefined;
  scheduleSync();
}

function showLive(key: string, outcome: RenderOutcome): void {
  // A render that finished just before a newer request reached the worker is stale: drop it, so
  // the image only ever shows the settings of the moment (and of the address bar).
  if (outcome.status !== 'done' || key !== liveSentKey) return;
  const { notices, ...result } = outcome.result;
  useApp.setState({ shown: { ...result, key }, render: { wantedKey: key, busy: false, step: 0, steps: 0 } });
  // What the backend rendered without (a control it cannot run): once per text, not per drag step.
  const shownNotices = useApp.getState().notices;
  for (const text of notices ?? []) if (!shownNotices.some((n) => n.text === text)) useApp.getState().notify(text, 'warning');
  if (useApp.getState().settings.compare) scheduleSync();
}

function rememberBaseline(shown: ShownImage): void {
  baselineCache.set(shown.key, shown);
  while (baselineCache.size > BASELINE_CACHE_SIZE) baselineCache.delete(baselineCache.keys().next().value!);
  const { settings } = useApp.getState();
  if (requestKey(withDecoder(toGenerateRequest(settings, { neutral: true }))) === shown.key) useApp.setState({ baseline: shown });
}

function renderFailed(key: string, e: unknown): void {
  const error = e instanceof RenderError ? e : new RenderError('generate', String(e));
  if (key === liveSentKey) useApp.setState({ render: { ...useApp.getState().render, busy: false } });
  // Let the next change try again.
  liveSentKey = key === liveSentKey ? undefined : liveSentKey;
  baselineSentKey = key === baselineSentKey ? undefined : baselineSentKey;
  onEngineError(error.kind, error.message, true);
}

/** Renders the grid of `x` × `y` cell by cell in the worker's lowest-priority lane. */
export async function runXYPlot(x: Axis, y: Axis): Promise<void> {
  const { settings, engine } = useApp.getState();
  if (!client || engine.phase !== 'ready' || !engine.info) return;
  const run = ++gridRun;
  const xs = x.values.length ? x.values : [NaN];
  const ys = y.kind !== 'none' && y.values.length ? y.values : [NaN];
  const total = xs.length * ys.length;
  const setXY = (patch: Partial<ReturnType<typeof useApp.getState>['xy']>) => {
    if (run === gridRun) useApp.setState({ xy: { ...useApp.getState().xy, ...patch } });
  };
  setXY({ status: 'running', x, y, cells: new Array(total).fill(undefined), done: 0, total, settings, message: undefined, nonFinite: [] });
  const sites = engine.info.sites;
  for (let row = 0; row < ys.length; row++) {
    for (let col = 0; col < xs.length; col++) {
      if (run !== gridRun || !client) return;
      const cell = [
        { axis: x, value: xs[col] },
        ...(y.kind === 'none' ? [] : [{ axis: y, value: ys[row] }]),
      ];
      let outcome: RenderOutcome;
      try {
        outcome = await client.render('grid', withDecoder(cellRequest(settings, sites, cell)));
      } catch (e) {
        setXY({ status: 'failed', message: e instanceof Error ? e.message : String(e) });
        return;
      }
      if (outcome.status === 'dropped') {
        setXY({ status: 'cancelled' });
        return;
      }
      if (run !== gridRun) return;
      const { cells: before, nonFinite = [] } = useApp.getState().xy;
      const cells = [...before];
      cells[row * xs.length + col] = outcome.result.image;
      // A broken cell is named under the grid: its flat colour is not what those settings look like.
      const broken = outcome.result.nonFiniteFromStep === undefined ? nonFinite : [...nonFinite, cell.map(({ axis, value }) => `${axisName(axis.kind)} ${formatAxisValue(axis.kind, value)}`).join(', ')];
      setXY({ cells, done: useApp.getState().xy.done + 1, nonFinite: broken });
    }
  }
  setXY({ status: 'done' });
}

export function cancelXYPlot(): void {
  if (useApp.getState().xy.status !== 'running') return;
  gridRun++;
  client?.cancel('grid');
  useApp.setState({ xy: { ...useApp.getState().xy, status: 'cancelled' } });
}

const TITLES: Record<EngineErrorKind, string> = {
  'no-webgpu': 'WebGPU is not available in this browser',
  'no-adapter': 'No GPU adapter',
  limits: 'This GPU is too small for the model',
  'device-lost': 'The GPU device keeps getting lost',
  validation: 'The GPU reported an error',
  'out-of-memory': 'The GPU ran out of memory',
  'model-load': 'The model could not be loaded',
  generate: 'Rendering failed',
  worker: 'The engine could not start',
};

function helpFor(kind: EngineErrorKind): Pick<AppError, 'help' | 'action'> {
  switch (kind) {
    case 'no-webgpu':
      return {
        help: noWebGpuHelp(visitor()),
        action: 'reload',
      };
    case 'no-adapter':
      return { help: noAdapterHelp(visitor()), action: 'reload' };
    case 'limits':
      return { help: 'Try another browser or computer with a larger GPU; integrated GPUs with little shared memory may not fit the model.' };
    case 'device-lost':
      return { help: 'Close other tabs that use the GPU, update the GPU driver, and reload the page.', action: 'reload' };
    case 'out-of-memory':
      return { help: 'Close other tabs that use the GPU, then try again.', action: 'retry' };
    case 'model-load':
      return { help: 'Check your connection and try again. If you host Attention Lab yourself, make sure public/models/ was deployed with the app.', action: 'retry' };
    case 'worker':
      return { help: 'Reload the page. If it happens again, your browser may block module workers (update it).', action: 'reload' };
    default:
      return { help: 'Try other settings, or reload the page. If it happens again, please report it with the link (Copy link).', action: 'retry' };
  }
}

function visitor() {
  return browserInfo(typeof navigator === 'undefined' ? '' : navigator.userAgent);
}

function onEngineError(kind: EngineErrorKind, message: string, duringRender = false): void {
  const { engine } = useApp.getState();
  // A GPU error report while everything else works is a warning, not a stop.
  if (engine.phase === 'ready' && (kind === 'validation' || duringRender)) {
    useApp.getState().notify(`${TITLES[kind]}: ${message}`, 'warning');
    return;
  }
  fail(kind, message);
}

function fail(kind: EngineErrorKind, message: string): void {
  useApp.setState({
    error: { kind, title: TITLES[kind], message, ...helpFor(kind) },
    engine: { ...useApp.getState().engine, phase: 'failed' },
    render: { ...useApp.getState().render, busy: false },
  });
}
