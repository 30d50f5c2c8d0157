// FreeU in the page: turning it on and moving a factor changes the image and the link, and the link
// renders the same pixels again. The e2e model's UNet (unet-sd15-tiny, model_channels 32, decoder
// levels of 64 and 32 channels) has FreeU's ·2 level only, so b2 and s2 act there and b1, s1 do not.
import { expect, test } from './test-model';
import { FAST, SLOW_TEST_MS, canvasPixels, generatedImage, meanDifference, waitForImage, type Pixels } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

test.describe.serial('FreeU and its link', () => {
  let shown: { url: string; pixels: Pixels } | undefined;

  test('turning FreeU on and moving b2 changes the image and the link', async ({ page }) => {
    await page.goto(`/?${FAST}`);
    await waitForImage(page);
    const plain = await canvasPixels(generatedImage(page));
    expect(page.url()).not.toContain('freeu');

    await page.getByRole('checkbox', { name: 'FreeU on' }).check();
    await expect(page).toHaveURL(/[?&]freeu=v1,1.1,1.2,0.9,0.2(&|$)/);
    await waitForImage(page);
    const on = await canvasPixels(generatedImage(page));
    expect(meanDifference(plain, on)).toBeGreaterThan(1);

    await page.getByRole('slider', { name: 'FreeU b2' }).fill('2.5');
    await expect(page).toHaveURL(/[?&]freeu=v1,1.1,2.5,0.9,0.2(&|$)/);
    await waitForImage(page);
    const moved = await canvasPixels(generatedImage(page));
    expect(meanDifference(on, moved)).toBeGreaterThan(1);
    shown = { url: page.url(), pixels: moved };
  });

  test('opening that link renders the identical pixels, with FreeU on and b2 at 2.5', async ({ page }) => {
    test.skip(!shown, 'needs the image of the previous test');
    await page.goto(shown!.url);
    await waitForImage(page);
    await expect(page.getByRole('checkbox', { name: 'FreeU on' })).toBeChecked();
    await expect(page.getByLabel('FreeU b2 value')).toHaveValue('2.5');
    expect((await canvasPixels(generatedImage(page))).data).toEqual(shown!.pixels.data);
  });
});
