// The model the e2e tests render with. SwiftShader runs WebGPU on the CPU: one UNet call of the
// default model takes one to several minutes there, and the playground tests render dozens of
// images. So, unless a test asks for the real model (`test.use({ realModel: true })`), requests
// for the default model's files are answered with a small model assembled from the golden
// fixtures (tests/support/fixture-pipeline.ts: SD-layout UNet at 16×16 latents, CLIP text
// encoder, KL VAE; random weights, so images look like coloured noise). Everything else — the app,
// the worker, the engine, WebGPU — is the real thing.
import { test as base } from '@playwright/test';
import { fixturePipelineFiles } from '../tests/support/fixture-pipeline';

export { expect } from '@playwright/test';
export type { Locator, Page } from '@playwright/test';

const DEFAULT_MODEL_PATH = '/models/emoji-64/';

export const test = base.extend<{ realModel: boolean; modelRoute: void }>({
  realModel: [false, { option: true }],
  modelRoute: [
    async ({ context, realModel }, use) => {
      if (!realModel) {
        const files = fixturePipelineFiles();
        // On the context, not the page: a test's own routes (registered later) then come first.
        await context.route(`**${DEFAULT_MODEL_PATH}**`, async (route) => {
          const path = new URL(route.request().url()).pathname.slice(DEFAULT_MODEL_PATH.length);
          const file = files[path];
          if (file === undefined) return route.fulfill({ status: 404, body: 'not found' });
          const body = typeof file === 'string' ? file : Buffer.from(file.buffer, file.byteOffset, file.byteLength);
          return route.fulfill({ status: 200, body, contentType: path.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
        });
      }
      await use();
    },
    { auto: true },
  ],
});
