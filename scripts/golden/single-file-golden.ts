// Golden checks for a fixture folder whose weights are one original-layout (LDM) checkpoint,
// model.safetensors, beside the UNet's config.json, cases.json and io.safetensors
// (shared/fixtures/unet-sd15-single-file-tiny). The UNet runs through unet-golden.ts from the
// virtual diffusers folder; the text encoder and the VAE are checked against reference folders:
//   1. the folder's own text_encoder/ and vae/ (config.json + io.safetensors), else
//   2. a sibling fixture folder (CLIPTextModel / AutoencoderKL) whose weights equal the single
//      file's mapped tensors, value for value; its config.json and io.safetensors are used.
// Configs come from the references because tiny models' head counts and norm groups cannot be
// inferred from shapes.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { nodeModelFolder } from '../../src/engine/weights/node-byte-source';
import { subFolder, type ModelFolder } from '../../src/engine/weights/model-folder';
import type { ByteSource } from '../../src/engine/weights/byte-source';
import { f32BitsToF16 } from '../../src/engine/weights/gpu-weights';
import { decodeF16, parseSafetensorsHeader, readTensorF32 } from '../../src/engine/weights/safetensors';
import { singleFileModelFolder, type SingleFileModelFolder } from '../../src/engine/weights/single-file';
import { failure, type GoldenCheck } from './compare';
import { clipChecks, vaeChecks } from './decoder-golden';

type Json = Record<string, unknown>;

export interface Component {
  /** Folder in the virtual pipeline and in a self-contained fixture. */
  dir: 'text_encoder' | 'vae';
  classOf: (config: Json) => boolean;
  weightFiles: string[];
  /** Reference tensors that must be equal in the single file (the ones the engine loads). */
  compared: (name: string) => boolean;
  /** The reference's name as the virtual folder writes it. */
  normalize: (name: string) => string;
}

export const COMPONENTS: Component[] = [
  {
    dir: 'text_encoder',
    classOf: (c) => (c.architectures as string[] | undefined)?.[0] === 'CLIPTextModel',
    weightFiles: ['model.safetensors'],
    compared: (name) => !name.endsWith('position_ids'),
    // transformers ≥ 5.6 may save CLIPTextModel without the "text_model." level.
    normalize: (name) => (name.startsWith('text_model.') ? name : `text_model.${name}`),
  },
  {
    dir: 'vae',
    classOf: (c) => c._class_name === 'AutoencoderKL',
    weightFiles: ['diffusion_pytorch_model.safetensors'],
    compared: () => true,
    normalize: (name) => name,
  },
];

/** Whether `folder` is a single-file fixture: model.safetensors and no diffusers UNet weights. */
export async function isSingleFileFixture(folder: ModelFolder): Promise<boolean> {
  return !(await folder.has('diffusion_pytorch_model.safetensors')) && (await folder.has('model.safetensors'));
}

/** The fixture's checkpoint as a diffusers folder, with the fixture's UNet config and `configs`. */
export async function singleFileFixtureFolder(folder: ModelFolder, configs: { textEncoder?: Json; vae?: Json } = {}): Promise<SingleFileModelFolder> {
  return singleFileModelFolder(await folder.open('model.safetensors'), { config: { unet: await folder.readJson<Json>('config.json'), ...configs } });
}

export async function* singleFileComponentGolden(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  const virtual = await singleFileFixtureFolder(folder);
  for (const component of COMPONENTS) {
    try {
      const found = await findReference(folder, virtual, component);
      if (!found) {
        console.error(`golden: ${folder.name}: no ${component.dir} reference (no ${component.dir}/ with config.json and io.safetensors, no sibling folder with equal weights); not checked`);
        continue;
      }
      if (found.weights) yield found.weights;
      const config = await found.reference.readJson<Json>('config.json');
      const withConfig = await singleFileFixtureFolder(folder, component.dir === 'vae' ? { vae: config } : { textEncoder: config });
      const prefix = `${component.dir}.`;
      if (component.dir === 'vae') yield* vaeChecks(gpu, withConfig, 'vae', found.reference, prefix);
      else yield* clipChecks(gpu, withConfig, 'text_encoder', found.reference, prefix);
    } catch (e) {
      yield failure(`${component.dir}`, e);
    }
  }
}

export async function findReference(folder: ModelFolder, virtual: ModelFolder, component: Component): Promise<{ reference: ModelFolder; weights?: GoldenCheck } | undefined> {
  const own = subFolder(folder, component.dir);
  if ((await own.has('config.json')) && (await own.has('io.safetensors'))) return { reference: own };
  const parent = dirname(folder.name);
  if (!existsSync(parent)) return undefined;
  for (const entry of readdirSync(parent).sort()) {
    const dir = join(parent, entry);
    if (dir === folder.name || !statSync(dir).isDirectory()) continue;
    const sibling = nodeModelFolder(dir);
    if (!(await sibling.has('config.json')) || !(await sibling.has('io.safetensors'))) continue;
    const config = await sibling.readJson<Json>('config.json').catch(() => ({}) as Json);
    const file = component.weightFiles.find((f) => existsSync(join(dir, f)));
    if (!component.classOf(config) || !file) continue;
    const rounded = await weightsEqual(await virtual.open(`${component.dir}/${component.weightFiles[0]}`), await sibling.open(file), component);
    if (rounded !== undefined) {
      const check = `${component.dir}.weights = ${basename(dir)}${rounded ? ' (rounded to the single file\'s dtype)' : ''}`;
      return { reference: sibling, weights: { check, max_abs: 0, rel: 0, pass: true } };
    }
  }
  return undefined;
}

/**
 * Whether `mapped` holds every compared tensor of `reference` under the same name and shape with
 * the same values: false when exactly equal, true when equal once the reference is rounded to the
 * single file's f16 / bf16, undefined when not the same weights.
 */
async function weightsEqual(mapped: ByteSource, reference: ByteSource, component: Component): Promise<boolean | undefined> {
  const [a, b] = await Promise.all([parseSafetensorsHeader(mapped), parseSafetensorsHeader(reference)]);
  const pairs = b.tensors.filter((t) => component.compared(t.name)).map((t) => [a.byName.get(component.normalize(t.name)), t] as const);
  if (pairs.some(([m, t]) => !m || m.shape.join() !== t.shape.join())) return undefined;
  let rounded = false;
  for (const [m, t] of pairs) {
    const [x, y] = await Promise.all([readTensorF32(mapped, m!), readTensorF32(reference, t)]);
    const round = m!.dtype !== t.dtype ? ROUND[m!.dtype] : undefined;
    for (let i = 0; i < x.length; i++) {
      if (x[i] === y[i]) continue;
      if (!round || x[i] !== round(y[i])) return undefined;
      rounded = true;
    }
  }
  return rounded;
}

const bits = new Uint32Array(1);
const value = new Float32Array(bits.buffer);
/** f32 → f16 / bf16 → f32, round to nearest even (NaN aside, which never equals anyway). */
const ROUND: Record<string, (x: number) => number> = {
  F16: (x) => decodeF16(Uint16Array.of(f32BitsToF16(((value[0] = x), bits[0]))))[0],
  BF16: (x) => {
    value[0] = x;
    bits[0] = ((bits[0] + 0x7fff + ((bits[0] >>> 16) & 1)) >>> 16) << 16;
    return value[0];
  },
};
