// The ONNX Runtime backend (src/engine/ort/ort-backend.ts) and our WGSL engine make the same image
// of the default model, attention multipliers included, at rel ≤ 1e-2 (the tolerance). Both
// run the model's shipped files: our engine its f16 safetensors, ONNX Runtime its ONNX export with
// the same weights converted to f32. One step without guidance: on SwiftShader one UNet call of this
// model takes minutes.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { onnxRuntimeBackend } from '../src/engine/ort/ort-backend';
import { loadNodeOrt } from '../src/engine/ort/ort-node';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import type { GenerateRequest } from '../src/engine';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { relError, testGpu } from './support/gpu';

const MODEL = join(__dirname, '..', 'public', 'models', 'emoji-64');
const SWIFTSHADER_MS = 30 * 60_000;

const request: GenerateRequest = {
  prompt: 'noto red apple',
  negativePrompt: '',
  seed: 7,
  steps: 1,
  sampler: 'euler',
  cfg: 1,
  rules: [
    { kind: 'attn1', target: { all: true }, multipliers: { q: 1.5, k: 1, v: 1.2, out: 0.9 } },
    { kind: 'attn2', target: { part: 'output' }, multipliers: { q: 1, k: 2, v: 1, out: 1.1 } },
  ],
};

let ours: DiffusionPipeline;
let ort: DiffusionPipeline;
beforeAll(async () => {
  const gpu = await testGpu();
  ours = await DiffusionPipeline.load(gpu, nodeModelFolder(MODEL));
  ort = await DiffusionPipeline.load(gpu, nodeModelFolder(MODEL), undefined, { backend: onnxRuntimeBackend(await loadNodeOrt(), 'webgpu') });
}, SWIFTSHADER_MS);

describe('the ONNX Runtime backend', () => {
  it('offers the same model: size, defaults, attention sites', () => {
    expect(ort.backend.name).toBe('onnxruntime');
    expect(ort.info).toEqual(ours.info);
  });

  it('makes the same image as our engine, with attention multipliers, at rel ≤ 1e-2', async () => {
    const a = await ours.generate(request);
    const b = await ort.generate(request);
    const error = relError(b.image.data, a.image.data);
    console.log(`ONNX Runtime vs WGSL engine, one step of the default model: rel ${error.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(1e-2);
    // The multipliers reach the ONNX graph: without them its image is another one.
    const plain = await ort.generate({ ...request, rules: [] });
    expect(relError(plain.image.data, b.image.data)).toBeGreaterThan(1e-2);
  }, SWIFTSHADER_MS);
});
