import { expect, test } from './test-model';
import { FAST, SLOW_TEST_MS, canvasPixels, generatedImage, meanDifference, waitForImage, type Pixels } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

/** Every steering control at once, each with a value of its own (and step ranges that split the
 * two steps between them), with a token's attention map shown. */
const ALL_CONTROLS = 'self=1.5,1,1,1&selfrange=0..0.5&cross=1,1,1.3,1&clip=1.2,1,1,0.9&cliprange=0.5..1&freeu=v1,1.1,1.6,0.9,0.2&freeurange=0.5..1&pag=2&pagt=middle&map=token:1';

test.describe.serial('a link with every steering control', () => {
  let steered: { url: string; pixels: Pixels } | undefined;

  test('renders with all of them on, and keeps each in its URL', async ({ page }) => {
    await page.goto(`/?${FAST}`);
    await waitForImage(page);
    const plain = await canvasPixels(generatedImage(page));

    await page.goto(`/?${FAST}&${ALL_CONTROLS}`);
    await waitForImage(page);
    const pixels = await canvasPixels(generatedImage(page));
    expect(meanDifference(plain, pixels)).toBeGreaterThan(1);
    for (const pair of ALL_CONTROLS.split('&')) expect(page.url(), pair).toContain(pair);
    steered = { url: page.url(), pixels };
  });

  test('opening that URL again reproduces the identical pixels and controls', async ({ page }) => {
    test.skip(!steered, 'needs the image of the previous test');
    await page.goto(steered!.url);
    await waitForImage(page);
    await expect(page.getByRole('slider', { name: 'PAG scale' })).toHaveValue('2');
    expect((await canvasPixels(generatedImage(page))).data).toEqual(steered!.pixels.data);
  });
});
