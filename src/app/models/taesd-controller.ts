// The fast decoder (TAESD) on the page's side: check a hub TAESD's size, download it after consent,
// open one from files, bring back the last one used from the cache when the page starts, and say
// which one to load when a link asks for `dec=taesd` where there is none. The worker does the work
// (taesd-loader.ts); this side keeps the store current.

import { parseHubId } from '../../engine/weights/hub-repo';
import type { EngineClient } from '../engine/engine-client';
import type { HubPlan } from '../engine/model-loader';
import { useApp } from '../state/store';
import { hubEndpoint, refreshCache } from './model-controller';
import { describeModelRef, parseModelRef } from './model-source';
import type { TaesdPanelState } from './model-state';
import { DEFAULT_TAESD_HUB_ID, TAESD_REF_PREFIX, type TaesdSource, type TaesdState } from './taesd-source';

/** localStorage: the cache key of the TAESD last loaded, brought back at the next start. */
const REMEMBERED_KEY = 'attention-lab:taesd';

let client: EngineClient | undefined;
/** A new worker has no TAESD yet: the remembered one is loaded once its first model is ready. */
let restorePending = false;

function setTaesd(patch: Partial<TaesdPanelState>): void {
  const model = useApp.getState().model;
  useApp.setState({ model: { ...model, taesd: { ...model.taesd, ...patch } } });
}

export function attachTaesd(next: EngineClient): void {
  client = next;
  restorePending = true;
  setTaesd({ state: undefined, loading: undefined });
}

/** The worker's word on the TAESD: loaded, and whether this model uses it. */
export function onTaesdState(state: TaesdState): void {
  const before = useApp.getState().model.taesd.state;
  setTaesd({ state, needed: state.attached ? undefined : useApp.getState().model.taesd.needed });
  if (!state.attached && state.message && before?.attached !== false) {
    useApp.getState().notify(`The fast decoder ${state.details.label} does not fit this model: ${state.message}. Previews use the quick projection and images the VAE.`, 'warning');
  }
}

/** Once a model is ready: the TAESD used last time (from the cache), then the link's wish. */
export async function afterModelReady(): Promise<void> {
  if (restorePending && client) {
    restorePending = false;
    const key = localStorage.getItem(REMEMBERED_KEY);
    const cached = key ? (await refreshCache())?.models.find((m) => m.key === key && m.complete && m.role === 'taesd') : undefined;
    if (cached) await openTaesd({ kind: 'cached', key: cached.key }, cached.label, { quiet: true });
  }
  // The worker says whether the new model takes the TAESD right after 'ready': hear it first.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const { settings, model } = useApp.getState();
  if (settings.decoder !== 'taesd' || model.taesd.state?.attached || model.taesd.loading || model.taesd.needed) return;
  const message = `This link decodes with TAESD (fast), which is not loaded here: the VAE renders meanwhile. Load ${DEFAULT_TAESD_HUB_ID} (for SD 1.x and 2.x) or your own TAESD under Fast decoder.`;
  setTaesd({ needed: message });
  useApp.setState({ model: { ...useApp.getState().model, dialog: true } });
  useApp.getState().notify(`${message} See the Model panel.`, 'warning');
}

/** Loads `source` as the fast decoder; the one before (if any) stays if this fails. */
export async function openTaesd(source: TaesdSource, label: string, opts: { quiet?: boolean } = {}): Promise<boolean> {
  if (!client) return false;
  const model = useApp.getState().model;
  const showsLoading = !model.loading;
  useApp.setState({ model: { ...model, loading: showsLoading ? { label } : model.loading, taesd: { ...model.taesd, loading: label, error: undefined } } });
  try {
    const details = await client.loadTaesd(source);
    localStorage.setItem(REMEMBERED_KEY, details.key);
    setTaesd({ hubPlan: undefined, needed: undefined });
    if (!opts.quiet) useApp.getState().notify(`Fast decoder: ${details.label}. Step previews use it; pick "TAESD (fast)" as the Decoder for quick final images too.`, 'info');
    return true;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    setTaesd({ error: message });
    const current = useApp.getState().model.details;
    if (!opts.quiet) useApp.getState().notify(`Could not load the TAESD ${label}: ${message.replace(/\.?$/, '.')}${current ? ` ${current.label} keeps working.` : ''}`, 'warning');
    return false;
  } finally {
    const after = useApp.getState().model;
    useApp.setState({ model: { ...after, loading: showsLoading && after.loading?.label === label ? undefined : after.loading, taesd: { ...after.taesd, loading: undefined } } });
    void refreshCache();
  }
}

/** The files and size of a hub TAESD, before anything is downloaded. */
export async function checkTaesdHub(text: string): Promise<HubPlan | undefined> {
  if (!client) return undefined;
  setTaesd({ error: undefined, hubPlan: undefined });
  try {
    const { id, revision } = parseHubId(text);
    const plan = await client.taesdPlan(id, revision, hubEndpoint());
    setTaesd({ hubPlan: plan });
    return plan;
  } catch (e) {
    setTaesd({ error: e instanceof Error ? e.message : String(e) });
    return undefined;
  }
}

/** The person confirmed the download of `plan`. */
export function downloadTaesd(plan: HubPlan): Promise<boolean> {
  const ref = parseModelRef(plan.ref.slice(TAESD_REF_PREFIX.length));
  if (ref?.kind !== 'hub') return Promise.resolve(false);
  return openTaesd({ kind: 'hub', id: ref.id, revision: ref.revision, endpoint: hubEndpoint(), consented: true }, describeModelRef(ref));
}
