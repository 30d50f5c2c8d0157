// Checks a model's files without a GPU: the same parsers the loaders use, plus a scan of every
// weight for NaN and ±Infinity. `npm run check-model` prints its results; the playground shows the
// same messages, because loading runs the same parsers.
import { parseClipTextConfig, type ClipTextConfig } from '../nn/clip-text';
import { parseTaesdConfig, type AutoencoderTinyConfig } from '../nn/taesd-decoder';
import { PromptTokenizer } from '../nn/tokenizer';
import { parseUNetConfig } from '../nn/unet-config';
import { checkUNetWeights, expectedUNetWeights } from '../nn/unet-weights';
import { parseVaeConfig, type AutoencoderKLConfig } from '../nn/vae-decoder';
import type { ByteSource } from '../weights/byte-source';
import { detectCheckpoint, type CheckpointDetection } from '../weights/checkpoint-detect';
import { parseJsonFile, subFolder, type ModelFolder } from '../weights/model-folder';
import { nonFiniteTensorWarning, parseSafetensorsHeader, type SafetensorsHeader, type SafetensorsTensorInfo } from '../weights/safetensors';
import { singleFileModelFolder, type SingleFileOptions } from '../weights/single-file';
import { parseSchedulerConfig } from './schedulers';

export interface CheckResult {
  path: string;
  ok: boolean;
  /** One line naming the file and the field or tensor. */
  error?: string;
  warnings: string[];
}

const FLOAT_BYTES = new Map([['F32', 4], ['F16', 2], ['BF16', 2], ['F64', 8]]);

/** Reads at most this much at a time while scanning values, so memory stays flat for any file size. */
const SCAN_CHUNK_BYTES = 32 * 2 ** 20;

/** Runs `check`, turning a thrown error into a failed result for `path`. */
export async function runCheck(path: string, check: () => Promise<string[]>): Promise<CheckResult> {
  try {
    return { path, ok: true, warnings: await check() };
  } catch (e) {
    return { path, ok: false, error: (e instanceof Error ? e.message : String(e)).split('\n')[0], warnings: [] };
  }
}

/** A safetensors file: its header (offsets, exact coverage, dtypes) and, with `scanValues`, every
 * float value. Returns warnings (non-finite values by tensor); throws on a broken file. */
export async function checkSafetensors(source: ByteSource, options: { scanValues?: boolean } = {}): Promise<{ header: SafetensorsHeader; warnings: string[] }> {
  const header = await parseSafetensorsHeader(source);
  const warnings: string[] = [];
  if (options.scanValues ?? true) {
    for (const [name, count] of await nonFiniteTensors(source, header)) {
      warnings.push(nonFiniteTensorWarning(source.name, name, count));
    }
  }
  return { header, warnings };
}

/** A safetensors file by what it holds. A single-file checkpoint (original LDM layout) is refused as
 * the playground refuses it (SDXL, LoRA, inpainting, …: what was found, by tensor name), or checked
 * as the diffusers folder the playground reads it as (with `config`'s diffusers configs where its
 * shapes cannot tell everything, as the loader takes them); any other file by its header and values. */
export async function checkSafetensorsFile(source: ByteSource, options: { config?: SingleFileOptions['config'] } = {}): Promise<string[]> {
  const { header } = await checkSafetensors(source, { scanValues: false });
  const detection = detectCheckpoint(header);
  if (!isCheckpoint(detection)) return (await checkSafetensors(source)).warnings;
  if (detection.refusal) throw new Error(detection.refusal);
  const warnings = [...(await nonFiniteTensors(source, header))].map(([name, count]) => nonFiniteTensorWarning(source.name, name, count));
  // The values were scanned above under the file's own names; the folder's configs, names and shapes remain.
  return [...warnings, ...detection.notes.map((note) => `${source.name}: ${note}`), ...(await checkModelFolder(await singleFileModelFolder(source, { config: options.config }), { scanValues: false }))];
}

/** A file in the checkpoint layout (or one detection names, such as a LoRA or SDXL), rather than a
 * diffusers component's weights, which hold no UNet under "model.diffusion_model.". */
function isCheckpoint(d: CheckpointDetection): boolean {
  return d.found.unet || (d.refusal !== undefined && !d.description.startsWith('no UNet'));
}

/** Tensors holding NaN or ±Infinity, by their file dtype, read in bounded chunks. */
async function nonFiniteTensors(source: ByteSource, header: SafetensorsHeader): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const t of header.tensors) {
    const elementBytes = FLOAT_BYTES.get(t.dtype);
    if (elementBytes === undefined) continue;
    // Whole elements per chunk, so no value straddles two reads.
    const step = Math.max(elementBytes, Math.floor(SCAN_CHUNK_BYTES / elementBytes) * elementBytes);
    let bad = 0;
    for (let at = t.begin; at < t.end; at += step) bad += countNonFiniteBytes(await source.read(at, Math.min(step, t.end - at)), t);
    if (bad > 0) found.set(t.name, bad);
  }
  return found;
}

function countNonFiniteBytes(bytes: Uint8Array, t: Pick<SafetensorsTensorInfo, 'dtype'>): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let bad = 0;
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i + 4 <= bytes.byteLength; i += 4) if ((view.getUint32(i, true) & 0x7f800000) === 0x7f800000) bad++;
      break;
    case 'F64':
      for (let i = 0; i + 8 <= bytes.byteLength; i += 8) if (!Number.isFinite(view.getFloat64(i, true))) bad++;
      break;
    case 'F16':
      for (let i = 0; i + 2 <= bytes.byteLength; i += 2) if ((view.getUint16(i, true) & 0x7c00) === 0x7c00) bad++;
      break;
    case 'BF16':
      for (let i = 0; i + 2 <= bytes.byteLength; i += 2) if ((view.getUint16(i, true) & 0x7f80) === 0x7f80) bad++;
      break;
  }
  return bad;
}

/** A JSON file by what it holds: UNet, VAE, TAESD, CLIP text, scheduler config, tokenizer, or a
 * pipeline's model_index.json. `name` is for messages and for telling tokenizer.json apart. */
export async function checkJsonFile(name: string, text: string): Promise<string[]> {
  const json = parseJsonFile<Record<string, unknown>>(text, name);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${name}: expected a JSON object`);
  const where = (e: unknown) => new Error(`${name}: ${(e as Error).message}`, { cause: e });
  const className = typeof json._class_name === 'string' ? json._class_name : '';
  try {
    if (/tokenizer\.json$/.test(name) || ('model' in json && 'added_tokens' in json)) {
      // Alone, a tokenizer has no text model to take its length from: CLIP's 77 stands in.
      PromptTokenizer.fromJson(json as Parameters<typeof PromptTokenizer.fromJson>[0], {}, 77, name);
    } else if (className === 'UNet2DConditionModel') parseUNetConfig(json);
    else if (className === 'AutoencoderKL') parseVaeConfig(json as AutoencoderKLConfig, name);
    else if (className === 'AutoencoderTiny') parseTaesdConfig(json as AutoencoderTinyConfig, name);
    else if (className.endsWith('Scheduler')) parseSchedulerConfig(json);
    else if (json.model_type === 'clip_text_model' || json.model_type === 'clip' || (Array.isArray(json.architectures) && json.architectures.some((a) => /^CLIPText/.test(String(a))))) {
      parseClipTextConfig(json as ClipTextConfig, name);
    } else if (className.endsWith('Pipeline')) return [];
    else throw new Error('not a config this app reads (no _class_name of a UNet, autoencoder or scheduler, and not a CLIP text config or tokenizer.json)');
  } catch (e) {
    throw (e as Error).message.startsWith(name) ? e : where(e);
  }
  return [];
}

/** A diffusers pipeline folder: every component's config and weights, and the UNet's weight names
 * and shapes against its config. */
export async function checkModelFolder(folder: ModelFolder, options: { scanValues?: boolean } = {}): Promise<string[]> {
  const warnings: string[] = [];
  await checkJsonFile(`${folder.name}/model_index.json`, await folder.readText('model_index.json'));
  const components: [string, string[]][] = [
    ['scheduler', ['scheduler_config.json']],
    ['unet', ['config.json']],
    ['text_encoder', ['config.json']],
    ['vae', ['config.json']],
  ];
  for (const [dir, files] of components) {
    const sub = subFolder(folder, dir);
    for (const file of files) {
      if (dir === 'vae' && !(await sub.has(file))) continue; // pixel-space models have no VAE
      await checkJsonFile(`${sub.name}/${file}`, await sub.readText(file));
    }
    if (dir === 'scheduler') continue;
    const weightFile = await firstOf(sub, dir === 'text_encoder' ? ['model.safetensors', 'model.fp16.safetensors'] : ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors']);
    if (!weightFile) {
      if (dir === 'vae') continue;
      throw new Error(`${sub.name}: no weights (.safetensors) found`);
    }
    const { header, warnings: more } = await checkSafetensors(await sub.open(weightFile), options);
    warnings.push(...more);
    if (dir === 'unet') {
      const problems = checkUNetWeights(expectedUNetWeights(parseUNetConfig(await sub.readJson('config.json'))), new Map(header.tensors.map((t) => [t.name, t.shape])));
      if (problems.length) throw new Error(`${sub.name}/${weightFile} does not match its config.json: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`);
    }
  }
  const textConfig = parseClipTextConfig(await folder.readJson<ClipTextConfig>('text_encoder/config.json'), `${folder.name}/text_encoder/config.json`);
  await PromptTokenizer.load(folder, 'tokenizer', textConfig.maxPositions);
  return warnings;
}

async function firstOf(folder: ModelFolder, names: readonly string[]): Promise<string | undefined> {
  for (const name of names) if (await folder.has(name)) return name;
  return undefined;
}
