// The ONNX export of the default model (public/models/emoji-64/onnx, made by training/export_onnx.py;
// its numbers against PyTorch are checked by training/verify_onnx.py with onnxruntime): the graphs
// hold no weights, and the external data the app builds from the shipped f16 safetensors puts every
// weight, in f32, where the graph's initializers point.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { enumerateSites } from '../src/engine/nn/unet-sites';
import { expectedUNetWeights } from '../src/engine/nn/unet-weights';
import { assembleExternalData, buildExternalData, checkOnnxWeightManifest, joinPath, loadOnnxModel, ONNX_MANIFEST_FORMAT, RANDOM_WEIGHTS_SOURCE, type OnnxWeightManifest } from '../src/engine/ort/onnx-weights';
import { bytesSource } from '../src/engine/weights/byte-source';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { encodeSafetensors, parseSafetensorsHeader, readTensorF32 } from '../src/engine/weights/safetensors';

const MODEL = join(__dirname, '..', 'public', 'models', 'emoji-64');
const folder = nodeModelFolder(MODEL);

// ---- just enough of protobuf to list an ONNX graph's initializers (onnx.proto field numbers) ----

interface Field { field: number; wire: number; value: number | Uint8Array }

function* fields(bytes: Uint8Array): Generator<Field> {
  let at = 0;
  const varint = () => {
    let result = 0;
    for (let shift = 1; ; shift *= 128) {
      const b = bytes[at++];
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const [field, wire] = [Math.floor(key / 8), key % 8];
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 2) {
      const length = varint();
      yield { field, wire, value: bytes.subarray(at, (at += length)) };
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`protobuf wire type ${wire} at ${at}`);
  }
}

const text = (v: Field['value']) => new TextDecoder().decode(v as Uint8Array);

interface Initializer { name: string; dims: number[]; location: number; external: Record<string, string>; inlineBytes: number }

/** ModelProto.graph (7) → GraphProto.initializer (5) → TensorProto: dims 1, name 8, raw_data 9, external_data 13, data_location 14. */
function onnxInitializers(model: Uint8Array): Initializer[] {
  const out: Initializer[] = [];
  for (const g of fields(model)) {
    if (g.field !== 7) continue;
    for (const f of fields(g.value as Uint8Array)) {
      if (f.field !== 5) continue;
      const t: Initializer = { name: '', dims: [], location: 0, external: {}, inlineBytes: 0 };
      for (const x of fields(f.value as Uint8Array)) {
        if (x.field === 1 && x.wire === 0) t.dims.push(x.value as number);
        else if (x.field === 1) for (const d of fields(withKeys(x.value as Uint8Array))) t.dims.push(d.value as number);
        else if (x.field === 8) t.name = text(x.value);
        else if (x.field === 9) t.inlineBytes = (x.value as Uint8Array).length;
        else if (x.field === 14) t.location = x.value as number;
        else if (x.field === 13) {
          const entry = Object.fromEntries([...fields(x.value as Uint8Array)].map((e) => [e.field, text(e.value)]));
          t.external[entry[1]] = entry[2];
        }
      }
      out.push(t);
    }
  }
  return out;
}

/** Packed varints as a sequence of field-1 varints, so `fields` can read them. */
function withKeys(packed: Uint8Array): Uint8Array {
  const out: number[] = [];
  let start = true;
  for (const b of packed) {
    if (start) out.push(0x08);
    out.push(b);
    start = b < 0x80;
  }
  return Uint8Array.from(out);
}

/** The graph's initializers are the manifest's tensors, each with no data inside and its external data where the manifest says. */
function expectInitializersAsListed(graph: Uint8Array, manifest: OnnxWeightManifest): void {
  const initializers = onnxInitializers(graph);
  expect(initializers.map((i) => i.name).sort()).toEqual(manifest.tensors.map((t) => t.onnx_name).sort());
  const byName = new Map(manifest.tensors.map((t) => [t.onnx_name, t]));
  for (const init of initializers) {
    const t = byName.get(init.name)!;
    expect({ name: init.name, location: init.location, inlineBytes: init.inlineBytes, dims: init.dims, external: init.external }).toEqual({
      name: t.onnx_name, location: 1 /* TensorProto.EXTERNAL */, inlineBytes: 0, dims: t.shape,
      external: { location: manifest.external_data, offset: String(t.offset), length: String(t.length) },
    });
  }
}

// ----

const models = [
  { stem: 'unet', source: 'unet/diffusion_pytorch_model.safetensors' },
  { stem: 'text_encoder', source: 'text_encoder/model.safetensors' },
];

describe.each(models)('the ONNX export: $stem', ({ stem, source }) => {
  const load = async () => checkOnnxWeightManifest(await folder.readJson(`onnx/${stem}.manifest.json`), stem);

  it('lists every safetensors tensor once, back to back in f32, and its graph is small', async () => {
    const manifest = await load();
    expect(joinPath('onnx', manifest.source)).toBe(source);
    const header = await parseSafetensorsHeader(await folder.open(source));
    expect(manifest.tensors.map((t) => t.safetensors_name).sort()).toEqual(header.tensors.map((t) => t.name).sort());
    let offset = 0;
    for (const t of manifest.tensors) {
      expect(t.offset).toBe(offset);
      expect(t.shape).toEqual(header.byName.get(t.safetensors_name)?.shape);
      offset += t.length;
    }
    expect(manifest.external_data_bytes).toBe(offset);
    expect((await folder.open(`onnx/${manifest.onnx}`)).size).toBeLessThan(1_000_000);
  });

  it('its graph keeps no weights inside and points each initializer where the manifest says', async () => {
    const manifest = await load();
    const graph = await folder.open(`onnx/${manifest.onnx}`);
    expectInitializersAsListed(await graph.read(0, graph.size), manifest);
  });

  it('builds external data whose floats are the f16 weights', async () => {
    const { manifest, graph, externalData } = await loadOnnxModel(folder, `onnx/${stem}.manifest.json`);
    expect(graph.byteLength).toBeGreaterThan(0);
    expect(externalData).toHaveLength(1);
    const [{ path, data }] = externalData;
    expect(path).toBe(`${stem}.weights.bin`);
    expect(data.byteLength).toBe(manifest.external_data_bytes);
    const file = await folder.open(source);
    const header = await parseSafetensorsHeader(file);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const picks = [manifest.tensors[0], manifest.tensors[manifest.tensors.length >> 1], manifest.tensors[manifest.tensors.length - 1]];
    for (const t of picks) {
      const expected = await readTensorF32(file, header.byName.get(t.safetensors_name)!);
      const got = Array.from({ length: expected.length }, (_, i) => view.getFloat32(t.offset + 4 * i, true));
      expect(got).toEqual(Array.from(expected));
    }
  });
});

describe('the ONNX UNet', () => {
  it('takes one row of multipliers per attention site, in the engine order', async () => {
    const manifest = await folder.readJson<OnnxWeightManifest>('onnx/unet.manifest.json');
    const sites = enumerateSites(parseUNetConfig(await folder.readJson('unet/config.json')));
    expect(manifest.attention_sites).toEqual(sites.map(({ resolution: _, ...site }) => site));
    expect(manifest.inputs).toEqual([
      { name: 'sample', dtype: 'float32', shape: ['batch', 3, 'height', 'width'] },
      { name: 'timestep', dtype: 'float32', shape: ['batch'] },
      { name: 'encoder_hidden_states', dtype: 'float32', shape: ['batch', 'tokens', 256] },
      { name: 'attention_multipliers', dtype: 'float32', shape: [sites.length, 4] },
    ]);
    expect(manifest.outputs).toEqual([{ name: 'noise_pred', dtype: 'float32', shape: ['batch', 3, 'height', 'width'] }]);
  });
});

describe('buildExternalData', () => {
  const manifest = (tensors: OnnxWeightManifest['tensors'], bytes: number): OnnxWeightManifest => ({
    format: 'attention-lab-onnx-external-data/1', onnx: 'm.onnx', external_data: 'm.weights.bin', source: 'm.safetensors',
    external_data_bytes: bytes, opset: 17, inputs: [], outputs: [], op_types: [], tensors,
  });
  const tensor = (name: string, shape: number[], offset: number) => ({
    onnx_name: name, safetensors_name: name, source_dtype: 'F16', dtype: 'float32' as const, shape, offset, length: shape.reduce((a, b) => a * b, 1) * 4,
  });
  const f16 = (...bits: number[]) => new Uint8Array(new Uint16Array(bits).buffer);
  const file = bytesSource('m.safetensors', encodeSafetensors([
    { name: 'a', dtype: 'F16', shape: [2], data: f16(0x3c00, 0xc000) }, // 1, -2
    { name: 'b', dtype: 'F16', shape: [1], data: f16(0x3555) }, // 0.333251953125
  ]));

  it('writes each tensor in f32 at its offset, in the manifest order, whatever the file order', async () => {
    const data = await buildExternalData(manifest([tensor('b', [1], 0), tensor('a', [2], 4)], 12), file);
    expect(Array.from(new Float32Array(data.buffer))).toEqual([0.333251953125, 1, -2]);
  });

  it('refuses a missing tensor, a shape that differs, and overlapping offsets', async () => {
    await expect(buildExternalData(manifest([tensor('c', [1], 0)], 4), file)).rejects.toThrow(/no tensor "c"/);
    await expect(buildExternalData(manifest([tensor('a', [1, 2], 0)], 8), file)).rejects.toThrow(/shape \[2\].*\[1, 2\]/);
    expect(() => checkOnnxWeightManifest(manifest([tensor('a', [2], 0), tensor('b', [1], 4)], 12), 'm')).toThrow(/overlaps/);
  });
});

// The benchmark's SD-size layouts (scripts/bench/layouts/*), exported without weights: the benchmark
// fills their external data from the random weights our engine runs (scripts/bench/ort-layout.ts),
// so every initializer must be one of the engine's weights, by name and shape, and all of them there.
const LAYOUTS = join(__dirname, '..', 'scripts', 'bench', 'layouts');

describe.each(['sd15', 'sd-turbo'])('the ONNX export of the bench layout %s', (name) => {
  const layout = nodeModelFolder(join(LAYOUTS, name));

  it('has one initializer per engine weight, back to back in f32, and multiplier rows in the engine order', async () => {
    const manifest = checkOnnxWeightManifest(await layout.readJson('onnx/unet.manifest.json'), name);
    expect(manifest.source).toBe(RANDOM_WEIGHTS_SOURCE);
    const config = parseUNetConfig(await layout.readJson('unet/config.json'));
    const expected = expectedUNetWeights(config);
    expect(manifest.tensors.map((t) => t.onnx_name).sort()).toEqual([...expected.keys()].sort());
    let offset = 0;
    for (const t of manifest.tensors) {
      expect({ name: t.onnx_name, shape: t.shape, offset: t.offset }).toEqual({ name: t.onnx_name, shape: expected.get(t.onnx_name), offset });
      offset += t.length;
    }
    expect(manifest.external_data_bytes).toBe(offset);
    const sites = enumerateSites(config);
    expect(manifest.attention_sites).toEqual(sites.map(({ resolution: _, ...site }) => site));
    expect(manifest.inputs.at(-1)).toEqual({ name: 'attention_multipliers', dtype: 'float32', shape: [sites.length, 4] });
    const graph = await layout.open(`onnx/${manifest.onnx}`);
    expectInitializersAsListed(await graph.read(0, graph.size), manifest);
  });
});

describe('assembleExternalData', () => {
  it('puts each tensor at its offset and refuses values of the wrong length', async () => {
    const m = (tensors: { name: string; shape: number[]; offset: number }[], bytes: number) =>
      checkOnnxWeightManifest({ format: ONNX_MANIFEST_FORMAT, onnx: 'g.onnx', external_data: 'w.bin', source: RANDOM_WEIGHTS_SOURCE, external_data_bytes: bytes, opset: 17, inputs: [], outputs: [], op_types: [],
        tensors: tensors.map((t) => ({ onnx_name: t.name, safetensors_name: t.name, source_dtype: 'random', dtype: 'float32', shape: t.shape, offset: t.offset, length: 4 * t.shape.reduce((a, b) => a * b, 1) })) }, 'm');
    const values: Record<string, number[]> = { a: [1, 2], b: [3] };
    const data = await assembleExternalData(m([{ name: 'b', shape: [1], offset: 0 }, { name: 'a', shape: [2], offset: 8 }], 16), (t) => Float32Array.from(values[t.onnx_name]));
    expect(Array.from(new Float32Array(data.buffer))).toEqual([3, 0, 1, 2]);
    await expect(assembleExternalData(m([{ name: 'a', shape: [3], offset: 0 }], 12), (t) => Float32Array.from(values[t.onnx_name]))).rejects.toThrow(/2 values for tensor "a" of 3/);
  });
});
