import { expect, test } from './test-model';
import { FAST, SLOW_TEST_MS, canvasPixels, generatedImage, meanDifference, waitForImage, type Pixels } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test.describe.serial('Perturbed-Attention Guidance and its link', () => {
  let guided: { url: string; pixels: Pixels } | undefined;

  test('moving the PAG scale changes the image and the URL', async ({ page }) => {
    await page.goto(`/?${FAST}`);
    await waitForImage(page);
    const before = await canvasPixels(generatedImage(page));
    await expect(page).toHaveURL(/[?&]pag=0(&|$)/);

    const slider = page.getByRole('slider', { name: 'PAG scale' });
    await slider.scrollIntoViewIfNeeded();
    await slider.fill('4');
    await slider.blur();
    await expect(page).toHaveURL(/[?&]pag=4(&|$)/);
    await expect(page.getByLabel('PAG scale value')).toHaveValue('4');
    await expect(page).toHaveURL(/[?&]pagt=middle(&|$)/);

    await waitForImage(page);
    const after = await canvasPixels(generatedImage(page));
    expect(meanDifference(before, after)).toBeGreaterThan(1);
    guided = { url: page.url(), pixels: after };
  });

  test('opening that URL again reproduces the identical pixels', async ({ page }) => {
    test.skip(!guided, 'needs the guided image of the previous test');
    await page.goto(guided!.url);
    await waitForImage(page);
    await expect(page.getByRole('slider', { name: 'PAG scale' })).toHaveValue('4');
    expect((await canvasPixels(generatedImage(page))).data).toEqual(guided!.pixels.data);
  });
});
