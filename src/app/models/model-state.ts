// The store's slice about models: the one loaded, one loading, one a link asks for, the cache.

import type { HubPlan, ModelDetails } from '../engine/model-loader';
import type { TransferProgress } from '../engine/transfer-meter';
import type { CacheListing } from '../engine/worker-protocol';
import type { TaesdState } from './taesd-source';

/** The fast decoder's part of the Model dialog (taesd-controller.ts). */
export interface TaesdPanelState {
  /** Loaded, and whether the current model uses it. */
  state?: TaesdState;
  /** Loading one now: its name. */
  loading?: string;
  error?: string;
  /** A hub TAESD's files and size, shown before the download. */
  hubPlan?: HubPlan;
  /** A link asks for TAESD where none is loaded: what to load. */
  needed?: string;
}

export interface ModelState {
  /** The model the engine renders with. */
  details?: ModelDetails;
  /** A model being loaded; the current one renders until it is ready. */
  loading?: { label: string; transfer?: TransferProgress; fraction?: number; what?: string };
  /** A link names a model that is not here yet: what to load, and for a hub model its download. */
  needed?: { ref: string; message: string; hubPlan?: HubPlan };
  cache?: CacheListing;
  /** The Model dialog is open. */
  dialog: boolean;
  /** The last load that failed, for the dialog (the page also shows it as a notice). */
  error?: string;
  taesd: TaesdPanelState;
}

export const INITIAL_MODEL_STATE: ModelState = { dialog: false, taesd: {} };
