import { expect, test } from './test-model';
import { FAST, SLOW_TEST_MS, canvasPixels, rgbVariance, waitForImage } from './helpers';

test.describe.configure({ timeout: SLOW_TEST_MS });

const PROMPT = 'prompt=a%20photo%20of%20a%20red%20cat';

test.describe.serial('attention maps', () => {
  let pointLink: string | undefined;

  test('choosing a token shows its cross-attention map over the image, and the link names it', async ({ page }) => {
    await page.goto(`/?${FAST}&${PROMPT}`);
    await waitForImage(page);
    const tokens = page.getByRole('group', { name: 'Prompt tokens' }).getByRole('button');
    // The fixture's word-level tokenizer: one token per word.
    await expect(tokens).toHaveText(['a', 'photo', 'of', 'a', 'red', 'cat']);
    await tokens.nth(5).click();
    await expect(page).toHaveURL(/[?&]map=token:5(&|$)/);
    await waitForImage(page);
    const map = page.getByTestId('attention-map');
    await expect(map).toHaveAttribute('data-map', 'token:5');
    await expect(page.getByTestId('map-status')).toContainText('Cross-attention of token 5 “cat”');
    expect(rgbVariance(await canvasPixels(map.locator('canvas')))).toBeGreaterThan(0);
    // Another token of the same render needs no new image.
    await tokens.nth(4).click();
    await expect(map).toHaveAttribute('data-map', 'token:4');
    await expect(page.getByTestId('image-view')).toHaveAttribute('data-state', 'done');
  });

  test('clicking the image shows where that point attends, with a marker, and the link names the point', async ({ page }) => {
    await page.goto(`/?${FAST}&${PROMPT}`);
    await waitForImage(page);
    const frame = page.getByTestId('image-frame');
    const box = (await frame.boundingBox())!;
    await frame.click({ position: { x: box.width * 0.25, y: box.height * 0.75 } });
    await expect(page).toHaveURL(/[?&]map=point:0\.2\d*,0\.7\d*(&|$)/);
    await expect(page.getByTestId('map-marker')).toBeVisible();
    await waitForImage(page);
    const map = page.getByTestId('attention-map');
    await expect(map).toHaveAttribute('data-map', 'point');
    await expect(page.getByTestId('map-status')).toContainText(/Where the point \(0\.2\d*, 0\.7\d*\) in mid_block\..*attn1 attends/);
    expect(rgbVariance(await canvasPixels(map.locator('canvas')))).toBeGreaterThan(0);
    await page.getByRole('slider', { name: 'Map opacity' }).fill('0.3');
    await expect(page).toHaveURL(/[?&]mapo=0.3(&|$)/);
    await expect(map).toHaveCSS('opacity', '0.3');
    pointLink = page.url();
  });

  test('the link brings the point map back', async ({ page }) => {
    test.skip(!pointLink, 'needs the link of the previous test');
    await page.goto(pointLink!);
    await waitForImage(page);
    const map = page.getByTestId('attention-map');
    await expect(map).toHaveAttribute('data-map', 'point');
    await expect(map).toHaveCSS('opacity', '0.3');
    await expect(page.getByTestId('map-marker')).toBeVisible();
    await page.goto(`/?${FAST}&${PROMPT}&map=token:1`);
    await waitForImage(page);
    await expect(page.getByTestId('attention-map')).toHaveAttribute('data-map', 'token:1');
    await expect(page.getByRole('button', { name: 'photo', pressed: true })).toBeVisible();
  });
});
