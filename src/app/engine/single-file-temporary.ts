// TEMPORARY: stands in for src/engine/weights/single-file.ts (branch single-file) until it is
// merged; deleted then. Same signature, refuses every file.

import type { ByteSource } from '../../engine/weights/byte-source';
import type { ModelFolder } from '../../engine/weights/model-folder';
import type { PredictionType } from '../../engine/weights/prediction-type';

export async function singleFileModelFolder(source: ByteSource, _options: { name?: string; vae?: ByteSource; predictionType?: PredictionType } = {}): Promise<ModelFolder> {
  throw new Error(`${source.name}: single-file checkpoints are not supported in this build yet`);
}
