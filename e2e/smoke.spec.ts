import { expect, test } from './test-model';
import { FAST, SLOW_TEST_MS, waitForImage } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test('the page loads, shows its WebGPU adapter and logs no errors', async ({ page }) => {
  const errors: string[] = [];
  // The bundled CLIP vocabulary (3.2 MB) is for Stable Diffusion checkpoints; the default model never loads it.
  const clipVocabularyRequests: string[] = [];
  page.on('request', (request) => request.url().includes('bpe_simple_vocab') && clipVocabularyRequests.push(request.url()));
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`/?${FAST}`);
  await expect(page.getByRole('heading', { name: 'Attention Lab' })).toBeVisible();
  await expect(page.getByTestId('adapter')).toContainText(/WebGPU adapter: (?!Looking)/);
  // Errors could also come while the model loads and renders: wait for the first image.
  await waitForImage(page);
  expect(errors).toEqual([]);
  expect(clipVocabularyRequests).toEqual([]);
});
