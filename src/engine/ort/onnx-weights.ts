// Weights for the ONNX export of a model (training/export_onnx.py). The .onnx files hold only the
// graph: every weight is an initializer whose data lies in ONE external file that is not shipped
// (45 MB of f32 duplicating the f16 safetensors). This builds that file's bytes at load time from
// the shipped safetensors — each tensor converted to f32, little-endian, at the manifest's byte
// offset — for onnxruntime-web's `externalData` session option:
//
//   const model = await loadOnnxModel(folder, 'onnx/unet.manifest.json');
//   const session = await ort.InferenceSession.create(model.graph, { externalData: model.externalData, ... });
//
// The manifest (`<stem>.manifest.json`, next to the graph) lists each initializer in external-data
// order: ONNX name, safetensors name, shape, offset, length; and, for a UNet, the attention sites in
// the order of the graph's `attention_multipliers` rows (= enumerateSites).

import type { AttentionSite } from '../api';
import type { ByteSource, ProgressCallback } from '../weights/byte-source';
import type { ModelFolder } from '../weights/model-folder';
import { assertFloat, decodeF32, parseSafetensorsHeader, type SafetensorsTensorInfo } from '../weights/safetensors';

export const ONNX_MANIFEST_FORMAT = 'attention-lab-onnx-external-data/1';

/** The `source` of a layout exported without weights (training/export_onnx.py --unet-config). */
export const RANDOM_WEIGHTS_SOURCE = 'random';

export interface OnnxWeightTensor {
  /** The initializer's name in the graph. */
  onnx_name: string;
  /** The tensor in the safetensors file `source` that holds its values. */
  safetensors_name: string;
  /** As the safetensors file stores it ('F16'; 'random' for a layout without weights); converted to f32. */
  source_dtype: string;
  dtype: 'float32';
  shape: number[];
  /** Byte offset and length in the external data. */
  offset: number;
  length: number;
}

export interface OnnxIoSpec {
  name: string;
  /** onnxruntime-web's Tensor type: 'float32', 'int32', ... */
  dtype: string;
  /** Numbers are fixed sizes, strings dynamic axes ('batch'). */
  shape: (number | string)[];
}

export interface OnnxWeightManifest {
  format: string;
  /** The graph file, in the manifest's folder. */
  onnx: string;
  /** The file name the graph's initializers point at: the `path` of ORT's externalData entry. */
  external_data: string;
  /** The safetensors file, relative to the manifest's folder ('../unet/diffusion_pytorch_model.safetensors'),
   * or RANDOM_WEIGHTS_SOURCE for a layout without weights, whose user supplies each tensor's values. */
  source: string;
  external_data_bytes: number;
  opset: number;
  inputs: OnnxIoSpec[];
  outputs: OnnxIoSpec[];
  op_types: string[];
  notes?: string[];
  /** UNet only: the rows of `attention_multipliers`, in enumerateSites order. */
  attention_sites?: Omit<AttentionSite, 'resolution'>[];
  tensors: OnnxWeightTensor[];
}

/** Checks the fields the weight builder relies on; the error names the file. */
export function checkOnnxWeightManifest(json: unknown, where: string): OnnxWeightManifest {
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (typeof json !== 'object' || json === null) fail('not a JSON object');
  const m = json as OnnxWeightManifest;
  if (m.format !== ONNX_MANIFEST_FORMAT) fail(`format is ${JSON.stringify(m.format)}, expected "${ONNX_MANIFEST_FORMAT}"`);
  for (const key of ['onnx', 'external_data', 'source'] as const) if (typeof m[key] !== 'string' || !m[key]) fail(`"${key}" must be a file name`);
  if (!isCount(m.external_data_bytes)) fail('"external_data_bytes" must be a byte count');
  if (!Array.isArray(m.tensors)) fail('"tensors" must be a list');
  const byOffset = [...m.tensors].sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const t of byOffset) {
    const what = `tensor "${t.onnx_name}"`;
    if (t.dtype !== 'float32') fail(`${what} is ${t.dtype}; only float32 external data is built`);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) fail(`${what} has shape ${JSON.stringify(t.shape)}`);
    if (!isCount(t.offset) || t.offset % 4 !== 0) fail(`${what} has offset ${t.offset}; f32 data needs a multiple of 4`);
    if (t.length !== t.shape.reduce((a, b) => a * b, 1) * 4) fail(`${what} has length ${t.length} for shape [${t.shape.join(', ')}] in f32`);
    if (t.offset < end) fail(`${what} at ${t.offset} overlaps the tensor before it (which ends at ${end})`);
    end = t.offset + t.length;
  }
  if (end > m.external_data_bytes) fail(`tensors end at ${end}, beyond external_data_bytes ${m.external_data_bytes}`);
  return m;
}

/**
 * The external data of `manifest` from the safetensors file `source`: a buffer of
 * external_data_bytes holding each tensor in f32 at its offset. Every tensor must exist in the file
 * with the manifest's shape and a float dtype; F16 and BF16 convert exactly.
 */
export async function buildExternalData(manifest: OnnxWeightManifest, source: ByteSource): Promise<Uint8Array> {
  const header = await parseSafetensorsHeader(source);
  const infos = manifest.tensors.map((t): SafetensorsTensorInfo => {
    const info = header.byName.get(t.safetensors_name);
    if (!info) throw new Error(`${source.name}: no tensor "${t.safetensors_name}", which the ONNX graph's initializer "${t.onnx_name}" needs`);
    assertFloat(source.name, info);
    if (info.shape.join(',') !== t.shape.join(',')) {
      throw new Error(`${source.name}: tensor "${info.name}" has shape [${info.shape.join(', ')}], the ONNX manifest expects [${t.shape.join(', ')}]`);
    }
    return info;
  });
  if (!infos.length) return new Uint8Array(manifest.external_data_bytes);
  // One read of the span the tensors cover (the whole data section, for the shipped files).
  const begin = Math.min(...infos.map((i) => i.begin));
  const end = Math.max(...infos.map((i) => i.end));
  const bytes = await source.read(begin, end - begin);
  const infoOf = new Map(manifest.tensors.map((t, i) => [t, infos[i]]));
  return assembleExternalData(manifest, (t) => {
    const info = infoOf.get(t)!;
    return decodeF32(bytes.subarray(info.begin - begin, info.end - begin), info, source.name);
  });
}

/** The external data of `manifest`: a buffer of external_data_bytes with each tensor's f32 values,
 * from `values`, at its offset. */
export async function assembleExternalData(
  manifest: OnnxWeightManifest,
  values: (tensor: OnnxWeightTensor) => Float32Array | Promise<Float32Array>,
): Promise<Uint8Array> {
  const out = new Uint8Array(manifest.external_data_bytes);
  const f32 = new Float32Array(out.buffer);
  for (const t of manifest.tensors) {
    const v = await values(t);
    if (v.length * 4 !== t.length) throw new Error(`ONNX external data: ${v.length} values for tensor "${t.onnx_name}" of ${t.length / 4}`);
    f32.set(v, t.offset / 4);
  }
  return out;
}

export interface OnnxModelFiles {
  manifest: OnnxWeightManifest;
  /** The .onnx file (graph only). */
  graph: Uint8Array;
  /** For InferenceSession.create's `externalData` option. */
  externalData: { path: string; data: Uint8Array }[];
}

/** Reads a manifest (e.g. 'onnx/unet.manifest.json'), its graph, and builds its external data. */
export async function loadOnnxModel(folder: ModelFolder, manifestPath: string, opts: { onProgress?: ProgressCallback } = {}): Promise<OnnxModelFiles> {
  const dir = manifestPath.includes('/') ? manifestPath.slice(0, manifestPath.lastIndexOf('/')) : '';
  const manifest = checkOnnxWeightManifest(await folder.readJson(manifestPath), `${folder.name}/${manifestPath}`);
  const graphSource = await folder.open(joinPath(dir, manifest.onnx));
  const graph = await graphSource.read(0, graphSource.size);
  const data = await buildExternalData(manifest, await folder.open(joinPath(dir, manifest.source), { onProgress: opts.onProgress }));
  return { manifest, graph, externalData: [{ path: manifest.external_data, data }] };
}

/** `rel` (which may start with '../') resolved against the folder-relative directory `dir`. */
export function joinPath(dir: string, rel: string): string {
  const parts = dir ? dir.split('/') : [];
  for (const part of rel.split('/')) {
    if (part === '..') {
      if (!parts.length) throw new Error(`${rel} leaves the model folder (from "${dir}")`);
      parts.pop();
    } else if (part && part !== '.') {
      parts.push(part);
    }
  }
  return parts.join('/');
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
