// The page's side of the engine worker: a promise per render, and recovery from a lost GPU device
// (a new worker, a new device, the model loaded again, and the unfinished renders sent again).

import type { BackendName } from '../../engine';
import type { GenerateRequest, ModelInfo, RgbaImage } from '../../engine';
import type { LoadOptions, ModelSource } from '../models/model-source';
import type { TaesdDetails, TaesdSource, TaesdState } from '../models/taesd-source';
import type { HubPlan, ModelDetails } from './model-loader';
import type { TransferProgress } from './transfer-meter';
import type { CacheListing, EngineErrorKind, FromWorker, Lane, ToWorker, WorkerReply } from './worker-protocol';

export interface RenderResult {
  image: RgbaImage;
  ms: number;
  msPerStep: number;
  /** The image is broken (NaN or ±Infinity) from this sampling step on (1-based). */
  nonFiniteFromStep?: number;
  /** What the backend rendered without (GenerateResult.notices). */
  notices?: string[];
}

/** A render either finishes or is dropped (a newer request of its lane replaced it, or cancel). */
export type RenderOutcome = { status: 'done'; result: RenderResult } | { status: 'dropped' };

export interface RenderCallbacks {
  onStart?: () => void;
  onProgress?: (step: number, steps: number, preview?: RgbaImage, nonFiniteFromStep?: number) => void;
}

export class RenderError extends Error {
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'RenderError';
  }
}

export interface EngineEvents {
  adapter(name: string, software: boolean): void;
  loadProgress(fraction: number, what: string): void;
  /** A download or a copy into the cache: bytes, rate and time left. */
  transferProgress(progress: TransferProgress): void;
  ready(info: ModelInfo, details: ModelDetails, loadMs: number): void;
  /** The TAESD loaded, or the model changed: whether the model uses it. */
  taesd?(state: TaesdState): void;
  /** A problem that stops the engine (no adapter, model load failure) or a GPU error report. */
  error(kind: EngineErrorKind, message: string): void;
  /** The device was lost; `recovering` is false once losses repeat too often to keep trying. */
  deviceLost(message: string, recovering: boolean): void;
}

interface Pending extends RenderCallbacks {
  id: number;
  lane: Lane;
  request: GenerateRequest;
  resolve(outcome: RenderOutcome): void;
  reject(error: RenderError): void;
}

/** More losses than this within LOSS_WINDOW_MS and we stop recreating the device. */
const MAX_LOSSES = 3;
const LOSS_WINDOW_MS = 60_000;

export type WorkerFactory = () => Worker;

export const defaultWorkerFactory: WorkerFactory = () => new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'attention-lab-engine' });

export class EngineClient {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private losses: number[] = [];
  /** The TAESD to load again after a lost device, once cached. */
  private taesdSource?: TaesdSource;
  private disposed = false;
  private readonly replies = new Map<number, { resolve(value: WorkerReply): void; reject(error: Error): void }>();

  constructor(
    /** The model to load now and after a lost device; replaced by each model loaded later. */
    private source: ModelSource | undefined,
    private options: LoadOptions,
    private readonly backend: BackendName,
    private readonly events: EngineEvents,
    private readonly createWorker: WorkerFactory = defaultWorkerFactory,
  ) {
    this.worker = this.start();
  }

  /** Renders `request` in `lane`; a newer render of the same lane drops this one. */
  render(lane: Lane, request: GenerateRequest, callbacks: RenderCallbacks = {}): Promise<RenderOutcome> {
    return new Promise<RenderOutcome>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { id, lane, request, resolve, reject, ...callbacks });
      this.send({ type: 'generate', id, lane, request });
    });
  }

  /** Loads another model; the current one keeps rendering until it is ready, and stays if it fails. */
  async loadModel(source: ModelSource, options: LoadOptions = {}): Promise<ModelDetails> {
    const reply = await this.request((requestId) => ({ type: 'load', requestId, source, options, backend: this.backend }));
    if (reply.kind !== 'loaded') throw new Error('unexpected reply');
    // Once cached, a lost device reloads it from the cache instead of cloning the files again.
    this.source = reply.details.key ? { kind: 'cached', key: reply.details.key } : source;
    this.options = options;
    return reply.details;
  }

  /** Loads a TAESD as the fast decoder; the one before stays if this one fails. */
  async loadTaesd(source: TaesdSource): Promise<TaesdDetails> {
    const reply = await this.request((requestId) => ({ type: 'load-taesd', requestId, source }));
    if (reply.kind !== 'taesd') throw new Error('unexpected reply');
    this.taesdSource = { kind: 'cached', key: reply.details.key };
    return reply.details;
  }

  async taesdPlan(id: string, revision: string, endpoint: string): Promise<HubPlan> {
    const reply = await this.request((requestId) => ({ type: 'taesd-plan', requestId, id, revision, endpoint }));
    if (reply.kind !== 'hub-plan') throw new Error('unexpected reply');
    return reply.plan;
  }

  abortLoad(): void {
    this.send({ type: 'abort-load' });
  }

  async hubPlan(id: string, revision: string, endpoint: string): Promise<HubPlan> {
    const reply = await this.request((requestId) => ({ type: 'hub-plan', requestId, id, revision, endpoint }));
    if (reply.kind !== 'hub-plan') throw new Error('unexpected reply');
    return reply.plan;
  }

  async cacheList(): Promise<CacheListing> {
    const reply = await this.request((requestId) => ({ type: 'cache-list', requestId }));
    if (reply.kind !== 'cache') throw new Error('unexpected reply');
    return reply.listing;
  }

  async cacheRemove(key: string): Promise<CacheListing> {
    const reply = await this.request((requestId) => ({ type: 'cache-remove', requestId, key }));
    if (reply.kind !== 'cache') throw new Error('unexpected reply');
    return reply.listing;
  }

  private request(message: (requestId: number) => ToWorker): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const requestId = this.nextId++;
      this.replies.set(requestId, { resolve, reject });
      if (this.disposed) reject(new Error('The engine was restarted; try again.'));
      else this.worker.postMessage(message(requestId));
    });
  }

  cancel(lane: Lane): void {
    this.send({ type: 'cancel', lane });
  }

  /** Debug hook (window.attentionLab.simulateDeviceLoss()): exercises recovery from a lost device. */
  simulateDeviceLoss(): void {
    this.send({ type: 'simulate-device-loss' });
  }

  dispose(): void {
    this.disposed = true;
    this.worker.terminate();
    for (const p of this.pending.values()) p.resolve({ status: 'dropped' });
    this.pending.clear();
    for (const r of this.replies.values()) r.reject(new Error('The engine was restarted; try again.'));
    this.replies.clear();
  }

  private start(): Worker {
    const worker = this.createWorker();
    worker.onmessage = (event: MessageEvent<FromWorker>) => this.receive(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.events.error('worker', `The engine worker failed: ${event.message || 'it could not start'}.`);
    };
    if (this.source) worker.postMessage({ type: 'load', requestId: this.nextId++, source: this.source, options: this.options, backend: this.backend } satisfies ToWorker);
    if (this.source && this.taesdSource) worker.postMessage({ type: 'load-taesd', requestId: this.nextId++, source: this.taesdSource } satisfies ToWorker);
    return worker;
  }

  private send(message: ToWorker): void {
    if (!this.disposed) this.worker.postMessage(message);
  }

  private receive(message: FromWorker): void {
    switch (message.type) {
      case 'adapter':
        this.events.adapter(message.name, message.software);
        break;
      case 'load-progress':
        this.events.loadProgress(message.fraction, message.what);
        break;
      case 'transfer-progress':
        this.events.transferProgress(message.progress);
        break;
      case 'ready':
        this.events.ready(message.info, message.details, message.loadMs);
        break;
      case 'taesd':
        this.events.taesd?.(message.state);
        break;
      case 'reply': {
        const r = this.replies.get(message.requestId);
        this.replies.delete(message.requestId);
        if (message.error !== undefined) r?.reject(new Error(message.error));
        else if (message.value) r?.resolve(message.value);
        break;
      }
      case 'started':
        this.pending.get(message.id)?.onStart?.();
        break;
      case 'progress':
        this.pending.get(message.id)?.onProgress?.(message.step, message.steps, message.preview, message.nonFiniteFromStep);
        break;
      case 'result': {
        const p = this.take(message.id);
        p?.resolve({ status: 'done', result: { image: message.image, ms: message.ms, msPerStep: message.msPerStep, nonFiniteFromStep: message.nonFiniteFromStep, notices: message.notices } });
        break;
      }
      case 'dropped':
        this.take(message.id)?.resolve({ status: 'dropped' });
        break;
      case 'error':
        if (message.id !== undefined) this.take(message.id)?.reject(new RenderError(message.kind, message.message));
        else this.events.error(message.kind, message.message);
        break;
      case 'device-lost':
        this.recover(message.message);
        break;
    }
  }

  private take(id: number): Pending | undefined {
    const p = this.pending.get(id);
    this.pending.delete(id);
    return p;
  }

  /** A new worker and device; the newest unfinished render of each lane is sent again. */
  private recover(message: string): void {
    const now = performance.now();
    this.losses = [...this.losses.filter((t) => now - t < LOSS_WINDOW_MS), now];
    this.worker.terminate();
    for (const r of this.replies.values()) r.reject(new Error(message));
    this.replies.clear();
    const recovering = this.losses.length <= MAX_LOSSES;
    this.events.deviceLost(message, recovering);
    if (!recovering) {
      for (const p of this.pending.values()) p.reject(new RenderError('device-lost', message));
      this.pending.clear();
      return;
    }
    const newestPerLane = new Map<Lane, Pending>();
    for (const p of [...this.pending.values()].sort((a, b) => a.id - b.id)) {
      const older = newestPerLane.get(p.lane);
      if (older) older.resolve({ status: 'dropped' });
      newestPerLane.set(p.lane, p);
    }
    this.pending.clear();
    this.worker = this.start();
    // The worker keeps these until its model is ready, then runs them.
    for (const p of newestPerLane.values()) {
      this.pending.set(p.id, p);
      this.send({ type: 'generate', id: p.id, lane: p.lane, request: p.request });
    }
  }
}
