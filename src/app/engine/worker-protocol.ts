// The messages between the page and the engine worker. Plain data only (structured clone).

import type { GpuErrorKind } from '../../engine/gpu/gpu-context';
import type { BackendName } from '../../engine';
import type { GenerateRequest, ModelInfo, RgbaImage } from '../../engine';
import type { CachedModelSummary } from '../../engine/weights/model-cache';
import type { LoadOptions, ModelSource } from '../models/model-source';
import type { TaesdDetails, TaesdSource, TaesdState } from '../models/taesd-source';
import type { HubPlan, ModelDetails } from './model-loader';
import type { TransferProgress } from './transfer-meter';

/**
 * Requests run one at a time, in lanes: within a lane the newest request wins (it aborts the one
 * running between steps and replaces the one waiting), and lanes are served in this order.
 *   live     — what the sliders show; every drag event sends one.
 *   baseline — the same image with all multipliers at 1, for the before/after comparison.
 *   grid     — XY plot cells, sent one after another by the page.
 */
export type Lane = 'live' | 'baseline' | 'grid';
export const LANES_BY_PRIORITY: readonly Lane[] = ['live', 'baseline', 'grid'];

export type ToWorker =
  /** Loads a model; the one loaded before keeps rendering until this one is ready, and stays if it fails. */
  | { type: 'load'; requestId: number; source: ModelSource; options: LoadOptions; backend: BackendName }
  /** Stops a download or copy in progress (the part already cached stays, to resume). */
  | { type: 'abort-load' }
  | { type: 'hub-plan'; requestId: number; id: string; revision: string; endpoint: string }
  /** Loads a TAESD as the fast decoder (taesd-loader.ts); the one before stays if this one fails. */
  | { type: 'load-taesd'; requestId: number; source: TaesdSource }
  | { type: 'taesd-plan'; requestId: number; id: string; revision: string; endpoint: string }
  | { type: 'cache-list'; requestId: number }
  | { type: 'cache-remove'; requestId: number; key: string }
  | { type: 'generate'; id: number; lane: Lane; request: GenerateRequest }
  | { type: 'cancel'; lane: Lane }
  /** Debug hook: act as if the GPU device were lost, to exercise recovery. */
  | { type: 'simulate-device-loss' };

/** Why the engine stopped: GPU problems keep their kind; the rest say where they happened. */
export type EngineErrorKind = GpuErrorKind | 'model-load' | 'generate' | 'worker';

export type FromWorker =
  /** `software`: a CPU implementation (SwiftShader, llvmpipe, WARP): images take minutes. */
  | { type: 'adapter'; name: string; software: boolean }
  | { type: 'load-progress'; fraction: number; what: string }
  | { type: 'transfer-progress'; progress: TransferProgress }
  | { type: 'ready'; info: ModelInfo; details: ModelDetails; loadMs: number }
  /** The TAESD and whether the current model uses it: after it loads, and after each model loads. */
  | { type: 'taesd'; state: TaesdState }
  /** The answer to a request that carried `requestId`. */
  | { type: 'reply'; requestId: number; value?: WorkerReply; error?: string }
  | { type: 'started'; id: number; lane: Lane }
  /** `nonFiniteFromStep`: the values went NaN or ±Infinity from this step (1-based), seen at a preview. */
  | { type: 'progress'; id: number; step: number; steps: number; preview?: RgbaImage; nonFiniteFromStep?: number }
  /** `nonFiniteFromStep`: the image is broken (NaN or ±Infinity) from this sampling step on. */
  | { type: 'result'; id: number; lane: Lane; image: RgbaImage; ms: number; msPerStep: number; nonFiniteFromStep?: number; notices?: string[] }
  /** Dropped before it finished: replaced by a newer request of its lane, or cancelled. */
  | { type: 'dropped'; id: number; lane: Lane }
  | { type: 'error'; kind: EngineErrorKind; message: string; id?: number }
  | { type: 'device-lost'; message: string };

export type WorkerReply = { kind: 'loaded'; details: ModelDetails } | { kind: 'taesd'; details: TaesdDetails } | { kind: 'hub-plan'; plan: HubPlan } | { kind: 'cache'; listing: CacheListing };

export interface CacheListing {
  models: CachedModelSummary[];
  /** navigator.storage.estimate(): what this site uses and may use, in bytes. */
  usage?: number;
  quota?: number;
  persisted?: boolean;
}
