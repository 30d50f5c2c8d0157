// Turns a ModelSource into a ModelFolder the pipeline loads, in the worker: hub files are
// downloaded into the cache (resuming what is there), picked files are copied into it, and a
// cached model is read from it. Bad inputs are refused here with the file's name before anything
// big is written.

import { blobSource } from '../../engine/weights/byte-source';
import { copyToCache, downloadToCache } from '../../engine/weights/cache-transfer';
import { combinedHash, sampledContentHash } from '../../engine/weights/content-hash';
import { planDiffusersFiles, relativeToModelRoot, type PlannedFile } from '../../engine/weights/diffusers-files';
import { hubFileUrl, listHubFiles, type HubRepo } from '../../engine/weights/hub-repo';
import { cacheKeyOf, isComplete, type CacheManifest, type ModelCache } from '../../engine/weights/model-cache';
import { urlModelFolder, type ModelFolder } from '../../engine/weights/model-folder';
import { withPredictionType, type PredictionType } from '../../engine/weights/prediction-type';
import { refusePickleBytes, refusePickleName } from '../../engine/weights/safetensors';
import { singleFileModelFolder } from '../../engine/weights/single-file';
import { formatModelRef, type LoadOptions, type ModelRef, type ModelSource, type SingleFileConfig } from '../models/model-source';
import { TransferMeter, type TransferProgress } from './transfer-meter';

/** What the page shows about the loaded model, beside ModelInfo. */
export interface ModelDetails {
  /** The link's model= value. */
  ref: string;
  label: string;
  /** Its cache key, once cached. */
  key?: string;
  family?: string;
  /** What the scheduler uses, and whether it was guessed (single SD 2.x files). */
  predictionType?: PredictionType;
  predictionGuessed?: boolean;
}

export interface HubPlan {
  ref: string;
  key: string;
  files: PlannedFile[];
  totalBytes: number;
  /** Bytes of it already in the cache (an earlier, interrupted download). */
  cachedBytes: number;
}

export interface LoaderContext {
  cache: () => Promise<ModelCache>;
  onTransfer: (p: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface ResolvedModel {
  folder: ModelFolder;
  details: ModelDetails;
  /** Forget the cached copy when the model turns out not to load (a picked file that was just copied). */
  discardOnFailure?: () => Promise<void>;
}

export async function resolveModel(source: ModelSource, options: LoadOptions, ctx: LoaderContext): Promise<ResolvedModel> {
  const resolved = await resolveSource(source, ctx, options.predictionType);
  if (options.predictionType) resolved.folder = withPredictionType(resolved.folder, options.predictionType);
  resolved.details = { ...resolved.details, ...(await describeFolder(resolved.folder)) };
  return resolved;
}

async function resolveSource(source: ModelSource, ctx: LoaderContext, predictionType?: PredictionType): Promise<ResolvedModel> {
  switch (source.kind) {
    case 'builtin':
      return { folder: urlModelFolder(source.url), details: { ref: formatModelRef({ kind: 'builtin', id: source.id }), label: source.id } };
    case 'cached':
      return fromCache(await ctx.cache(), source.key, predictionType);
    case 'hub':
      return fromHub(source, ctx);
    case 'file':
      return fromFile(source.file, source.vae, source.config, ctx, predictionType);
    case 'folder':
      return fromFolder(source.files, source.name, ctx);
  }
}

async function fromCache(cache: ModelCache, key: string, predictionType?: PredictionType): Promise<ResolvedModel> {
  const manifest = await cache.manifest(key);
  if (!manifest) throw new Error(`The cached model "${key}" is gone (removed, or cleared with the site's data); load it again`);
  if (!isComplete(manifest)) throw new Error(`${manifest.label} is only partly downloaded; open it again to finish the download`);
  return { folder: await cachedFolder(cache, manifest, predictionType), details: { ref: manifest.ref, label: manifest.label, key } };
}

async function cachedFolder(cache: ModelCache, manifest: CacheManifest, predictionType?: PredictionType): Promise<ModelFolder> {
  if (manifest.layout === 'diffusers') return cache.folder(manifest);
  const checkpoint = await cache.file(manifest.key, manifest.checkpoint!);
  const vae = manifest.vae ? blobSource(await cache.file(manifest.key, manifest.vae), manifest.vae) : undefined;
  return singleFileModelFolder(blobSource(checkpoint, manifest.label), { name: manifest.label.replace(/\.safetensors$/i, ''), vae, predictionType, config: manifest.config });
}

export async function planHub(repo: HubRepo, cache: ModelCache, doFetch?: typeof fetch): Promise<HubPlan> {
  const ref = formatModelRef({ kind: 'hub', id: repo.id, revision: repo.revision });
  return planCached(ref, planDiffusersFiles(await listHubFiles(repo, doFetch), `${repo.id}@${repo.revision}`), cache);
}

/** The plan for downloading `files` under `ref`, with the bytes its cache entry already holds
 * (complete files whole, begun ones as far as they got). */
export async function planCached(ref: string, files: PlannedFile[], cache: ModelCache): Promise<HubPlan> {
  const key = cacheKeyOf(ref);
  const manifest = await cache.manifest(key);
  let cachedBytes = 0;
  for (const f of files) {
    if (manifest?.files[f.to]?.complete) cachedBytes += f.size;
    else if (manifest?.files[f.to]) cachedBytes += Math.min(f.size, (await cache.file(key, f.to).catch(() => undefined))?.size ?? 0);
  }
  return { ref, key, files, totalBytes: files.reduce((n, f) => n + f.size, 0), cachedBytes };
}

async function fromHub(source: Extract<ModelSource, { kind: 'hub' }>, ctx: LoaderContext): Promise<ResolvedModel> {
  const cache = await ctx.cache();
  const ref = formatModelRef({ kind: 'hub', id: source.id, revision: source.revision });
  const existing = await cache.manifest(cacheKeyOf(ref));
  if (existing && isComplete(existing)) return fromCache(cache, existing.key);
  if (!source.consented) throw new Error(`${source.id} is not cached in this browser; it loads after you confirm its download`);
  const repo: HubRepo = { id: source.id, revision: source.revision, endpoint: source.endpoint };
  const plan = await planHub(repo, cache);
  const manifest: CacheManifest = existing ?? { version: 1, key: plan.key, ref, label: source.revision === 'main' ? source.id : `${source.id}@${source.revision}`, layout: 'diffusers', files: {}, savedAt: Date.now() };
  await downloadPlanned(cache, manifest, plan, repo, ctx);
  return { folder: cache.folder(manifest), details: { ref, label: manifest.label, key: plan.key } };
}

/** Downloads `plan`'s files from the hub into `manifest`'s cache entry, skipping those complete and
 * resuming those begun, with the transfer meter the page shows (models and TAESDs alike). */
export async function downloadPlanned(cache: ModelCache, manifest: CacheManifest, plan: { key: string; files: readonly PlannedFile[]; totalBytes: number }, repo: HubRepo, ctx: LoaderContext): Promise<void> {
  for (const f of plan.files) {
    const had = manifest.files[f.to];
    manifest.files[f.to] = had && had.size === f.size ? had : { size: f.size, complete: false };
  }
  await cache.save(manifest);
  const meter = new TransferMeter(`Downloading ${manifest.label}`, plan.totalBytes, ctx.onTransfer);
  for (const f of plan.files) {
    const record = manifest.files[f.to];
    if (record.complete) {
      meter.add(f.size);
      continue;
    }
    manifest.files[f.to] = await downloadToCache(cache, plan.key, f.to, hubFileUrl(repo, f.from), record, { signal: ctx.signal, onBytes: (n) => meter.add(n) });
    await cache.save(manifest);
  }
  meter.add(0, true);
}

async function fromFile(file: File, vae: File | undefined, config: SingleFileConfig | undefined, ctx: LoaderContext, predictionType?: PredictionType): Promise<ResolvedModel> {
  for (const f of [file, vae]) if (f) await refuseNonSafetensors(f);
  const cache = await ctx.cache();
  // With a VAE file the pair is one model: the hash covers both.
  const hash = vae ? await combinedHash([await sampledContentHash(file), await sampledContentHash(vae)]) : await sampledContentHash(file);
  const ref = formatModelRef({ kind: 'file', name: file.name, hash });
  const key = cacheKeyOf(ref);
  const existing = await cache.manifest(key);
  if (existing && isComplete(existing)) return fromCache(cache, key, predictionType);
  // Checked before copying: a broken or unsupported file is refused without filling the disk.
  await singleFileModelFolder(blobSource(file, file.name), { name: file.name, vae: vae && blobSource(vae, vae.name), config });
  const manifest: CacheManifest = {
    version: 1,
    key,
    ref,
    label: file.name,
    layout: 'single-file',
    checkpoint: file.name,
    vae: vae ? `vae/${vae.name}` : undefined,
    config,
    files: { [file.name]: { size: file.size, complete: false }, ...(vae ? { [`vae/${vae.name}`]: { size: vae.size, complete: false } } : {}) },
    savedAt: Date.now(),
  };
  await copyInto(cache, manifest, [[file.name, file], ...(vae ? [[`vae/${vae.name}`, vae] as [string, File]] : [])], ctx);
  return { ...(await fromCache(cache, key, predictionType)), discardOnFailure: () => cache.remove(key) };
}

async function fromFolder(files: readonly { path: string; file: File }[], name: string, ctx: LoaderContext): Promise<ResolvedModel> {
  const listed = relativeToModelRoot(files.map(({ path, file }) => ({ path: path.replace(/\\/g, '/'), size: file.size, file })));
  const plan = planDiffusersFiles(listed, name);
  const byPath = new Map(listed.map((f) => [f.path, f.file]));
  // The folder's identity: the sampled hash of each weight file, and every small file whole.
  const parts: string[] = [];
  for (const f of plan) parts.push(`${f.to}:${f.size}:${f.to.endsWith('.safetensors') ? await sampledContentHash(byPath.get(f.from)!) : await byPath.get(f.from)!.text()}`);
  const hash = await combinedHash(parts);
  const ref = formatModelRef({ kind: 'folder', name, hash });
  const cache = await ctx.cache();
  const key = cacheKeyOf(ref);
  const existing = await cache.manifest(key);
  if (existing && isComplete(existing)) return fromCache(cache, key);
  const manifest: CacheManifest = { version: 1, key, ref, label: name, layout: 'diffusers', files: Object.fromEntries(plan.map((f) => [f.to, { size: f.size, complete: false }])), savedAt: Date.now() };
  await copyInto(cache, manifest, plan.map((f) => [f.to, byPath.get(f.from)!]), ctx);
  return { ...(await fromCache(cache, key)), discardOnFailure: () => cache.remove(key) };
}

async function copyInto(cache: ModelCache, manifest: CacheManifest, files: [string, Blob][], ctx: LoaderContext): Promise<void> {
  await cache.save(manifest);
  const meter = new TransferMeter(`Saving ${manifest.label} in this browser`, files.reduce((n, [, b]) => n + b.size, 0), ctx.onTransfer);
  try {
    for (const [path, blob] of files) {
      manifest.files[path] = await copyToCache(cache, manifest.key, path, blob, (n) => meter.add(n), ctx.signal);
    }
    await cache.save(manifest);
  } catch (e) {
    await cache.remove(manifest.key).catch(() => undefined);
    throw e;
  }
}

/** Pickle checkpoints can run code when loaded: refused by name and by their first bytes, before
 * anything is hashed or copied (safetensors.ts says why, in one place). */
async function refuseNonSafetensors(file: File): Promise<void> {
  refusePickleName(file.name);
  refusePickleBytes(file.name, new Uint8Array(await file.slice(0, 8).arrayBuffer()));
  if (file.size < 8) throw new Error(`${file.name} is ${file.size} bytes long: too short for a safetensors file`);
}

/** Family and prediction type, from the folder's own files (single-file.ts writes them into
 * model_index.json's attention_lab section; for a diffusers folder they follow from its configs). */
async function describeFolder(folder: ModelFolder): Promise<Partial<ModelDetails>> {
  const index = await folder.readJson<{ attention_lab?: { family?: string; prediction_type_guessed?: boolean } }>('model_index.json').catch(() => undefined);
  const scheduler = await folder.readJson<{ prediction_type?: PredictionType }>('scheduler/scheduler_config.json').catch(() => undefined);
  let family = index?.attention_lab?.family && (FAMILY_NAMES[index.attention_lab.family] ?? index.attention_lab.family);
  if (!family) {
    const unet = await folder.readJson<{ cross_attention_dim?: number; sample_size?: number }>('unet/config.json').catch(() => undefined);
    if (unet?.cross_attention_dim === 768) family = 'SD 1.x';
    else if (unet?.cross_attention_dim === 1024) family = unet.sample_size === 96 ? 'SD 2.x (768)' : 'SD 2.x';
  }
  return { family, predictionType: scheduler?.prediction_type ?? 'epsilon', predictionGuessed: index?.attention_lab?.prediction_type_guessed };
}

/** single-file.ts's family ids, for people. */
const FAMILY_NAMES: Record<string, string> = { sd1: 'SD 1.x', sd2: 'SD 2.x', 'sd-turbo': 'SD-Turbo', 'bk-sdm': 'BK-SDM / small-sd', small: 'small SD-layout model' };

export type { ModelRef };
