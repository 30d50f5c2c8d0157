import { expect, test } from './test-model';
import { FAST, RENDER_WAIT_MS, SLOW_TEST_MS, canvasPixels, generatedImage, waitForImage } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test('without WebGPU the page says which browsers and flags to use', async ({ page }) => {
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
  await page.goto('/');
  const error = page.getByTestId('error');
  await expect(error).toContainText('WebGPU is not available');
  await expect(error).toContainText('Chrome or Edge');
  await expect(error).toContainText('--enable-unsafe-webgpu');
  await expect(page.getByTestId('adapter')).toHaveText('WebGPU adapter: none');
  // The controls still work and still write the link.
  await page.getByRole('slider', { name: 'Cross-attention k' }).press('ArrowRight');
  await expect(page).toHaveURL(/cross=1,1.01,1,1/);
});

test('a model that fails to load says what to do, and Try again retries', async ({ page }) => {
  let failing = true;
  await page.context().route('**/models/**', (route) => (failing ? route.fulfill({ status: 404, body: 'not found' }) : route.fallback()));
  await page.goto(`/?${FAST}`);
  const error = page.getByTestId('error');
  await expect(error).toContainText('The model could not be loaded');
  await expect(error).toContainText('HTTP 404');
  await expect(error).toContainText('Check your connection and try again');
  failing = false;
  await error.getByRole('button', { name: 'Try again' }).click();
  await waitForImage(page);
  await expect(page.getByTestId('error')).toHaveCount(0);
});

test('after a lost GPU device the page recreates it and renders the same image again', async ({ page }) => {
  await page.goto(`/?${FAST}&self=1.5,1,1,1`);
  await waitForImage(page);
  const before = await canvasPixels(generatedImage(page));
  await page.evaluate(() => (window as unknown as { attentionLab: { simulateDeviceLoss(): void } }).attentionLab.simulateDeviceLoss());
  await expect(page.getByTestId('notices')).toContainText('The GPU device was lost. Recreating it');
  await expect(page.getByTestId('notices')).toContainText('The GPU device is back', { timeout: RENDER_WAIT_MS });
  await waitForImage(page);
  expect((await canvasPixels(generatedImage(page))).data).toEqual(before.data);
});
