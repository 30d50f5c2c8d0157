// The CPU preview of a sample being denoised (src/engine/sampling/latent-preview.ts).
import { describe, expect, it } from 'vitest';
import { latentPreview } from '../src/engine/sampling/latent-preview';

describe('latentPreview', () => {
  it('shows a pixel-space prediction as the final image would be (clamp(x/2 + 0.5) · 255, half to even)', () => {
    // One pixel, channels R, G, B.
    const image = latentPreview(new Float32Array([-1, 1, 1 / 255 - 1]), 3, 1, 1)!;
    expect(Array.from(image.data)).toEqual([0, 255, 0, 255]);
    // 0 -> 127.5 rounds to 128 (even), 2 clamps to 255, -3 to 0.
    expect(Array.from(latentPreview(new Float32Array([0, 2, -3]), 3, 1, 1)!.data)).toEqual([128, 255, 0, 255]);
  });

  it('maps SD latents to RGB with the 4×3 latent-to-RGB factors, at latent resolution', () => {
    const h = 2, w = 3;
    const x0 = new Float32Array(2 * 4 * h * w); // two images: the preview shows the first
    x0[0 * h * w + 1] = 1; // channel 0 at pixel 1
    const image = latentPreview(x0, 4, h, w)!;
    expect([image.width, image.height]).toEqual([3, 2]);
    const byte = (v: number) => Math.round((v / 2 + 0.5) * 255);
    expect(Array.from(image.data.subarray(4, 8))).toEqual([byte(0.3512), byte(0.2297), byte(0.3227), 255]);
    expect(Array.from(image.data.subarray(0, 4))).toEqual([128, 128, 128, 255]);
  });

  it('has no preview for channel counts it has no projection for, and refuses too few values', () => {
    expect(latentPreview(new Float32Array(16), 16, 1, 1)).toBeUndefined();
    expect(() => latentPreview(new Float32Array(2), 3, 1, 1)).toThrow(/expected at least 3×1×1/);
  });
});
