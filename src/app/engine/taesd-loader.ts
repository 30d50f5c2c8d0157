// Turns a TaesdSource into a loaded TaesdDecoder, in the worker: hub files are downloaded into the
// cache after consent (resuming what is there), picked files are copied into it, and a cached one is
// read from it, as model-loader.ts does for models. A TAESD is small (about 10 MB, 5 MB for the
// decoder alone), so only its decoder's weights are uploaded.

import type { GpuContext } from '../../engine/gpu/gpu-context';
import { TaesdDecoder } from '../../engine/nn/taesd-decoder';
import { blobSource } from '../../engine/weights/byte-source';
import { copyToCache } from '../../engine/weights/cache-transfer';
import { combinedHash, sampledContentHash } from '../../engine/weights/content-hash';
import type { ListedFile, PlannedFile } from '../../engine/weights/diffusers-files';
import { listHubFiles, type HubRepo } from '../../engine/weights/hub-repo';
import { cacheKeyOf, isComplete, type CacheManifest, type ModelCache } from '../../engine/weights/model-cache';
import { refusePickleBytes, refusePickleName } from '../../engine/weights/safetensors';
import { formatModelRef } from '../models/model-source';
import { TAESD_REF_PREFIX, type TaesdDetails, type TaesdSource } from '../models/taesd-source';
import { downloadPlanned, planCached, type HubPlan, type LoaderContext } from './model-loader';
import { TransferMeter } from './transfer-meter';

const WEIGHTS = 'diffusion_pytorch_model.safetensors';

export interface ResolvedTaesd {
  details: Omit<TaesdDetails, 'latentChannels'>;
  load(gpu: GpuContext): Promise<TaesdDecoder>;
  /** Forget the cached copy when it turns out not to load (a picked file that was just copied). */
  discardOnFailure?: () => Promise<void>;
}

/**
 * The files of a TAESD among `listed`: a diffusers AutoencoderTiny (config.json and
 * diffusion_pytorch_model[.fp16].safetensors) at the shallowest folder that has one, else one
 * decoder safetensors file (taesd_decoder.safetensors), whose config is read from its keys.
 */
export function planTaesdFiles(listed: readonly ListedFile[], where: string): PlannedFile[] {
  const paths = listed.map((f) => f.path.replace(/^\/+/, ''));
  const byPath = new Map(listed.map((f, i) => [paths[i], f]));
  const roots = paths.filter((p) => p === 'config.json' || p.endsWith('/config.json')).map((p) => p.slice(0, -'config.json'.length)).sort((a, b) => a.length - b.length);
  for (const root of roots) {
    const weights = [`${root}diffusion_pytorch_model.fp16.safetensors`, `${root}${WEIGHTS}`].find((p) => byPath.has(p));
    if (weights) return [{ from: `${root}config.json`, to: 'config.json', size: byPath.get(`${root}config.json`)!.size }, { from: weights, to: WEIGHTS, size: byPath.get(weights)!.size }];
  }
  const singles = paths.filter((p) => /\.safetensors$/i.test(p));
  const decoder = singles.find((p) => /decoder/i.test(p.split('/').pop()!)) ?? (singles.length === 1 ? singles[0] : undefined);
  if (decoder) return [{ from: decoder, to: decoder.split('/').pop()!, size: byPath.get(decoder)!.size }];
  const pickle = paths.find((p) => /\.(bin|ckpt|pt|pth)$/i.test(p));
  if (pickle) throw new Error(`${where}: only pickle weights (${pickle}), which can run code when loaded; a TAESD loads from safetensors only`);
  throw new Error(`${where}: no TAESD here (expected config.json with ${WEIGHTS}, as diffusers saves an AutoencoderTiny, or a taesd_decoder.safetensors file)`);
}

export async function planTaesdHub(repo: HubRepo, cache: ModelCache, doFetch?: typeof fetch): Promise<HubPlan> {
  const ref = TAESD_REF_PREFIX + formatModelRef({ kind: 'hub', id: repo.id, revision: repo.revision });
  return planCached(ref, planTaesdFiles(await listHubFiles(repo, doFetch), `${repo.id}@${repo.revision}`), cache);
}

export async function resolveTaesd(source: TaesdSource, ctx: LoaderContext): Promise<ResolvedTaesd> {
  const cache = await ctx.cache();
  switch (source.kind) {
    case 'cached':
      return fromCache(cache, source.key);
    case 'hub':
      return fromHub(cache, source, ctx);
    case 'file':
      return fromFiles(cache, 'file', source.file.name, [{ path: source.file.name, file: source.file }], ctx);
    case 'folder':
      return fromFiles(cache, 'folder', source.name, source.files, ctx);
  }
}

async function fromCache(cache: ModelCache, key: string): Promise<ResolvedTaesd> {
  const manifest = await cache.manifest(key);
  if (!manifest || manifest.role !== 'taesd') throw new Error(`The cached TAESD "${key}" is gone (removed, or cleared with the site's data); load it again`);
  if (!isComplete(manifest)) throw new Error(`${manifest.label} is only partly downloaded; open it again to finish the download`);
  return {
    details: { ref: manifest.ref, label: manifest.label, key },
    async load(gpu) {
      if (manifest.files['config.json']) return TaesdDecoder.load(gpu, cache.folder(manifest), '');
      const [file] = Object.keys(manifest.files);
      return TaesdDecoder.loadSingleFile(gpu, blobSource(await cache.file(key, file), `${manifest.label}`));
    },
  };
}

async function fromHub(cache: ModelCache, source: Extract<TaesdSource, { kind: 'hub' }>, ctx: LoaderContext): Promise<ResolvedTaesd> {
  const repo: HubRepo = { id: source.id, revision: source.revision, endpoint: source.endpoint };
  const ref = TAESD_REF_PREFIX + formatModelRef({ kind: 'hub', id: source.id, revision: source.revision });
  const existing = await cache.manifest(cacheKeyOf(ref));
  if (existing && isComplete(existing)) return fromCache(cache, existing.key);
  if (!source.consented) throw new Error(`${source.id} is not cached in this browser; it loads after you confirm its download`);
  const plan = await planTaesdHub(repo, cache);
  const label = source.revision === 'main' ? source.id : `${source.id}@${source.revision}`;
  const manifest: CacheManifest = existing ?? { version: 1, key: plan.key, ref, label, layout: 'diffusers', role: 'taesd', files: {}, savedAt: Date.now() };
  await downloadPlanned(cache, manifest, plan, repo, ctx);
  return fromCache(cache, plan.key);
}

async function fromFiles(cache: ModelCache, kind: 'file' | 'folder', name: string, picked: readonly { path: string; file: File }[], ctx: LoaderContext): Promise<ResolvedTaesd> {
  const listed = picked.map(({ path, file }) => ({ path: path.replace(/\\/g, '/'), size: file.size, file }));
  for (const f of listed) if (kind === 'file') refusePickleName(f.path);
  const plan = planTaesdFiles(listed, name);
  const byPath = new Map(listed.map((f) => [f.path, f.file]));
  for (const f of plan) {
    if (!f.to.endsWith('.safetensors')) continue;
    const file = byPath.get(f.from)!;
    refusePickleBytes(f.from, new Uint8Array(await file.slice(0, 8).arrayBuffer()));
    if (file.size < 8) throw new Error(`${f.from} is ${file.size} bytes long: too short for a safetensors file`);
  }
  const parts: string[] = [];
  for (const f of plan) parts.push(`${f.to}:${f.size}:${f.to.endsWith('.safetensors') ? await sampledContentHash(byPath.get(f.from)!) : await byPath.get(f.from)!.text()}`);
  const ref = TAESD_REF_PREFIX + formatModelRef({ kind, name, hash: await combinedHash(parts) });
  const key = cacheKeyOf(ref);
  const existing = await cache.manifest(key);
  if (existing && isComplete(existing)) return fromCache(cache, key);
  const manifest: CacheManifest = { version: 1, key, ref, label: name, layout: 'diffusers', role: 'taesd', files: Object.fromEntries(plan.map((f) => [f.to, { size: f.size, complete: false }])), savedAt: Date.now() };
  await cache.save(manifest);
  const meter = new TransferMeter(`Saving ${name} in this browser`, plan.reduce((n, f) => n + f.size, 0), ctx.onTransfer);
  try {
    for (const f of plan) manifest.files[f.to] = await copyToCache(cache, key, f.to, byPath.get(f.from)!, (n) => meter.add(n), ctx.signal);
    await cache.save(manifest);
  } catch (e) {
    await cache.remove(key).catch(() => undefined);
    throw e;
  }
  return { ...(await fromCache(cache, key)), discardOnFailure: () => cache.remove(key) };
}
