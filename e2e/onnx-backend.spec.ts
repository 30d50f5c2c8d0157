// The second backend in the page: the default model's ONNX export on ONNX Runtime Web (WebGPU EP),
// chosen from the Backend menu or by the link. It renders with the shipped model, and the link keeps
// the choice. (Both backends making the same image is tests/ort-backend.test.ts.)
import { expect, test } from './test-model';
import { SLOW_TEST_MS, canvasPixels, generatedImage, rgbVariance, waitForImage } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });
test.use({ realModel: true });

test('a link with backend=onnxruntime renders the default model on ONNX Runtime Web', async ({ page }) => {
  await page.goto('/?backend=onnxruntime&steps=1&cfg=1&seed=7');
  await expect(page.getByLabel('Backend')).toHaveValue('onnxruntime');
  await waitForImage(page);
  expect(rgbVariance(await canvasPixels(generatedImage(page)))).toBeGreaterThan(100);
  expect(new URL(page.url()).searchParams.get('backend')).toBe('onnxruntime');
  // Back to our engine: the model loads again on it, the page says so, and the link drops the
  // parameter (the default).
  await page.getByLabel('Backend').selectOption('webgpu');
  await expect(page.getByTestId('notices')).toContainText('Now running on our WGSL engine.', { timeout: 120_000 });
  await expect(page).not.toHaveURL(/backend=/);
});
