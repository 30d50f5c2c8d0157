// A long session as the playground drives the engine: thousands of slider changes, each a render
// request through the worker's latest-wins queue. GPU memory must come back to where it was, and
// the image shown must be the last change's.
import { describe, expect, it, vi } from 'vitest';
import { RenderQueue, type RenderJob } from '../src/app/engine/render-queue';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import type { GenerateRequest, RgbaImage } from '../src/engine';
import { fixturePipelineFolder } from './support/fixture-pipeline';
import { testGpu } from './support/gpu';

vi.setConfig({ testTimeout: 20 * 60_000 });

describe('a long session', () => {
  it('2,000 rapid multiplier changes leave GPU buffers and bytes where they started, and the last change wins', async () => {
    const gpu = await testGpu();
    const pipeline = await DiffusionPipeline.load(gpu, fixturePipelineFolder());
    const base: GenerateRequest = { prompt: 'a red cat', negativePrompt: '', seed: 7, steps: 2, sampler: 'euler', cfg: 5, rules: [] };
    const withQ = (q: number): GenerateRequest => ({ ...base, rules: [{ kind: 'attn1', target: { all: true }, multipliers: { q, k: 1, v: 1, out: 1 } }] });
    await pipeline.generate(withQ(1)); // plans, buffers and pipelines for these sizes exist from here on
    const before = { ...gpu.live };
    expect(before.buffers).toBeGreaterThan(20); // the accounting sees the pipeline's buffers

    let shown: { id: number; image: RgbaImage } | undefined;
    let finished = 0;
    const queue = new RenderQueue(
      async (job: RenderJob, signal) => {
        try {
          const { image } = await pipeline.generate(job.request, { signal });
          if (!signal.aborted) shown = { id: job.id, image };
        } finally {
          finished++;
        }
      },
      () => undefined,
    );
    queue.start();
    const changes = 2000;
    for (let i = 1; i <= changes; i++) {
      queue.submit({ id: i, lane: 'live', request: withQ(0.5 + (i % 97) / 50) });
      // A drag's events come faster than renders: let the queue run now and then, as the worker's event loop does.
      if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    while (queue.running || queue.waitingCount) await new Promise((resolve) => setTimeout(resolve, 20));

    expect(shown?.id).toBe(changes);
    const fresh = await pipeline.generate(withQ(0.5 + (changes % 97) / 50));
    expect(Buffer.from(shown!.image.data).equals(Buffer.from(fresh.image.data))).toBe(true);
    expect(finished).toBeLessThan(changes / 10); // stale changes were dropped, not rendered
    expect(gpu.live).toEqual(before);
    pipeline.destroy();
  });
});
