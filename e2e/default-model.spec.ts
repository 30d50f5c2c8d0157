// The one e2e test that renders with the shipped default model itself (the others use the small
// fixture model, see test-model.ts): a new visitor opens the page and gets an image.
import { expect, test } from './test-model';
import { SLOW_TEST_MS, canvasPixels, generatedImage, rgbVariance, waitForImage } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });
test.use({ realModel: true });

test('the default model loads and renders an image without any click, and it is not blank', async ({ page }) => {
  // A new visitor: no settings in the address.
  await page.goto('/');
  // SwiftShader is a CPU adapter: the page says so and starts with fewer steps than the model's.
  await expect(page.getByTestId('notices')).toContainText('renders WebGPU on the CPU');
  await expect(page).toHaveURL(/[?&]steps=2&/);
  await waitForImage(page);
  const pixels = await canvasPixels(generatedImage(page));
  expect(pixels.width).toBeGreaterThan(0);
  expect(rgbVariance(pixels)).toBeGreaterThan(100);
  await expect(page.getByTestId('timing')).toHaveText(/^[\d,]+ ms per image · [\d,]+ ms per step$/);
  // Once ready, the address bar spells out every setting, the model's defaults included.
  const url = new URL(page.url());
  expect(url.searchParams.get('self')).toBe('1,1,1,1');
  expect(url.searchParams.get('prompt')).toBe(await page.getByLabel('Prompt', { exact: true }).inputValue());
});

