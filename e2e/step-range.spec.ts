import { expect, test } from './test-model';
import { FAST, SLOW_TEST_MS, canvasPixels, generatedImage, meanDifference, waitForImage, type Pixels } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test.describe.serial('a control’s step range and its link', () => {
  let ranged: { url: string; pixels: Pixels } | undefined;

  test('typing Self-attention steps from 0.5 changes the image and the link', async ({ page }) => {
    await page.goto(`/?${FAST}&self=4,1,1,1`);
    await waitForImage(page);
    // A full range is not written.
    await expect(page).not.toHaveURL(/selfrange=/);
    const before = await canvasPixels(generatedImage(page));

    const from = page.getByLabel('Self-attention steps: from');
    await from.fill('0.5');
    await from.press('Enter');
    await expect(page).toHaveURL(/[?&]selfrange=0\.5\.\.1(&|$)/);
    await waitForImage(page);
    const after = await canvasPixels(generatedImage(page));
    expect(meanDifference(before, after)).toBeGreaterThan(1);
    ranged = { url: page.url(), pixels: after };

    // Back to all steps: the link leaves the range out again and the image is the first one.
    await page.getByRole('button', { name: 'Reset Self-attention steps to all steps' }).click();
    await expect(page).not.toHaveURL(/selfrange=/);
    await waitForImage(page);
    expect((await canvasPixels(generatedImage(page))).data).toEqual(before.data);
  });

  test('a link with a range reproduces the image', async ({ page }) => {
    test.skip(!ranged, 'needs the image of the previous test');
    await page.goto(ranged!.url);
    await waitForImage(page);
    await expect(page.getByLabel('Self-attention steps: from')).toHaveValue('0.5');
    expect((await canvasPixels(generatedImage(page))).data).toEqual(ranged!.pixels.data);
  });
});
