import { expect, test } from './test-model';
import { FAST, RENDER_WAIT_MS, SLOW_TEST_MS, canvasPixels, dragSlider, generatedImage, meanDifference, rgbVariance, waitForImage, type Pixels } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test.describe.serial('a dragged slider and its link', () => {
  let dragged: { url: string; pixels: Pixels } | undefined;

  test('dragging Self-attention q changes the image and the URL', async ({ page }) => {
    await page.goto(`/?${FAST}`);
    await waitForImage(page);
    const before = await canvasPixels(generatedImage(page));
    const historyBefore = await page.evaluate(() => history.length);

    const slider = page.getByRole('slider', { name: 'Self-attention q' });
    await dragSlider(page, slider, 0.7);
    await expect(page).toHaveURL(/[?&]self=(?!1,)[\d.]+,1,1,1(&|$)/);
    const q = Number(new URL(page.url()).searchParams.get('self')!.split(',')[0]);
    expect(q).toBeGreaterThan(1.5);
    await expect(slider).toHaveAttribute('aria-valuetext', `×${q}`);
    await expect(page.getByLabel('q value, self-attention')).toHaveValue(String(q));
    // One drag is one history entry, however many values it passed through.
    expect(await page.evaluate(() => history.length)).toBeLessThanOrEqual(historyBefore + 1);

    await waitForImage(page);
    const after = await canvasPixels(generatedImage(page));
    expect(meanDifference(before, after)).toBeGreaterThan(1);
    dragged = { url: page.url(), pixels: after };
  });

  test('opening that URL again reproduces the identical pixels', async ({ page }) => {
    test.skip(!dragged, 'needs the dragged image of the previous test');
    await page.goto(dragged!.url);
    await waitForImage(page);
    const again = await canvasPixels(generatedImage(page));
    expect(again.width).toBe(dragged!.pixels.width);
    expect(again.data).toEqual(dragged!.pixels.data);
    await page.reload();
    await waitForImage(page);
    expect((await canvasPixels(generatedImage(page))).data).toEqual(dragged!.pixels.data);
  });
});

test('a malformed URL shows a notice and still renders', async ({ page }) => {
  await page.goto(`/?${FAST}&seed=abc&self=99,1,1,1&cfg=oops&sampler=plms&target=%3Cscript%3E`);
  const notices = page.getByTestId('notices');
  await expect(notices).toContainText('Ignored invalid Seed "abc": not a number.');
  await expect(notices).toContainText('Clamped Self-attention q 99 to 10 (allowed 0–10).');
  await expect(notices).toContainText('Ignored unknown sampler "plms"');
  // Warnings are announced: a screen reader (or a test) finds them as alerts.
  await expect(page.getByRole('alert').first()).toBeVisible();
  await expect(page.getByRole('slider', { name: 'Self-attention q' })).toHaveAttribute('aria-valuetext', '×10');
  await waitForImage(page);
  expect(rgbVariance(await canvasPixels(generatedImage(page)))).toBeGreaterThan(0);
  // The address is repaired to what renders.
  await expect(page).toHaveURL(/seed=42&/);
  await expect(page).toHaveURL(/self=10,1,1,1/);
});

test('typing a value, double-click reset and the prompt field change the URL', async ({ page }) => {
  await page.goto(`/?${FAST}`);
  await waitForImage(page);
  const number = page.getByLabel('v value, cross-attention');
  await number.fill('2.5');
  await number.press('Enter');
  await expect(page).toHaveURL(/cross=1,1,2.5,1/);
  await page.getByRole('slider', { name: 'Cross-attention v' }).dblclick();
  await expect(page).toHaveURL(/cross=1,1,1,1/);
  // The slider's own value is the multiplier (0–10), so form tools and the keyboard work in it.
  await page.getByRole('slider', { name: 'Cross-attention q' }).fill('0.5');
  await expect(page).toHaveURL(/cross=0.5,1,1,1/);
  await page.getByRole('slider', { name: 'Cross-attention q' }).press('ArrowRight');
  await expect(page).toHaveURL(/cross=0.51,1,1,1/);
  await page.getByLabel('Prompt', { exact: true }).fill('a red heart');
  await page.getByLabel('Prompt', { exact: true }).press('Enter');
  await expect(page).toHaveURL(/prompt=a\+red\+heart/);
  await page.getByLabel('Seed', { exact: true }).fill('7');
  await page.getByLabel('Seed', { exact: true }).blur();
  await expect(page).toHaveURL(/seed=7&/);
  await waitForImage(page);
});

test('the before/after comparison shows the image with every multiplier at 1', async ({ page }) => {
  await page.goto(`/?${FAST}&self=1,1,1,0&compare=1`);
  await waitForImage(page);
  const baseline = page.getByRole('img', { name: 'Baseline image, every multiplier at 1' });
  await expect(baseline).toBeVisible({ timeout: RENDER_WAIT_MS });
  const after = await canvasPixels(generatedImage(page));
  const before = await canvasPixels(baseline);
  expect(meanDifference(before, after)).toBeGreaterThan(1);
  await expect(page.getByRole('slider', { name: 'Before/after split' })).toBeVisible();
});

test('a preset sets the sliders and keeps the seed', async ({ page }) => {
  await page.goto(`/?${FAST}&seed=5`);
  await waitForImage(page);
  await page.getByLabel('Preset', { exact: true }).selectOption('Ignore the prompt');
  await expect(page).toHaveURL(/cross=1,1,1,0/);
  await expect(page).toHaveURL(/seed=5&/);
  await expect(page.getByRole('slider', { name: 'Cross-attention out' })).toHaveAttribute('aria-valuetext', '×0');
  await waitForImage(page);
});
