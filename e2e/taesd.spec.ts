// TAESD as the fast decoder, loaded the ways a person loads one: from a (local, fake) Hugging Face hub
// after seeing its size, and from files. The fixture TAESD (taesd-tiny) decodes the fixture model's
// 4-channel latents at 8× where its VAE upsamples 2×, so its images are 128×128 instead of 32×32.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readAllF32 } from '../src/engine/weights/safetensors';
import { encodeSafetensors } from '../src/engine/weights/safetensors';
import { nodeFileSource } from '../src/engine/weights/node-byte-source';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { fakeHub } from './fake-hub';
import { canvasPixels, generatedImage, waitForImage } from './helpers';
import { expect, test, type Page } from './test-model';

const TAESD = join(fixturesDir(), 'taesd-tiny');
const WEIGHTS = 'diffusion_pytorch_model.safetensors';
const taesdFiles = () => ({ 'config.json': readFileSync(join(TAESD, 'config.json')), [WEIGHTS]: new Uint8Array(readFileSync(join(TAESD, WEIGHTS))), 'taesd_decoder.pth': 'pickle, never fetched', 'README.md': '# TAESD' });

async function openDialog(page: Page) {
  await expect(page.getByTestId('model-name')).toContainText('fixture pipeline', { timeout: 300_000 });
  await page.getByRole('button', { name: 'Change model…' }).click();
  return page.getByTestId('model-dialog');
}

async function imageSize(page: Page): Promise<number[]> {
  return generatedImage(page).evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
}

test('a TAESD from the hub loads after its size is shown, decodes the image when chosen, and the link says dec=taesd', async ({ page, context, browser }) => {
  const hub = await fakeHub(context, { 'madebyollin/taesd': taesdFiles() });
  await page.goto('/?steps=1&cfg=1');
  await waitForImage(page);
  const vae = await canvasPixels(generatedImage(page));
  expect([vae.width, vae.height]).toEqual([32, 32]);
  await expect(page.getByLabel('Decoder')).toHaveCount(0);

  const dialog = await openDialog(page);
  const section = dialog.getByTestId('taesd-section');
  await expect(section.getByLabel('TAESD hub id')).toHaveValue('madebyollin/taesd');
  await section.getByRole('button', { name: 'Check TAESD size' }).click();
  await expect(section.getByTestId('taesd-plan')).toContainText(`config.json, ${WEIGHTS}`);
  await expect(section.getByTestId('taesd-plan')).not.toContainText('.pth');
  expect(hub.requests).toEqual([]); // nothing downloaded before consent
  await section.getByRole('button', { name: /^Download .* and use as fast decoder$/ }).click();
  await expect(section.getByTestId('taesd-status')).toHaveText('Loaded: madebyollin/taesd');
  expect(hub.requests.map((r) => r.path).sort()).toEqual(['config.json', WEIGHTS]);
  await expect(dialog.getByTestId('cached-model').filter({ hasText: 'madebyollin/taesd (TAESD)' })).toBeVisible();
  await page.keyboard.press('Escape');

  // The choice appears; TAESD makes the final image, the link carries it.
  await page.getByLabel('Decoder').selectOption('taesd');
  await expect(page).toHaveURL(/[?&]dec=taesd(&|$)/);
  await waitForImage(page);
  await expect.poll(() => imageSize(page)).toEqual([128, 128]);
  // Back to the VAE: its image again, and dec leaves the link.
  await page.getByLabel('Decoder').selectOption('vae');
  await expect(page).not.toHaveURL(/dec=/);
  await waitForImage(page);
  await expect.poll(() => imageSize(page)).toEqual([32, 32]);
  expect((await canvasPixels(generatedImage(page))).data).toEqual(vae.data);
  await page.getByLabel('Decoder').selectOption('taesd');
  const link = page.url();

  // After a reload the cached TAESD is back without a download, and the link renders with it.
  const fetched = hub.requests.length;
  await page.reload();
  await waitForImage(page);
  await expect.poll(() => imageSize(page)).toEqual([128, 128]);
  expect(hub.requests.length).toBe(fetched);

  // Elsewhere (no TAESD), the link renders with the VAE and says which TAESD to load.
  const other = await browser.newContext();
  const elsewhere = await other.newPage();
  await elsewhere.goto(link);
  await expect(elsewhere.getByTestId('model-dialog')).toContainText('This link decodes with TAESD (fast), which is not loaded here: the VAE renders meanwhile. Load madebyollin/taesd', { timeout: 300_000 });
  await expect(elsewhere.getByTestId('notices')).toContainText('madebyollin/taesd');
  await elsewhere.keyboard.press('Escape');
  await waitForImage(elsewhere);
  expect(await imageSize(elsewhere)).toEqual([32, 32]);
  await other.close();
});

test('broken or mismatched TAESD files give a message and the model keeps working; a single file and a folder load', async ({ page }) => {
  const weights = await readAllF32(await nodeFileSource(join(TAESD, WEIGHTS)));
  const tensors = [...weights].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
  // A TAESD for 16-channel latents (SD3 and Flux have them): its first conv reads 16 channels.
  const wide = tensors.map((t) => (t.name === 'decoder.layers.0.weight' ? { ...t, shape: [8, 16, 3, 3], data: new Float32Array(8 * 16 * 9).fill(0.01) } : t));
  const good = Buffer.from(encodeSafetensors(tensors));
  const file = (name: string, buffer: Buffer) => ({ name, mimeType: 'application/octet-stream', buffer });
  await page.goto('/?steps=1&cfg=1');
  const dialog = await openDialog(page);
  const section = dialog.getByTestId('taesd-section');
  const cases: [{ name: string; mimeType: string; buffer: Buffer }, RegExp][] = [
    [file('taesd3_decoder.safetensors', Buffer.from(encodeSafetensors(wide))), /This TAESD decodes 16-channel latents, but fixture pipeline makes 4-channel latents/],
    [file('truncated.safetensors', good.subarray(0, good.byteLength >> 1)), /truncated/],
    [file('vae.safetensors', Buffer.from(readFileSync(join(fixturesDir(), 'vae-kl-tiny', WEIGHTS)))), /vae\.safetensors: not a TAESD decoder/],
    [file('taesd_decoder.pth', Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0])), /taesd_decoder\.pth: a \.pth file is a PyTorch pickle/],
  ];
  for (const [picked, message] of cases) {
    await section.getByLabel('TAESD file').setInputFiles(picked);
    await expect(section.getByTestId('taesd-error'), picked.name).toContainText(message);
    await expect(section.getByTestId('taesd-status')).toHaveText(/None loaded/);
  }
  await expect(page.getByTestId('model-name')).toContainText('fixture pipeline');
  await expect(page.getByTestId('error')).toHaveCount(0);
  await expect(dialog.getByTestId('cached-models')).toContainText('No models cached yet.');

  // One diffusers-layout file, no config.json: the config is read from its keys.
  await section.getByLabel('TAESD file').setInputFiles(file('taesd.safetensors', good));
  await expect(section.getByTestId('taesd-status')).toHaveText('Loaded: taesd.safetensors');
  // A folder as diffusers saves an AutoencoderTiny replaces it.
  await section.getByLabel('TAESD folder').setInputFiles(TAESD);
  await expect(section.getByTestId('taesd-status')).toHaveText('Loaded: taesd-tiny');
  await page.keyboard.press('Escape');
  await page.getByLabel('Decoder').selectOption('taesd');
  await waitForImage(page);
  await expect.poll(() => imageSize(page)).toEqual([128, 128]);
});
