// Loading your own models: from a (local, fake) Hugging Face hub after consent, cached in the
// Origin Private File System across reloads, resumed after a cut download, removed again; and
// broken inputs that leave the current model working. Loading only: no test here waits for a render.
import { fixturePipelineFiles } from '../tests/support/fixture-pipeline';
import { fakeHub, type HubFiles } from './fake-hub';
import { expect, test, type Page } from './test-model';

const UNET = 'unet/diffusion_pytorch_model.safetensors';

function hubModel(name: string, change: (files: HubFiles) => void = () => undefined): HubFiles {
  const files: HubFiles = { ...fixturePipelineFiles() };
  const index = JSON.parse(files['model_index.json'] as string);
  index.attention_lab.name = name;
  files['model_index.json'] = JSON.stringify(index);
  files['README.md'] = '# not needed';
  change(files);
  return files;
}

async function openModelDialog(page: Page) {
  await expect(page.getByTestId('model-name')).toContainText('fixture pipeline', { timeout: 300_000 });
  await page.getByRole('button', { name: 'Change model…' }).click();
  return page.getByTestId('model-dialog');
}

async function checkHub(page: Page, id: string) {
  const dialog = page.getByTestId('model-dialog');
  await dialog.getByLabel('Hugging Face model id').fill(id);
  await dialog.getByRole('button', { name: 'Check size' }).click();
  await expect(dialog.getByRole('button', { name: 'Check size' })).toBeEnabled();
}

test('a Hugging Face model downloads only after the person sees its size, loads, and is cached across reloads', async ({ page, context }) => {
  const hub = await fakeHub(context, { 'test/tiny-sd': hubModel('tiny hub model') });
  await page.goto('/?steps=1&cfg=1');
  const dialog = await openModelDialog(page);
  await checkHub(page, 'https://huggingface.co/test/tiny-sd');
  await expect(dialog.getByTestId('hub-plan')).toContainText(UNET);
  await expect(dialog.getByTestId('hub-plan')).not.toContainText('README.md');
  await expect(dialog.getByTestId('hub-total')).toHaveText(/MB$/);
  expect(hub.requests).toEqual([]); // nothing downloaded before consent
  await dialog.getByRole('button', { name: /^Download .* and load$/ }).click();
  await expect(page.getByTestId('model-name')).toContainText('tiny hub model');
  await expect(page).toHaveURL(/model=hf%3Atest%2Ftiny-sd%40main/);
  const downloaded = hub.requests.length;
  expect(downloaded).toBeGreaterThan(5);

  // The link opens the cached copy at once: no question, no download.
  await page.reload();
  await expect(page.getByTestId('model-name')).toContainText('tiny hub model', { timeout: 300_000 });
  expect(hub.requests.length).toBe(downloaded);
});

test('a link that names a hub model that is not cached asks before downloading', async ({ page, context }) => {
  const hub = await fakeHub(context, { 'test/tiny-sd': hubModel('tiny hub model') });
  await page.goto('/?model=hf:test/tiny-sd@main&steps=1&cfg=1');
  const dialog = page.getByTestId('model-dialog');
  await expect(dialog).toContainText('This link renders with test/tiny-sd from Hugging Face');
  await expect(dialog.getByTestId('hub-total')).toHaveText(/MB$/);
  expect(hub.requests).toEqual([]);
  await dialog.getByRole('button', { name: /^Download .* and load$/ }).click();
  await expect(page.getByTestId('model-name')).toContainText('tiny hub model', { timeout: 300_000 });
});

test('a download cut off halfway resumes from where it stopped, and removing the model frees its space', async ({ page, context }) => {
  const files = hubModel('tiny hub model');
  const hub = await fakeHub(context, { 'test/tiny-sd': files });
  const size = (files[UNET] as Uint8Array).byteLength;
  const half = Math.floor(size / 2);
  hub.cutNext(UNET, half);
  await page.goto('/?steps=1&cfg=1');
  const dialog = await openModelDialog(page);
  await checkHub(page, 'test/tiny-sd');
  await dialog.getByRole('button', { name: /^Download .* and load$/ }).click();
  await expect(dialog.getByTestId('model-error')).toContainText(`${UNET}: the server sent ${half} bytes, but the file has ${size}; trying again resumes the download`);
  await expect(page.getByTestId('model-name')).toContainText('fixture pipeline');
  await expect(dialog.getByTestId('cached-model')).toContainText('(partial)');

  await checkHub(page, 'test/tiny-sd');
  await expect(dialog.getByTestId('hub-plan')).toContainText('already here from an earlier download');
  await dialog.getByRole('button', { name: /^Download .* and load$/ }).click();
  await expect(page.getByTestId('model-name')).toContainText('tiny hub model');
  expect(hub.requests.filter((r) => r.path === UNET)).toEqual([{ path: UNET, range: undefined }, { path: UNET, range: `bytes=${half}-` }]);

  await page.getByRole('button', { name: 'Change model…' }).click();
  const cached = dialog.getByTestId('cached-model');
  await expect(cached).toContainText('test/tiny-sd');
  const usedBefore = await opfsBytes(page);
  expect(usedBefore).toBeGreaterThan(size);
  await dialog.getByRole('button', { name: 'Remove test/tiny-sd' }).click();
  await expect(dialog.getByTestId('cached-models')).toContainText('No models cached yet.');
  expect(await opfsBytes(page)).toBe(0);
});

test('broken or unsupported models give clear errors and leave the current model working', async ({ page, context }) => {
  const truncated = (files: HubFiles) => void (files[UNET] = (files[UNET] as Uint8Array).subarray(0, (files[UNET] as Uint8Array).byteLength >> 1));
  await fakeHub(context, {
    'test/missing': hubModel('missing', (f) => void delete f[UNET]),
    'test/html': hubModel('html'),
    'test/truncated': hubModel('truncated', truncated),
    'test/shapes': hubModel('shapes', (f) => {
      const config = JSON.parse(new TextDecoder().decode(f['unet/config.json'] as Uint8Array));
      config.block_out_channels = [32, 64, 128];
      f['unet/config.json'] = JSON.stringify(config);
    }),
    'test/sdxl': hubModel('sdxl', (f) => void (f['text_encoder_2/config.json'] = '{}')),
  }).then((hub) => hub.serveHtml('test/html', 'text_encoder/model.safetensors'));
  await page.goto('/?steps=1&cfg=1');
  const dialog = await openModelDialog(page);
  const cases: [string, RegExp][] = [
    ['test/missing', /test\/missing@main: unet\/diffusion_pytorch_model.safetensors is missing/],
    ['test/html', /text_encoder\/model.safetensors: .* returned an HTML page, not the file/],
    ['test/truncated', /unet\/diffusion_pytorch_model.safetensors: .*truncated/],
    ['test/shapes', /unet\/diffusion_pytorch_model.safetensors does not match its config.json: down_blocks.2.resnets.0.conv1.weight is \[64, 64, 3, 3\], the config needs \[128, 64, 3, 3\]/],
    ['test/sdxl', /second text encoder \(SDXL\)/],
    ['no-such/model', /no such model or revision/],
  ];
  for (const [id, message] of cases) {
    await checkHub(page, id);
    const download = dialog.getByRole('button', { name: /^Download .* and load$/ });
    // Some are refused from the file list alone, before a Download button appears.
    await expect(dialog.getByTestId('model-error').or(download)).toBeVisible();
    if (await download.isVisible()) await download.click();
    await expect(dialog.getByTestId('model-error'), id).toContainText(message);
    await expect(page.getByTestId('model-name')).toContainText('fixture pipeline');
  }
  // A pickle checkpoint through the file picker.
  await dialog.getByLabel('Single-file checkpoint').setInputFiles({ name: 'v1-5-pruned.ckpt', mimeType: 'application/octet-stream', buffer: Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0]) });
  await expect(dialog.getByTestId('model-error')).toContainText('v1-5-pruned.ckpt: a .ckpt file is a PyTorch pickle checkpoint. Pickle checkpoints can run code when loaded and are not read here');
  await expect(page.getByTestId('model-name')).toContainText('fixture pipeline');
  await expect(page.getByTestId('error')).toHaveCount(0);
});

/** Bytes in the origin's private file system. */
function opfsBytes(page: Page): Promise<number> {
  return page.evaluate(async () => {
    async function sum(dir: FileSystemDirectoryHandle): Promise<number> {
      let total = 0;
      for await (const handle of (dir as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) {
        total += handle.kind === 'file' ? (await (handle as FileSystemFileHandle).getFile()).size : await sum(handle as FileSystemDirectoryHandle);
      }
      return total;
    }
    return sum(await navigator.storage.getDirectory());
  });
}

test('the image takes the width and height of the link, not the model\'s own size', async ({ page }) => {
  // The fixture model renders 32×32 by itself, in multiples of 8 (VAE ×2, two UNet downsamplings).
  await page.goto('/?steps=1&cfg=1&w=48&h=40');
  await expect(page.getByTestId('model-name')).toContainText('32×32', { timeout: 300_000 });
  await expect(page).toHaveURL(/&w=48&h=40&/);
  await expect(page.getByTestId('image-view')).toHaveAttribute('data-state', 'done', { timeout: 600_000 });
  const size = await page.getByRole('img', { name: 'Generated image' }).evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
  expect(size).toEqual([48, 40]);
});
