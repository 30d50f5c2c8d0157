import { expect, test } from '@playwright/test';

test('the page loads, shows its WebGPU adapter and logs no errors', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Attention Lab' })).toBeVisible();
  await expect(page.getByTestId('adapter')).toContainText(/WebGPU adapter: (?!Looking)/);
  expect(errors).toEqual([]);
});
