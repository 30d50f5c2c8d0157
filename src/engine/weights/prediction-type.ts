// What the UNet predicts; a scheduler needs to know. SD 2.x 768 models predict v, the 512 ones
// epsilon, and a single file does not say which: the person may switch it.

import type { PredictionType } from '../sampling/scheduler-config';
import type { ModelFolder } from './model-folder';

export type { PredictionType };
export const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction'];

const SCHEDULER_CONFIG = 'scheduler/scheduler_config.json';

/** `folder` with its scheduler's prediction_type replaced by `type`. */
export function withPredictionType(folder: ModelFolder, type: PredictionType): ModelFolder {
  return {
    name: folder.name,
    has: (path) => folder.has(path),
    open: (path, options) => folder.open(path, options),
    readJson: async <T>(path: string) => {
      const json = await folder.readJson<T>(path);
      return path.replace(/^\/+/, '') === SCHEDULER_CONFIG ? ({ ...json, prediction_type: type } as T) : json;
    },
    readText: async (path) => (path.replace(/^\/+/, '') === SCHEDULER_CONFIG ? JSON.stringify({ ...(await folder.readJson<object>(path)), prediction_type: type }) : folder.readText(path)),
  };
}
