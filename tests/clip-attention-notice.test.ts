// A backend whose text encoder cannot be steered (ONNX Runtime's is one fixed graph) renders without
// the text encoder's multipliers and says so, instead of failing or ignoring them silently.
import { describe, expect, it, vi } from 'vitest';
import { WebGpuBackend, type DenoisingBackend } from '../src/engine/sampling/backend';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import type { GenerateRequest } from '../src/engine';
import { fixturePipelineFolder } from './support/fixture-pipeline';
import { testGpu } from './support/gpu';

vi.setConfig({ testTimeout: 20 * 60_000 });

describe('the text encoder’s multipliers on a backend that cannot steer its encoder', () => {
  it('renders without them, with a notice naming the WebGPU engine', async () => {
    // Our engine, told to behave as ONNX Runtime's encoder does: no multipliers.
    const fixed = async (ctx: Parameters<typeof WebGpuBackend.load>[0]): Promise<DenoisingBackend> => {
      const backend = await WebGpuBackend.load(ctx);
      return Object.assign(Object.create(backend) as DenoisingBackend, { steersTextEncoder: false, name: 'onnxruntime' });
    };
    const pipeline = await DiffusionPipeline.load(await testGpu(), fixturePipelineFolder(), undefined, { backend: fixed });
    const base: GenerateRequest = { prompt: 'a red cat', negativePrompt: '', seed: 1, steps: 1, sampler: 'euler', cfg: 1, rules: [] };
    const plain = await pipeline.generate(base);
    const asked = await pipeline.generate({ ...base, clip: { multipliers: { q: 3, k: 1, v: 1, out: 1 } } });
    expect(plain.notices).toBeUndefined();
    expect(asked.notices).toEqual(['The text encoder attention multipliers need the WebGPU engine: ONNX Runtime runs the text encoder as one fixed graph, so this image was rendered without them.']);
    expect(asked.image.data).toEqual(plain.image.data);
    pipeline.destroy();
  });
});
