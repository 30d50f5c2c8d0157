// A first visit on the slowest GPU there is (SwiftShader): progress that moves with a preview,
// images that can be kept and reopened, presets of one's own, undo, and help for the visitor's browser.
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from './test-model';
import { FAST, RENDER_WAIT_MS, SLOW_TEST_MS, canvasPixels, generatedImage, meanDifference, waitForImage, type Pixels } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

/** Drops `bytes` as a file on the page, as a person dragging it from their downloads would. */
async function dropFile(page: Page, bytes: Buffer, name: string): Promise<void> {
  const dataTransfer = await page.evaluateHandle(
    ({ base64, name }) => {
      const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([data], name, { type: 'image/png' }));
      return transfer;
    },
    { base64: bytes.toString('base64'), name },
  );
  await page.dispatchEvent('main', 'drop', { dataTransfer });
}

test('the progress bar and a preview change before the image is final', async ({ page }) => {
  await page.goto('/?steps=3&cfg=1&seed=3');
  // What the status and the frame show, sampled until the image is done.
  await page.evaluate(() => {
    const seen: { step: string; state: string; preview: string }[] = [];
    (window as unknown as { seen: typeof seen }).seen = seen;
    const timer = setInterval(() => {
      const state = document.querySelector('[data-testid=image-view]')?.getAttribute('data-state') ?? '';
      const step = document.querySelector('[data-testid=step-progress]')?.textContent ?? '';
      const canvas = document.querySelector<HTMLCanvasElement>('canvas[aria-label^="Preview after step"]');
      let preview = '';
      if (canvas) {
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let hash = 0;
        for (let i = 0; i < data.length; i++) hash = (hash * 31 + data[i]) | 0;
        preview = `${canvas.width}x${canvas.height}:${hash}`;
      }
      seen.push({ step, state, preview });
      if (state === 'done') clearInterval(timer);
    }, 25);
  });
  await waitForImage(page);
  const seen = await page.evaluate(() => (window as unknown as { seen: { step: string; state: string; preview: string }[] }).seen);
  const rendering = seen.filter((s) => s.state !== 'done');
  const steps = [...new Set(rendering.map((s) => s.step).filter(Boolean))];
  expect(steps).toEqual(['step 0/3', 'step 1/3', 'step 2/3', 'step 3/3'].filter((s) => steps.includes(s)));
  expect(steps).toContain('step 1/3');
  expect(steps).toContain('step 2/3');
  // A preview after step 1 and another after step 2, both before the image was final.
  const previews = [...new Set(rendering.map((s) => s.preview).filter(Boolean))];
  expect(previews.length).toBeGreaterThanOrEqual(2);
});

test('a render can be cancelled, keeps the image shown, and renders again on request', async ({ page }) => {
  await page.goto(`/?steps=3&cfg=1&seed=4`);
  await expect(page.getByTestId('step-progress')).toHaveText('step 1/3');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('image-view')).toHaveAttribute('data-state', 'cancelled');
  await expect(page.getByTestId('step-progress')).toHaveCount(0);
  await page.getByRole('button', { name: 'Render', exact: true }).click();
  await waitForImage(page);
});

test('a downloaded image carries its settings: dropped back, it gives the same settings and pixels', async ({ page }) => {
  await page.goto(`/?${FAST}&seed=5&self=1.3,1,1,1&prompt=a+red+circle`);
  await waitForImage(page);
  const original = await canvasPixels(generatedImage(page));
  // Small models offer a larger, nearest-neighbour copy; take the model's own size here.
  await page.getByLabel('Saved image size').selectOption('1');
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download PNG' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('attention-lab-5-a-red-circle.png');
  const bytes = readFileSync((await file.path())!);
  // The PNG holds the image's own pixels.
  const decoded = await page.evaluate(async (base64) => {
    const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], { type: 'image/png' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    return { width: bitmap.width, height: bitmap.height, data: Array.from(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data) };
  }, bytes.toString('base64'));
  expect(decoded.width).toBe(original.width);
  expect(decoded.data).toEqual(original.data);

  // Elsewhere, with other settings: dropping the file brings them back, and the same image.
  await page.goto(`/?${FAST}&seed=9`);
  await waitForImage(page);
  const other: Pixels = await canvasPixels(generatedImage(page));
  expect(meanDifference(original, other)).toBeGreaterThan(1);
  await dropFile(page, bytes, file.suggestedFilename());
  await expect(page.getByTestId('notices')).toContainText('Settings restored from attention-lab-5-a-red-circle.png');
  await expect(page).toHaveURL(/seed=5&/);
  await expect(page).toHaveURL(/self=1.3,1,1,1/);
  await expect(page.getByLabel('Prompt', { exact: true })).toHaveValue('a red circle');
  await waitForImage(page);
  expect((await canvasPixels(generatedImage(page))).data).toEqual(original.data);
});

test('a saved XY grid is large enough to read and, dropped on the page, brings its plot back', async ({ page }) => {
  await page.goto(`/?${FAST}&seed=5&xy=seed:5,6;none`);
  const dialog = page.getByRole('dialog', { name: 'XY plot' });
  await expect(dialog.getByTestId('xy-status')).toHaveAttribute('data-status', 'done', { timeout: RENDER_WAIT_MS });
  const download = page.waitForEvent('download');
  await dialog.getByRole('button', { name: 'Download PNG' }).click();
  const file = await download;
  const bytes = readFileSync((await file.path())!);
  // Two cells side by side, each at least 256 px wide (IHDR's width, bytes 16-19).
  expect(bytes.readUInt32BE(16)).toBeGreaterThanOrEqual(2 * 256);
  await dialog.getByRole('button', { name: 'Close' }).click();

  await page.goto(`/?${FAST}&seed=1`);
  await dropFile(page, bytes, file.suggestedFilename());
  await expect(page).toHaveURL(/xy=seed:5,6;none/);
  await expect(page).toHaveURL(/seed=5&/);
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('X values')).toHaveValue('5, 6');
});

test('a saved preset survives a reload', async ({ page }) => {
  await page.goto(`/?${FAST}&seed=11&self=1.4,1,1,1&target=output`);
  await page.getByRole('button', { name: 'Save…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Your presets' });
  await dialog.getByLabel('Name').fill('crisp output');
  await dialog.getByRole('button', { name: 'Save current settings' }).click();
  await expect(dialog.getByRole('list', { name: 'Your presets' })).toContainText('crisp output');
  await dialog.getByRole('button', { name: 'Close' }).click();

  await page.goto(`/?${FAST}&seed=1`);
  await page.reload();
  await page.getByLabel('Preset', { exact: true }).selectOption({ label: 'crisp output' });
  await expect(page).toHaveURL(/seed=11&/);
  await expect(page).toHaveURL(/self=1.4,1,1,1/);
  await expect(page).toHaveURL(/target=output/);
  // Renamed and deleted in the same dialog.
  await page.getByRole('button', { name: 'Save…' }).click();
  await dialog.getByRole('button', { name: 'Rename' }).click();
  await dialog.getByLabel('New name for crisp output').fill('sharp');
  await dialog.getByRole('button', { name: 'OK' }).click();
  await expect(dialog.getByRole('list', { name: 'Your presets' })).toHaveText(/sharp/);
  await dialog.getByRole('button', { name: 'Delete sharp' }).click();
  await expect(dialog).toContainText('No presets yet.');
});

test('undo restores the previous image, redo brings the change back', async ({ page }) => {
  await page.goto(`/?${FAST}&seed=5`);
  await waitForImage(page);
  const before = await canvasPixels(generatedImage(page));
  const seed = page.getByLabel('Seed');
  await seed.fill('6');
  await seed.press('Enter');
  await expect(page).toHaveURL(/seed=6&/);
  await waitForImage(page);
  const after = await canvasPixels(generatedImage(page));
  expect(meanDifference(before, after)).toBeGreaterThan(1);

  await page.locator('body').click({ position: { x: 2, y: 2 } });
  await page.keyboard.press('Control+z');
  await expect(page).toHaveURL(/seed=5&/);
  await expect(seed).toHaveValue('5');
  await waitForImage(page);
  expect((await canvasPixels(generatedImage(page))).data).toEqual(before.data);

  await page.getByRole('button', { name: 'Redo' }).click();
  await expect(page).toHaveURL(/seed=6&/);
  await waitForImage(page);
  expect((await canvasPixels(generatedImage(page))).data).toEqual(after.data);
  // Undo never leaves the page: at the first entry it is off.
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(page.getByRole('button', { name: 'Undo' })).toBeDisabled();
});

const NO_GPU = () => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });

test.describe('without WebGPU, on Linux', () => {
  test.use({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' });
  test('the page names the Linux flag', async ({ page }) => {
    await page.addInitScript(NO_GPU);
    await page.goto('/');
    const error = page.getByTestId('error');
    await expect(error).toContainText('--enable-unsafe-webgpu');
    await expect(error).toContainText('Vulkan');
    await expect(error).not.toContainText('settings/system');
  });
});

test.describe('without WebGPU, on Windows', () => {
  test.use({ userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' });
  test('the page points to hardware acceleration and chrome://gpu', async ({ page }) => {
    await page.addInitScript(NO_GPU);
    await page.goto('/');
    const error = page.getByTestId('error');
    await expect(error).toContainText('chrome://settings/system');
    await expect(error).toContainText('chrome://gpu');
    await expect(error).not.toContainText('--enable-unsafe-webgpu');
  });
});
