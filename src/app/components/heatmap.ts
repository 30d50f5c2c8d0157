// Attention maps as pictures: the map a view shows (a token's DAAM map or a point's self-attention
// map), coloured with inferno (perceptually uniform, dark = no attention), and the PNG export of the
// overlay at the image's size.
import type { AttentionMapsResult, MapView, RgbaImage } from '../../engine';

/** matplotlib's inferno at 9 evenly spaced stops; linear between them. */
const INFERNO: readonly [number, number, number][] = [
  [0, 0, 4],
  [31, 12, 72],
  [85, 15, 109],
  [136, 34, 106],
  [186, 54, 85],
  [227, 89, 51],
  [249, 140, 10],
  [249, 201, 50],
  [252, 255, 164],
];

export function inferno(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [INFERNO[i], INFERNO[i + 1]];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}

/** One map to draw: [height, width] values, and what it shows. */
export interface ShownMap {
  width: number;
  height: number;
  values: Float32Array;
  /** For people: 'cat</w>' or 'the point (0.42, 0.61) in mid_block…attn1'. */
  what: string;
}

/** The map `view` picks from a result's maps, if it holds it. */
export function mapFor(view: MapView, maps: AttentionMapsResult | undefined, tokens: readonly string[] | undefined): ShownMap | undefined {
  if (view.kind === 'token' && maps?.cross) {
    const { width, height, values } = maps.cross;
    const size = width * height;
    if ((view.index + 1) * size > values.length) return undefined;
    return { width, height, values: values.subarray(view.index * size, (view.index + 1) * size), what: `token ${view.index} “${tokens?.[view.index] ?? '?'}”` };
  }
  if (view.kind === 'point' && maps?.self) {
    const { width, height, values, site } = maps.self;
    return { width, height, values, what: `the point (${view.x}, ${view.y}) in ${site}` };
  }
  return undefined;
}

/** `map` coloured from its own minimum to its maximum, as DAAM's plots do (heatmap.py expand_image:
 * (im − min) / (max − min)); a flat map is all dark. Fully opaque. */
export function heatmapImage(map: ShownMap): RgbaImage {
  let min = Infinity;
  let max = -Infinity;
  for (const v of map.values) if (Number.isFinite(v)) (min = Math.min(min, v)), (max = Math.max(max, v));
  const span = max - min;
  const data = new Uint8ClampedArray(map.width * map.height * 4);
  map.values.forEach((v, i) => {
    const [r, g, b] = inferno(span > 0 ? (v - min) / span : 0);
    data.set([r, g, b, 255], i * 4);
  });
  return { width: map.width, height: map.height, data };
}

/** The image with the heatmap over it at `opacity` (smoothly upscaled) and, for a point, its marker. */
export function overlayCanvas(image: RgbaImage, map: ShownMap, opacity: number, point?: { x: number; y: number }): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext('2d')!;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
  const heat = heatmapImage(map);
  const source = document.createElement('canvas');
  source.width = heat.width;
  source.height = heat.height;
  source.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(heat.data), heat.width, heat.height), 0, 0);
  ctx.globalAlpha = opacity;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(source, 0, 0, image.width, image.height);
  ctx.globalAlpha = 1;
  if (point) drawMarker(ctx, point.x * image.width, point.y * image.height, Math.max(2, image.width / 40));
  return canvas;
}

export function drawMarker(ctx: CanvasRenderingContext2D, x: number, y: number, radius: number): void {
  ctx.lineWidth = Math.max(1, radius / 3);
  ctx.strokeStyle = '#000';
  ctx.beginPath();
  ctx.arc(x, y, radius + ctx.lineWidth / 2, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.strokeStyle = '#fff';
  ctx.beginPath();
  ctx.arc(x, y, radius, 0, 2 * Math.PI);
  ctx.stroke();
}
