// Saving images as PNG files that carry their settings (state/png-metadata.ts), and reading the
// settings back from a dropped one.

import type { RgbaImage } from '../../engine';
import { withPngText } from '../state/png-metadata';

/** `image` as a canvas `scale` times its size, nearest-neighbour so pixels stay square. */
export function scaledCanvas(image: RgbaImage, scale: number): HTMLCanvasElement {
  const source = document.createElement('canvas');
  source.width = image.width;
  source.height = image.height;
  source.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
  if (scale === 1) return source;
  const out = document.createElement('canvas');
  out.width = image.width * scale;
  out.height = image.height * scale;
  const ctx = out.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(source, 0, 0, out.width, out.height);
  return out;
}

/** The canvas as PNG bytes with `texts` in iTXt chunks. */
export async function pngWithText(canvas: HTMLCanvasElement, texts: Record<string, string>): Promise<Blob> {
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('The browser could not encode the image as PNG.');
  const png = withPngText(new Uint8Array(await blob.arrayBuffer()), texts);
  return new Blob([png as BlobPart], { type: 'image/png' });
}

export function downloadBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** "attention-lab-42-noto-red-apple.png" */
export function imageFileName(seed: number, prompt: string, suffix = ''): string {
  const words = prompt.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
  return `attention-lab-${seed}${words ? `-${words}` : ''}${suffix}.png`;
}
