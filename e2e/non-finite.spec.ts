// A model with broken weights, as a person's download could be: the load names the tensor, as
// `npm run check-model` does, and the image it makes is said to be non-finite, never shown as a
// flat picture in silence. And the requests a load makes: each file once, none it does not have.
import { join } from 'node:path';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { nodeFileSource } from '../src/engine/weights/node-byte-source';
import { encodeSafetensors, readAllF32 } from '../src/engine/weights/safetensors';
import { fixturePipelineFiles } from '../tests/support/fixture-pipeline';
import { FAST, RENDER_WAIT_MS, SLOW_TEST_MS, waitForImage } from './helpers';
import { expect, test } from './test-model';

test.describe.configure({ timeout: SLOW_TEST_MS });

/** The fixture UNet with every value of `tensor` (f32) set to `value`. */
function unetWith(tensor: string, value: number): Buffer {
  const bytes = Buffer.from(fixturePipelineFiles()['unet/diffusion_pytorch_model.safetensors'] as Uint8Array);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const { dtype, data_offsets: [begin, end] } = header[tensor];
  if (dtype !== 'F32') throw new Error(`${tensor} is ${dtype}, expected F32`);
  for (let at = 8 + headerLength + begin; at < 8 + headerLength + end; at += 4) bytes.writeFloatLE(value, at);
  return bytes;
}

const UNET = '**/models/emoji-64/unet/diffusion_pytorch_model.safetensors';

test('a model with NaN weights is named when it loads, and its image says it is broken', async ({ page }) => {
  await page.route(UNET, (route) => route.fulfill({ status: 200, body: unetWith('conv_out.bias', NaN), contentType: 'application/octet-stream' }));
  // Four steps: the previews of the slow steps carry the flag too.
  await page.goto('/?steps=4&cfg=1&seed=5');
  const notices = page.getByTestId('notices');
  await expect(notices).toContainText('has broken weights');
  await expect(notices).toContainText('tensor "conv_out.bias" holds 4 non-finite values (NaN or Infinity)');
  await expect(page.getByTestId('non-finite')).toContainText('The picture forming has non-finite values (NaN or Infinity) from step 1');
  await waitForImage(page);
  await expect(page.getByTestId('non-finite')).toHaveText(/^The image has non-finite values \(NaN or Infinity\) from step 1, .*the model’s weights hold such values/);
});

test('values that overflow while sampling, from finite weights, say to lower the multipliers or CFG', async ({ page }) => {
  // A bias of 3e38 is finite in the file; the sampler's step takes it past float32's range, as
  // multipliers at 10 with a high CFG can.
  await page.route(UNET, (route) => route.fulfill({ status: 200, body: unetWith('conv_out.bias', 3e38), contentType: 'application/octet-stream' }));
  await page.goto(`/?${FAST}&seed=5&xy=seed:5,6;none`);
  await waitForImage(page);
  await expect(page.getByTestId('non-finite')).toHaveText(/^The image has non-finite values \(NaN or Infinity\) from step 1, so it is not a real picture; try lower multipliers or CFG\.$/);
  await expect(page.getByTestId('notices')).not.toContainText('broken weights');
  // The XY plot's cells are pictures too: the broken ones are named under the grid.
  await expect(page.getByTestId('xy-status')).toHaveAttribute('data-status', 'done', { timeout: RENDER_WAIT_MS });
  await expect(page.getByTestId('xy-non-finite')).toHaveText('2 cells have non-finite values (NaN or Infinity), so they are not real pictures: Seed 5; Seed 6. Try lower multipliers or CFG.');
});

test('a clean model shows no such warning, and its load asks for each file once and for none it lacks', async ({ page }) => {
  const requests: string[] = [];
  const failed: string[] = [];
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (path.startsWith('/models/')) requests.push(path);
  });
  page.on('response', async (response) => {
    const path = new URL(response.url()).pathname;
    const type = response.headers()['content-type'] ?? '';
    if (path.startsWith('/models/') && (!response.ok() || type.includes('text/html'))) failed.push(`${path}: ${response.status()} ${type}`);
  });
  page.on('requestfailed', (request) => {
    const path = new URL(request.url()).pathname;
    if (path.startsWith('/models/')) failed.push(`${path}: ${request.failure()?.errorText}`);
  });
  await page.goto(`/?${FAST}&seed=5`);
  await waitForImage(page);
  await expect(page.getByTestId('non-finite')).toHaveCount(0);
  await expect(page.getByTestId('notices')).not.toContainText('broken weights');
  expect(failed).toEqual([]);
  const counts = new Map<string, number>();
  for (const path of requests) counts.set(path, (counts.get(path) ?? 0) + 1);
  expect([...counts].filter(([, n]) => n > 1), `requests: ${requests.join(', ')}`).toEqual([]);
  // Every file the model has is asked for at most once; nothing else.
  const have = new Set(Object.keys(fixturePipelineFiles()).map((file) => `/models/emoji-64/${file}`));
  expect(requests.filter((path) => !have.has(path))).toEqual([]);
});

test('a TAESD with NaN weights is named when it loads', async ({ page }) => {
  const dir = join(fixturesDir(), 'taesd-tiny');
  const weights = await readAllF32(await nodeFileSource(join(dir, 'diffusion_pytorch_model.safetensors')));
  const tensors = [...weights].map(([name, t]) => ({ name, shape: t.shape, data: name === 'decoder.layers.0.bias' ? t.data.map(() => NaN) : t.data }));
  await page.goto('/?steps=1&cfg=1');
  await expect(page.getByTestId('model-name')).toContainText('fixture pipeline', { timeout: 300_000 });
  await page.getByRole('button', { name: 'Change model…' }).click();
  const section = page.getByTestId('model-dialog').getByTestId('taesd-section');
  await section.getByLabel('TAESD file').setInputFiles({ name: 'taesd.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(encodeSafetensors(tensors)) });
  await expect(section.getByTestId('taesd-status')).toHaveText('Loaded: taesd.safetensors');
  await expect(page.getByTestId('notices')).toContainText(/The fast decoder taesd\.safetensors has broken weights: .*tensor "decoder\.layers\.0\.bias" holds \d+ non-finite values/);
});
