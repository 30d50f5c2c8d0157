/// <reference lib="webworker" />
// The engine's Web Worker: it owns the GPU device and the diffusion pipeline, so the page's main
// thread only draws and reacts. Requests run one at a time; within a lane the newest wins (see
// worker-protocol.ts), so a drag never leaves a queue of stale renders behind it.

import { GpuContext, GpuError } from '../../engine/gpu/gpu-context';
import { DiffusionPipeline } from '../../engine/sampling/pipeline';
import type { GenerateRequest } from '../../engine/sampling/pipeline-types';
import { urlModelFolder } from '../../engine/weights/model-folder';
import { LANES_BY_PRIORITY, type FromWorker, type Lane, type ToWorker } from './worker-protocol';

// ---- The one place where the app meets the engine's pipeline. -------------------------------
async function loadPipeline(gpu: GpuContext, modelUrl: string, onProgress: (fraction: number, what: string) => void): Promise<DiffusionPipeline> {
  return DiffusionPipeline.load(gpu, urlModelFolder(modelUrl), onProgress);
}
type Pipeline = DiffusionPipeline;
// ----------------------------------------------------------------------------------------------

interface Job {
  id: number;
  lane: Lane;
  request: GenerateRequest;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
let gpu: GpuContext | undefined;
let pipeline: Pipeline | undefined;
let lost = false;
const waiting = new Map<Lane, Job>();
let running: { job: Job; controller: AbortController } | undefined;

function post(message: FromWorker): void {
  scope.postMessage(message);
}

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'load':
      void load(message.modelUrl);
      break;
    case 'generate': {
      const job: Job = { id: message.id, lane: message.lane, request: message.request };
      const replaced = waiting.get(job.lane);
      if (replaced) post({ type: 'dropped', id: replaced.id, lane: replaced.lane });
      waiting.set(job.lane, job);
      // Abort the lane's running render between steps: its result would be stale on arrival.
      if (running?.job.lane === job.lane) running.controller.abort();
      pump();
      break;
    }
    case 'cancel': {
      const dropped = waiting.get(message.lane);
      if (dropped) post({ type: 'dropped', id: dropped.id, lane: dropped.lane });
      waiting.delete(message.lane);
      if (running?.job.lane === message.lane) running.controller.abort();
      break;
    }
    case 'simulate-device-loss':
      deviceLost(new GpuError('device-lost', 'The GPU device was lost (simulated). Recreating it.'));
      break;
  }
};

async function load(modelUrl: string): Promise<void> {
  const started = performance.now();
  try {
    gpu = await GpuContext.create(navigator.gpu, {
      onLost: deviceLost,
      onError: (error) => post({ type: 'error', kind: error.kind, message: error.message }),
    });
    post({ type: 'adapter', name: gpu.adapterName });
  } catch (e) {
    post({ type: 'error', kind: e instanceof GpuError ? e.kind : 'no-adapter', message: messageOf(e) });
    return;
  }
  try {
    pipeline = await loadPipeline(gpu, modelUrl, (fraction, what) => post({ type: 'load-progress', fraction, what }));
  } catch (e) {
    if (lost) return;
    post({ type: 'error', kind: e instanceof GpuError ? e.kind : 'model-load', message: messageOf(e) });
    return;
  }
  post({ type: 'ready', info: pipeline.info, loadMs: performance.now() - started });
  pump();
}

/** Starts the next waiting job, live lane first, unless one is running. */
function pump(): void {
  if (running || !pipeline || lost) return;
  const lane = LANES_BY_PRIORITY.find((l) => waiting.has(l));
  if (!lane) return;
  const job = waiting.get(lane)!;
  waiting.delete(lane);
  const controller = new AbortController();
  running = { job, controller };
  void run(pipeline, job, controller.signal).finally(() => {
    running = undefined;
    pump();
  });
}

async function run(p: Pipeline, job: Job, signal: AbortSignal): Promise<void> {
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
  running?.controller.abort();
  waiting.clear();
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
