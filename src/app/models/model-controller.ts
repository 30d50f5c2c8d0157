// What the Model panel and the page's links do with models: open the one a link names (from the
// cache at once, from the hub after consent, or say which file to open), open files and folders,
// check and download hub repositories, list and remove cached models. The engine worker does the
// work (model-loader.ts); this side keeps the store current.

import { HUB_ENDPOINT, parseHubId } from '../../engine/weights/hub-repo';
import { cacheKeyOf } from '../../engine/weights/model-cache';
import type { EngineClient } from '../engine/engine-client';
import type { HubPlan } from '../engine/model-loader';
import { useApp } from '../state/store';
import { describeModelRef, parseModelRef, type ModelSource, type SingleFileConfig } from './model-source';
import type { ModelState } from './model-state';

let client: EngineClient | undefined;

/** The hub's address; tests and mirrors set window.attentionLabHubEndpoint or VITE_HUB_ENDPOINT. */
export function hubEndpoint(): string {
  return (globalThis as { attentionLabHubEndpoint?: string }).attentionLabHubEndpoint ?? import.meta.env.VITE_HUB_ENDPOINT ?? HUB_ENDPOINT;
}

export function builtinUrl(id: string): string {
  return new URL(`${import.meta.env.BASE_URL}models/${id}/`, location.href).href;
}

function setModel(patch: Partial<ModelState>): void {
  useApp.setState({ model: { ...useApp.getState().model, ...patch } });
}

/** A new engine client: loads the model the settings name (at start, after a restart). */
export function attachModels(next: EngineClient, _first: boolean): void {
  client = next;
  void loadNamedModel();
}

/** The model `settings.model` names: built in, cached, or asked for. */
async function loadNamedModel(): Promise<void> {
  const text = useApp.getState().settings.model;
  const ref = parseModelRef(text);
  if (!ref || ref.kind === 'builtin') return void openModel({ kind: 'builtin', id: ref?.id ?? text, url: builtinUrl(ref?.id ?? text) }, describeModelRef(ref ?? { kind: 'builtin', id: text }));
  const key = cacheKeyOf(text);
  const listing = await refreshCache();
  const cached = listing?.models.find((m) => m.key === key && m.complete);
  if (cached) return void openModel({ kind: 'cached', key }, cached.label);
  const name = describeModelRef(ref);
  if (ref.kind === 'hub') {
    setModel({ dialog: true, needed: { ref: text, message: `This link renders with ${name} from Hugging Face, which is not in this browser yet. Check its size, then download it.` } });
    void checkHub(`${ref.id}@${ref.revision}`);
  } else {
    const what = ref.kind === 'file' ? `the file ${ref.name}` : `the diffusers folder ${ref.name}`;
    setModel({ dialog: true, needed: { ref: text, message: `This link renders with ${what} (content hash ${ref.hash}), which is not in this browser. Open it below to render the image.` } });
  }
  useApp.getState().notify(`The link's model, ${name}, needs to be loaded: see the Model panel.`, 'warning');
  useApp.setState({ engine: { ...useApp.getState().engine, phase: 'loading', loadWhat: `waiting for ${name}` } });
}

/** Loads `source`; the model on screen keeps working until it is ready, and stays if this fails. */
export async function openModel(source: ModelSource, label: string): Promise<boolean> {
  if (!client) return false;
  const config = (globalThis as { attentionLabSingleFileConfig?: SingleFileConfig }).attentionLabSingleFileConfig;
  if (source.kind === 'file' && config && !source.config) source = { ...source, config };
  const { prediction } = useApp.getState().settings;
  setModel({ loading: { label }, error: undefined });
  try {
    await client.loadModel(source, { predictionType: prediction || undefined });
    void refreshCache();
    return true;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const current = useApp.getState().model.details;
    setModel({ loading: undefined, error: message });
    if (current) useApp.getState().notify(`Could not load ${label}: ${message} ${current.label} is still loaded.`, 'warning');
    void refreshCache();
    return false;
  }
}

/** The files and total size of a hub repo, before anything is downloaded. */
export async function checkHub(text: string): Promise<HubPlan | undefined> {
  if (!client) return undefined;
  const before = useApp.getState().model.needed;
  setModel({ error: undefined, needed: before && { ...before, hubPlan: undefined } });
  try {
    const { id, revision } = parseHubId(text);
    const plan = await client.hubPlan(id, revision, hubEndpoint());
    const needed = useApp.getState().model.needed;
    setModel({ error: undefined, needed: needed ? { ...needed, hubPlan: plan } : { ref: plan.ref, message: '', hubPlan: plan } });
    return plan;
  } catch (e) {
    setModel({ error: e instanceof Error ? e.message : String(e) });
    return undefined;
  }
}

/** The person confirmed the download of `plan`. */
export function downloadHub(plan: HubPlan): Promise<boolean> {
  const ref = parseModelRef(plan.ref);
  if (ref?.kind !== 'hub') return Promise.resolve(false);
  return openModel({ kind: 'hub', id: ref.id, revision: ref.revision, endpoint: hubEndpoint(), consented: true }, describeModelRef(ref));
}

export function stopLoading(): void {
  client?.abortLoad();
}

export async function refreshCache(): Promise<ModelState['cache']> {
  if (!client) return undefined;
  try {
    const cache = await client.cacheList();
    setModel({ cache });
    return cache;
  } catch (e) {
    setModel({ error: e instanceof Error ? e.message : String(e) });
    return undefined;
  }
}

export async function removeCached(key: string): Promise<void> {
  if (!client) return;
  try {
    setModel({ cache: await client.cacheRemove(key) });
  } catch (e) {
    useApp.getState().notify(`Could not remove the cached model: ${e instanceof Error ? e.message : String(e)}`, 'warning');
  }
}

/** Switches the prediction type (SD 2.x: epsilon or v) and loads the model again with it. */
export function setPrediction(prediction: '' | 'epsilon' | 'v_prediction'): void {
  const { details } = useApp.getState().model;
  useApp.getState().update({ prediction });
  if (!details) return;
  const ref = parseModelRef(details.ref);
  const source: ModelSource = details.key ? { kind: 'cached', key: details.key } : { kind: 'builtin', id: details.label, url: builtinUrl(ref?.kind === 'builtin' ? ref.id : details.label) };
  void openModel(source, details.label);
}
