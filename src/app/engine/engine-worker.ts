/// <reference lib="webworker" />
// The engine's Web Worker: it owns the GPU device and the diffusion pipeline, so the page's main
// thread only draws and reacts. Requests run one at a time; within a lane the newest wins
// (render-queue.ts), so a drag never leaves a queue of stale renders behind it.

import { GpuContext, GpuError } from '../../engine/gpu/gpu-context';
import type { BackendLoader } from '../../engine/sampling/backend';
import { DiffusionPipeline, type LoadProgress } from '../../engine/sampling/pipeline';
import type { BackendName } from '../../engine';
import { ModelCache } from '../../engine/weights/model-cache';
import type { ModelFolder } from '../../engine/weights/model-folder';
import type { LoadOptions, ModelSource } from '../models/model-source';
import type { TaesdDecoder } from '../../engine/nn/taesd-decoder';
import type { TaesdDetails, TaesdSource } from '../models/taesd-source';
import { planHub, resolveModel } from './model-loader';
import { planTaesdHub, resolveTaesd } from './taesd-loader';
import { RenderQueue, type RenderJob } from './render-queue';
import { LANES_BY_PRIORITY, type CacheListing, type FromWorker, type ToWorker, type WorkerReply } from './worker-protocol';

// ---- The one place where the app meets the engine's pipeline. -------------------------------
async function loadPipeline(gpu: GpuContext, folder: ModelFolder, backend: BackendName, onProgress: LoadProgress): Promise<DiffusionPipeline> {
  return DiffusionPipeline.load(gpu, folder, onProgress, { backend: backend === 'onnxruntime' ? await onnxRuntimeLoader() : undefined });
}

/** ONNX Runtime Web is loaded only when it is chosen: its WebAssembly runtime is megabytes. */
async function onnxRuntimeLoader(): Promise<BackendLoader> {
  const [ort, { onnxRuntimeBackend }] = await Promise.all([import('onnxruntime-web/webgpu'), import('../../engine/ort/ort-backend')]);
  // One thread: more need cross-origin isolation, which a static host may not give; the work is on the GPU.
  ort.env.wasm.numThreads = 1;
  return onnxRuntimeBackend(ort, 'webgpu');
}
type Pipeline = DiffusionPipeline;
// ----------------------------------------------------------------------------------------------

const scope = self as unknown as DedicatedWorkerGlobalScope;
let gpu: GpuContext | undefined;
let pipeline: Pipeline | undefined;
let lost = false;
/** The fast decoder, kept across models; given to each pipeline whose latents it decodes. */
let taesd: { decoder: TaesdDecoder; details: TaesdDetails } | undefined;
let cache: Promise<ModelCache> | undefined;
/** The download or copy of the model being loaded, so the page can stop it. */
let loading: AbortController | undefined;
/** Loads run one after another: a second waits for the first to settle. */
let loadChain: Promise<void> = Promise.resolve();
const openCache = () => (cache ??= ModelCache.open().catch((e: unknown) => {
  cache = undefined;
  throw new Error(`This browser's file storage (Origin Private File System) is not available: ${messageOf(e)}`, { cause: e });
}));
const queue = new RenderQueue(
  (job, signal) => run(pipeline!, job, signal),
  (job) => post({ type: 'dropped', id: job.id, lane: job.lane }),
);

function post(message: FromWorker): void {
  scope.postMessage(message);
}

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'load':
      loadChain = loadChain.then(() => load(message.requestId, message.source, message.options, message.backend));
      break;
    case 'abort-load':
      loading?.abort(new Error('Stopped. What was downloaded stays in the cache; open the model again to resume.'));
      break;
    case 'hub-plan':
      void answer(message.requestId, async () => ({ kind: 'hub-plan', plan: await planHub({ id: message.id, revision: message.revision, endpoint: message.endpoint }, await openCache()) }));
      break;
    case 'load-taesd':
      loadChain = loadChain.then(() => loadTaesd(message.requestId, message.source));
      break;
    case 'taesd-plan':
      void answer(message.requestId, async () => ({ kind: 'hub-plan', plan: await planTaesdHub({ id: message.id, revision: message.revision, endpoint: message.endpoint }, await openCache()) }));
      break;
    case 'cache-list':
      void answer(message.requestId, async () => ({ kind: 'cache', listing: await cacheListing() }));
      break;
    case 'cache-remove':
      void answer(message.requestId, async () => {
        await (await openCache()).remove(message.key);
        return { kind: 'cache', listing: await cacheListing() };
      });
      break;
    case 'generate':
      queue.submit({ id: message.id, lane: message.lane, request: message.request });
      break;
    case 'cancel':
      queue.cancel(message.lane);
      break;
    case 'simulate-device-loss':
      deviceLost(new GpuError('device-lost', 'The GPU device was lost (simulated). Recreating it.'));
      break;
  }
};

async function answer(requestId: number, work: () => Promise<WorkerReply>): Promise<void> {
  try {
    post({ type: 'reply', requestId, value: await work() });
  } catch (e) {
    post({ type: 'reply', requestId, error: messageOf(e) });
  }
}

async function cacheListing(): Promise<CacheListing> {
  const models = await (await openCache()).list();
  const estimate = await navigator.storage.estimate().catch(() => undefined);
  const persisted = await navigator.storage.persisted?.().catch(() => undefined);
  return { models, usage: estimate?.usage, quota: estimate?.quota, persisted };
}

/** Loads `source`; until it is ready the current model keeps rendering, and if it fails it stays. */
async function load(requestId: number, source: ModelSource, options: LoadOptions, backend: BackendName): Promise<void> {
  const started = performance.now();
  if (!gpu) {
    try {
      gpu = await GpuContext.create(navigator.gpu, {
        onLost: deviceLost,
        onError: (error) => post({ type: 'error', kind: error.kind, message: error.message }),
      });
      const a = gpu.adapter;
      const software = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
      post({ type: 'adapter', name: gpu.adapterName, software });
    } catch (e) {
      gpu = undefined;
      post({ type: 'error', kind: e instanceof GpuError ? e.kind : 'no-adapter', message: messageOf(e) });
      post({ type: 'reply', requestId, error: messageOf(e) });
      return;
    }
  }
  loading = new AbortController();
  let discard: (() => Promise<void>) | undefined;
  try {
    const resolved = await resolveModel(source, options, { cache: openCache, onTransfer: (progress) => post({ type: 'transfer-progress', progress }), signal: loading.signal });
    discard = resolved.discardOnFailure;
    const next = await loadPipeline(gpu, resolved.folder, backend, (fraction, what) => post({ type: 'load-progress', fraction, what }));
    await replacePipeline(next);
    post({ type: 'ready', info: next.info, details: resolved.details, loadMs: performance.now() - started });
    if (taesd) post({ type: 'taesd', state: attachTaesd(next, taesd) });
    post({ type: 'reply', requestId, value: { kind: 'loaded', details: resolved.details } });
    queue.start();
  } catch (e) {
    if (lost) return;
    await discard?.().catch(() => undefined);
    const message = loading.signal.aborted ? messageOf(loading.signal.reason) : messageOf(e);
    // Without a model to fall back on, the page shows the error panel; with one, a notice.
    if (!pipeline) post({ type: 'error', kind: e instanceof GpuError ? e.kind : 'model-load', message });
    post({ type: 'reply', requestId, error: message });
  } finally {
    loading = undefined;
  }
}

/** Loads a TAESD and gives it to the current model; refused (and the one before kept) when it
 * does not load or does not decode this model's latents. */
async function loadTaesd(requestId: number, source: TaesdSource): Promise<void> {
  if (!gpu || !pipeline) return post({ type: 'reply', requestId, error: 'Load a model first: a TAESD decodes its latents' });
  loading = new AbortController();
  let discard: (() => Promise<void>) | undefined;
  let decoder: TaesdDecoder | undefined;
  try {
    const resolved = await resolveTaesd(source, { cache: openCache, onTransfer: (progress) => post({ type: 'transfer-progress', progress }), signal: loading.signal });
    discard = resolved.discardOnFailure;
    gpu.takeLoadWarnings(); // an earlier failed load's, if any
    decoder = await resolved.load(gpu);
    const warnings = gpu.takeLoadWarnings();
    pipeline.setFastDecoder(decoder);
    const previous = taesd;
    taesd = { decoder, details: { ...resolved.details, latentChannels: decoder.latentChannels, ...(warnings.length && { warnings }) } };
    if (previous) void retireWhenIdle(previous.decoder);
    post({ type: 'taesd', state: { details: taesd.details, attached: true } });
    post({ type: 'reply', requestId, value: { kind: 'taesd', details: taesd.details } });
  } catch (e) {
    if (lost) return;
    decoder?.destroy();
    await discard?.().catch(() => undefined);
    post({ type: 'reply', requestId, error: loading.signal.aborted ? messageOf(loading.signal.reason) : messageOf(e) });
  } finally {
    loading = undefined;
  }
}

/** Gives `next` the TAESD where their latents match; says why not where they do not. */
function attachTaesd(next: Pipeline, fast: { decoder: TaesdDecoder; details: TaesdDetails }): { details: TaesdDetails; attached: boolean; message?: string } {
  try {
    next.setFastDecoder(fast.decoder);
    return { details: fast.details, attached: true };
  } catch (e) {
    return { details: fast.details, attached: false, message: messageOf(e) };
  }
}

/** A render in flight may still decode with `decoder` (its final image or a preview): freed once none runs. */
async function retireWhenIdle(decoder: TaesdDecoder): Promise<void> {
  while (queue.running) await new Promise((resolve) => setTimeout(resolve, 50));
  decoder.destroy();
}

/** Swaps in a newly loaded pipeline once the render in flight has stopped (between steps). */
async function replacePipeline(next: Pipeline): Promise<void> {
  const previous = pipeline;
  if (previous) {
    for (const lane of LANES_BY_PRIORITY) queue.cancel(lane);
    while (queue.running) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  pipeline = next;
  previous?.destroy();
}

async function run(p: Pipeline, job: RenderJob, signal: AbortSignal): Promise<void> {
  post({ type: 'started', id: job.id, lane: job.lane });
  try {
    // A link may ask for TAESD where none is loaded (or the model cannot use it): the VAE renders
    // meanwhile, and the page says which TAESD to load.
    const request = job.request.decoder === 'taesd' && !p.hasFastDecoder ? { ...job.request, decoder: undefined } : job.request;
    const result = await p.generate(request, {
      signal,
      onProgress: ({ step, steps, preview, nonFiniteFromStep }) => post({ type: 'progress', id: job.id, step, steps, preview, nonFiniteFromStep }),
    });
    if (signal.aborted) post({ type: 'dropped', id: job.id, lane: job.lane });
    else post({ type: 'result', id: job.id, lane: job.lane, image: result.image, ms: result.ms, msPerStep: result.msPerStep, nonFiniteFromStep: result.nonFiniteFromStep, notices: result.notices });
  } catch (e) {
    if (lost) return;
    if (signal.aborted) post({ type: 'dropped', id: job.id, lane: job.lane });
    else post({ type: 'error', id: job.id, kind: e instanceof GpuError ? e.kind : 'generate', message: messageOf(e) });
  }
}

/** The page recreates the whole worker: a lost device takes every buffer and pipeline with it. */
function deviceLost(error: GpuError): void {
  if (lost) return;
  lost = true;
  queue.stop();
  try {
    pipeline?.destroy();
    taesd?.decoder.destroy();
    gpu?.destroy();
  } catch {
    // The device is gone already; nothing left to free.
  }
  post({ type: 'device-lost', message: error.message });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
