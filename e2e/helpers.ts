// What the playground tests share: waiting for a render on slow SwiftShader, reading pixels.
import { expect, type Locator, type Page } from '@playwright/test';
import { SLIDER_POSITIONS, multiplierToPosition } from '../src/app/state/multiplier-scale';

/** Two steps without the unconditional half (CFG 1) keep each image short on SwiftShader. */
export const FAST = 'steps=2&cfg=1';

/** SwiftShader runs WebGPU on the CPU, on machines shared with other test runs: one UNet call of
 * the default model took 50–150 s on two shared cores (2026-11-26). Be patient. */
export const SLOW_TEST_MS = 1_800_000;
export const RENDER_WAIT_MS = 1_500_000;

/** Waits until the image shows the current settings (data-state="done"). */
export async function waitForImage(page: Page, timeout = RENDER_WAIT_MS): Promise<void> {
  await expect(page.getByTestId('image-view')).toHaveAttribute('data-state', 'done', { timeout });
}

export interface Pixels {
  width: number;
  height: number;
  data: number[];
}

export async function canvasPixels(canvas: Locator): Promise<Pixels> {
  return canvas.evaluate((element: HTMLCanvasElement) => {
    const data = element.getContext('2d')!.getImageData(0, 0, element.width, element.height).data;
    return { width: element.width, height: element.height, data: Array.from(data) };
  });
}

export function generatedImage(page: Page): Locator {
  return page.getByRole('img', { name: 'Generated image' });
}

/** Variance of the RGB values over the image: a blank (one-colour) image has 0. */
export function rgbVariance(pixels: Pick<Pixels, 'data'>, region?: { x: number; y: number; w: number; h: number; stride: number }): number {
  const values: number[] = [];
  if (region) {
    for (let y = region.y; y < region.y + region.h; y++)
      for (let x = region.x; x < region.x + region.w; x++) for (let c = 0; c < 3; c++) values.push(pixels.data[(y * region.stride + x) * 4 + c]);
  } else {
    for (let i = 0; i < pixels.data.length; i += 4) values.push(pixels.data[i], pixels.data[i + 1], pixels.data[i + 2]);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
}

/** Mean absolute difference per byte of two equally sized images. */
export function meanDifference(a: Pixels, b: Pixels): number {
  expect(a.data.length).toBe(b.data.length);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

/** Drags a multiplier slider from its thumb to `fraction` of its track, in small moves (the
 * track is drawn on the finer-near-1 scale, and its ends are half a thumb in). */
export async function dragSlider(page: Page, slider: Locator, fraction: number): Promise<void> {
  await slider.scrollIntoViewIfNeeded();
  const box = await slider.boundingBox();
  if (!box) throw new Error('slider is not visible');
  const from = multiplierToPosition(Number(await slider.inputValue())) / SLIDER_POSITIONS;
  const thumbRadius = 8;
  const xAt = (f: number) => box.x + thumbRadius + f * (box.width - 2 * thumbRadius);
  const y = box.y + box.height / 2;
  await page.mouse.move(xAt(from), y);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(xAt(from + ((fraction - from) * i) / 10), y);
  await page.mouse.up();
}
