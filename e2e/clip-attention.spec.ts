import { expect, test } from './test-model';
import { FAST, SLOW_TEST_MS, canvasPixels, dragSlider, generatedImage, meanDifference, waitForImage, type Pixels } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test.describe.serial('the text encoder’s attention multipliers', () => {
  let steered: { url: string; pixels: Pixels } | undefined;

  test('dragging Text encoder attention q, then its step range, changes the image and the link', async ({ page }) => {
    await page.goto(`/?${FAST}`);
    await waitForImage(page);
    const before = await canvasPixels(generatedImage(page));

    await dragSlider(page, page.getByRole('slider', { name: 'Text encoder attention q' }), 0.85);
    await expect(page).toHaveURL(/[?&]clip=(?!1,)[\d.]+,1,1,1(&|$)/);
    await waitForImage(page);
    const after = await canvasPixels(generatedImage(page));
    expect(meanDifference(before, after)).toBeGreaterThan(1);

    const from = page.getByLabel('Text encoder attention steps: from');
    await from.fill('0.5');
    await from.press('Enter');
    await expect(page).toHaveURL(/[?&]cliprange=0\.5\.\.1(&|$)/);
    await waitForImage(page);
    const ranged = await canvasPixels(generatedImage(page));
    expect(meanDifference(after, ranged)).toBeGreaterThan(0.1);
    steered = { url: page.url(), pixels: ranged };
  });

  test('a link with the factors and a range reproduces the image', async ({ page }) => {
    test.skip(!steered, 'needs the image of the previous test');
    await page.goto(steered!.url);
    await waitForImage(page);
    expect((await canvasPixels(generatedImage(page))).data).toEqual(steered!.pixels.data);
  });
});
