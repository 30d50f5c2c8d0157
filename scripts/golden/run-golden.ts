// Runs the golden checks of one fixture folder, choosing them by its config.json.
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import type { ModelFolder } from '../../src/engine/weights/model-folder';
import { failure, type GoldenCheck } from './compare';
import { clipGolden, taesdGolden, vaeGolden } from './decoder-golden';
import { unetGolden } from './unet-golden';

type Runner = (gpu: GpuContext, folder: ModelFolder) => AsyncGenerator<GoldenCheck>;

/** config.json's `_class_name` (diffusers) or `architectures[0]` (transformers) → its checks. */
const RUNNERS: Record<string, Runner> = {
  UNet2DConditionModel: unetGolden,
  CLIPTextModel: clipGolden,
  AutoencoderKL: vaeGolden,
  AutoencoderTiny: taesdGolden,
};

export async function* runGoldenFolder(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  let kind = 'unknown';
  try {
    const config = await folder.readJson<{ _class_name?: string; architectures?: string[] }>('config.json');
    kind = config._class_name ?? config.architectures?.[0] ?? 'unknown';
  } catch (e) {
    yield failure(`${folder.name}: config.json`, e);
    return;
  }
  const runner = RUNNERS[kind];
  if (!runner) {
    yield failure(`${folder.name}: ${kind}`, new Error(`no golden checks for model class "${kind}" (known: ${Object.keys(RUNNERS).join(', ')})`));
    return;
  }
  try {
    yield* runner(gpu, folder);
  } catch (e) {
    yield failure(`${folder.name}: ${kind}`, e);
  }
}
