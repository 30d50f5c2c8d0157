// A preview of a sample while it is being denoised, made on the CPU from the scheduler's x0
// prediction: cheap enough for every slow step, with no GPU work queued behind the next step.
// Pixel space (3 channels, or 1 for grey): the prediction is the picture. SD's 4-channel latents:
// a linear map to RGB, the approximation ComfyUI's and A1111's previews use, at latent resolution.
import type { RgbaImage } from '../api';

/** RGB per SD 1.x/2.x latent channel, applied to the scaled latent the sampler works on
 * (ComfyUI's comfy/latent_formats.py SD15.latent_rgb_factors); gives RGB in about [-1, 1]. */
const SD_LATENT_RGB: readonly (readonly [number, number, number])[] = [
  [0.3512, 0.2297, 0.3227],
  [0.325, 0.4974, 0.235],
  [-0.2829, 0.1762, 0.2721],
  [-0.212, -0.2616, -0.7177],
];

/** x in [-1, 1] to a byte, as the final image's conversion does (shaders/image-output.wgsl to_rgba8). */
function toByte(x: number): number {
  const v = Math.min(1, Math.max(0, x / 2 + 0.5)) * 255;
  // Half to even, as WGSL's round().
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 ? r - 1 : r;
}

/** The first sample of `x0` [N, channels, height, width] as an RGBA8 image, or undefined where no
 * cheap projection is known for `channels`. */
export function latentPreview(x0: Float32Array, channels: number, height: number, width: number): RgbaImage | undefined {
  const plane = height * width;
  if (x0.length < channels * plane) throw new Error(`latentPreview: ${x0.length} values, expected at least ${channels}×${height}×${width}`);
  if (channels !== 1 && channels !== 3 && channels !== 4) return undefined;
  const data = new Uint8ClampedArray(plane * 4);
  for (let i = 0; i < plane; i++) {
    let r: number, g: number, b: number;
    if (channels === 4) {
      r = g = b = 0;
      for (let c = 0; c < 4; c++) {
        const v = x0[c * plane + i];
        r += v * SD_LATENT_RGB[c][0];
        g += v * SD_LATENT_RGB[c][1];
        b += v * SD_LATENT_RGB[c][2];
      }
    } else {
      r = x0[i];
      g = channels === 3 ? x0[plane + i] : r;
      b = channels === 3 ? x0[2 * plane + i] : r;
    }
    data[4 * i] = toByte(r);
    data[4 * i + 1] = toByte(g);
    data[4 * i + 2] = toByte(b);
    data[4 * i + 3] = 255;
  }
  return { width, height, data };
}
