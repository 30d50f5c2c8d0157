/// <reference lib="webworker" />
// The engine's Web Worker: it owns the GPU device and the diffusion pipeline, so the page's main
// thread only draws and reacts. Requests run one at a time; within a lane the newest wins
// (render-queue.ts), so a drag never leaves a queue of stale renders behind it.

import { GpuContext, GpuError } from '../../engine/gpu/gpu-context';
import type { BackendLoader } from '../../engine/sampling/backend';
import { DiffusionPipeline, type LoadProgress } from '../../engine/sampling/pipeline';
import type { BackendName } from '../../engine/sampling/pipeline-types';
import { urlModelFolder } from '../../engine/weights/model-folder';
import { RenderQueue, type RenderJob } from './render-queue';
import type { FromWorker, ToWorker } from './worker-protocol';

// ---- The one place where the app meets the engine's pipeline. -------------------------------
async function loadPipeline(gpu: GpuContext, modelUrl: string, backend: BackendName, onProgress: LoadProgress): Promise<DiffusionPipeline> {
  return DiffusionPipeline.load(gpu, urlModelFolder(modelUrl), onProgress, { backend: backend === 'onnxruntime' ? await onnxRuntimeLoader() : undefined });
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
      void load(message.modelUrl, message.backend);
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

async function load(modelUrl: string, backend: BackendName): Promise<void> {
  const started = performance.now();
  try {
    gpu = await GpuContext.create(navigator.gpu, {
      onLost: deviceLost,
      onError: (error) => post({ type: 'error', kind: error.kind, message: error.message }),
    });
    const a = gpu.adapter;
    const software = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
    post({ type: 'adapter', name: gpu.adapterName, software });
  } catch (e) {
    post({ type: 'error', kind: e instanceof GpuError ? e.kind : 'no-adapter', message: messageOf(e) });
    return;
  }
  try {
    pipeline = await loadPipeline(gpu, modelUrl, backend, (fraction, what) => post({ type: 'load-progress', fraction, what }));
  } catch (e) {
    if (lost) return;
    post({ type: 'error', kind: e instanceof GpuError ? e.kind : 'model-load', message: messageOf(e) });
    return;
  }
  post({ type: 'ready', info: pipeline.info, loadMs: performance.now() - started });
  queue.start();
}

async function run(p: Pipeline, job: RenderJob, signal: AbortSignal): Promise<void> {
  post({ type: 'started', id: job.id, lane: job.lane });
  try {
    const result = await p.generate(job.request, {
      signal,
      onProgress: ({ step, steps, preview }) => post({ type: 'progress', id: job.id, step, steps, preview }),
    });
    if (signal.aborted) post({ type: 'dropped', id: job.id, lane: job.lane });
    else post({ type: 'result', id: job.id, lane: job.lane, image: result.image, ms: result.ms, msPerStep: result.msPerStep });
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
    gpu?.destroy();
  } catch {
    // The device is gone already; nothing left to free.
  }
  post({ type: 'device-lost', message: error.message });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
