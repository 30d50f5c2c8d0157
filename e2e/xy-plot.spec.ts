import { expect, test } from './test-model';
import { FAST, RENDER_WAIT_MS, SLOW_TEST_MS, canvasPixels, rgbVariance, waitForImage } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test('a 3×3 XY plot renders a labeled grid and downloads as PNG', async ({ page }) => {
  // Nine cells and the page's own image: one step each keeps this to ten UNet calls.
  test.setTimeout(2 * SLOW_TEST_MS);
  await page.goto('/?steps=1&cfg=1&seed=11');
  await waitForImage(page);
  await page.getByRole('button', { name: 'XY plot' }).click();
  const dialog = page.getByRole('dialog', { name: 'XY plot' });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('X varies').selectOption('self.q');
  await dialog.getByLabel('X values').fill('0.2, 1, 3');
  await dialog.getByLabel('Y varies').selectOption('cross.out');
  await dialog.getByLabel('Y acts on').selectOption('output');
  await dialog.getByLabel('Y values').fill('0..2 step 1');
  await dialog.getByRole('button', { name: 'Render 3×3 grid' }).click();

  const status = dialog.getByTestId('xy-status');
  await expect(status).toHaveAttribute('data-status', 'done', { timeout: 2 * RENDER_WAIT_MS - 60_000 });
  await expect(status).toContainText('9 of 9 cells');

  // The link now brings this grid back (the next test opens such a link).
  expect(new URL(page.url()).searchParams.get('xy')).toBe('self.q:0.2,1,3;cross.out@output:0,1,2');

  const grid = dialog.getByRole('img', { name: 'XY plot grid' });
  const geometry = JSON.parse((await grid.getAttribute('data-geometry'))!) as { left: number; top: number; w: number; h: number; gap: number; columns: number; rows: number };
  expect([geometry.columns, geometry.rows]).toEqual([3, 3]);
  const pixels = await canvasPixels(grid);
  // Every cell holds an image, and the axes change it: no two cells are the same.
  const cells: string[] = [];
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 3; col++) {
      const region = { x: geometry.left + col * (geometry.w + geometry.gap), y: geometry.top + row * (geometry.h + geometry.gap), w: geometry.w, h: geometry.h, stride: pixels.width };
      expect(rgbVariance(pixels, region)).toBeGreaterThan(10);
      const bytes: number[] = [];
      for (let y = region.y; y < region.y + region.h; y += 4) for (let x = region.x; x < region.x + region.w; x += 4) bytes.push(pixels.data[(y * pixels.width + x) * 4]);
      cells.push(bytes.join(','));
    }
  }
  expect(new Set(cells).size).toBe(9);
  // The labels: text in the margins above and left of the cells.
  expect(rgbVariance(pixels, { x: geometry.left, y: 0, w: geometry.w * 3, h: geometry.top - 4, stride: pixels.width })).toBeGreaterThan(10);
  expect(rgbVariance(pixels, { x: 0, y: geometry.top, w: geometry.left - 4, h: geometry.h * 3, stride: pixels.width })).toBeGreaterThan(10);

  const download = page.waitForEvent('download');
  await dialog.getByRole('button', { name: 'Download PNG' }).click();
  expect((await download).suggestedFilename()).toMatch(/\.png$/);
});

test('a link with an XY plot opens it and renders it; closing the plot takes it out of the link', async ({ page }) => {
  await page.goto(`/?${FAST}&xy=seed:5..;none`);
  await expect(page.getByTestId('notices')).toContainText('Ignored the XY plot in the link ("seed:5..;none")');
  await expect(page.getByRole('dialog', { name: 'XY plot' })).toBeHidden();

  await page.goto(`/?${FAST}&seed=5&xy=seed:5,6;none`);
  const dialog = page.getByRole('dialog', { name: 'XY plot' });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('X varies')).toHaveValue('seed');
  await expect(dialog.getByLabel('X values')).toHaveValue('5, 6');
  await expect(dialog.getByLabel('Y varies')).toHaveValue('none');
  const status = dialog.getByTestId('xy-status');
  await expect(status).toHaveAttribute('data-status', 'done', { timeout: RENDER_WAIT_MS });
  await expect(status).toContainText('2 of 2 cells');
  const geometry = JSON.parse((await dialog.getByRole('img', { name: 'XY plot grid' }).getAttribute('data-geometry'))!) as { columns: number; rows: number };
  expect([geometry.columns, geometry.rows]).toEqual([2, 1]);
  expect(new URL(page.url()).searchParams.get('xy')).toBe('seed:5,6;none');

  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();
  await expect.poll(() => new URL(page.url()).searchParams.get('xy')).toBeNull();
  // Back: the grid's link again, and its dialog with it.
  await page.goBack();
  await expect(dialog).toBeVisible();
  await expect(status).toContainText('2 of 2 cells');
});

test('an XY plot can be cancelled', async ({ page }) => {
  await page.goto(`/?${FAST}`);
  await waitForImage(page);
  await page.getByRole('button', { name: 'XY plot' }).click();
  const dialog = page.getByRole('dialog', { name: 'XY plot' });
  await dialog.getByLabel('X values').fill('0..2 step 0.5');
  await dialog.getByRole('button', { name: /Render 5×3 grid/ }).click();
  await expect(dialog.getByTestId('xy-status')).toHaveAttribute('data-status', 'running');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog.getByTestId('xy-status')).toHaveAttribute('data-status', 'cancelled');
  await expect(dialog.getByTestId('xy-status')).not.toContainText('15 of 15');
});

test('bad axis values say what to type and keep the render button off', async ({ page }) => {
  await page.goto(`/?${FAST}`);
  await page.getByRole('button', { name: 'XY plot' }).click();
  const dialog = page.getByRole('dialog', { name: 'XY plot' });
  await dialog.getByLabel('X values').fill('one, two');
  await expect(dialog).toContainText('Not a number: one, two');
  await expect(dialog.getByRole('button', { name: /Render/ })).toBeDisabled();
});
