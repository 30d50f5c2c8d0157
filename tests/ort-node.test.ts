import { readFileSync } from 'node:fs';
import type { InferenceSession } from 'onnxruntime-web/webgpu';
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeGpuContext } from '../src/engine/gpu/node-gpu';
import { loadNodeOrt, type Ort } from '../src/engine/ort/ort-node';
import { randn, relError, rng } from './support/gpu';

// ORT's WebGPU kernels against its CPU (wasm) kernels on the same f32 model: sums in another order.
const TOLERANCE = 1e-5;

interface Model {
  file: string;
  inputShape: number[];
  outputShape: number[];
}

// Made by tests/fixtures/ort/make-models.py.
const models: Model[] = [
  { file: 'matmul-add-softmax.onnx', inputShape: [2, 16, 32], outputShape: [2, 16, 24] },
  { file: 'conv-relu.onnx', inputShape: [1, 3, 16, 16], outputShape: [1, 8, 16, 16] },
];

const modelBytes = (model: Model) => new Uint8Array(readFileSync(new URL(`fixtures/ort/${model.file}`, import.meta.url)));

const sessions: InferenceSession[] = [];
afterAll(async () => {
  for (const session of sessions) await session.release();
});

async function run(ort: Ort, model: Model, x: Float32Array, ep: InferenceSession.ExecutionProviderConfig, onGpu = false): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(modelBytes(model), {
    executionProviders: [ep],
    preferredOutputLocation: onGpu ? 'gpu-buffer' : 'cpu',
  });
  sessions.push(session);
  const { y } = await session.run({ x: new ort.Tensor('float32', x, model.inputShape) });
  expect(y.dims).toEqual(model.outputShape);
  // An output left in a GPUBuffer proves that the WebGPU EP computed it.
  if (onGpu) expect(y.location).toBe('gpu-buffer');
  const data = (await y.getData()) as Float32Array;
  y.dispose();
  return data;
}

describe('ONNX Runtime Web in Node on dawn.node', () => {
  for (const [index, model] of models.entries()) {
    it(`runs ${model.file} with the WebGPU execution provider as the wasm one does`, async () => {
      const ort = await loadNodeOrt();
      const x = randn(model.inputShape.reduce((a, b) => a * b), rng(index + 1));
      const onCpu = await run(ort, model, x, 'wasm');
      const onGpu = await run(ort, model, x, 'webgpu', true);
      expect(relError(onGpu, onCpu)).toBeLessThan(TOLERANCE);
      expect(onGpu.some((v) => v !== 0)).toBe(true);
    });
  }

  it("runs on a device it is given, such as our engine's", async () => {
    const ort = await loadNodeOrt();
    const context = await createNodeGpuContext();
    const [model] = models;
    const x = randn(model.inputShape.reduce((a, b) => a * b), rng(7));
    const onCpu = await run(ort, model, x, 'wasm');
    const onGpu = await run(ort, model, x, { name: 'webgpu', device: context.device }, true);
    expect(relError(onGpu, onCpu)).toBeLessThan(TOLERANCE);
    for (const session of sessions.splice(0)) await session.release();
    context.destroy();
  });
});
