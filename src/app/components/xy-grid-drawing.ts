// Draws an XY plot: cells in a grid, the X axis's name and values above the columns, the Y axis's
// to the left of the rows, and the settings every cell shares (seed, prompt, …) underneath.

import type { RgbaImage } from '../../engine';
import type { Settings } from '../state/settings-schema';
import { axisTitle, formatAxisValue, type Axis } from '../state/xy-axes';

export interface GridPicture {
  x: Axis;
  y: Axis;
  cells: readonly (RgbaImage | undefined)[];
  settings: Settings;
  /** Model resolution, for the size of cells not rendered yet. */
  width: number;
  height: number;
}

const SAMPLER_LABELS: Record<Settings['sampler'], string> = { dpmpp2m: 'DPM++ 2M', euler: 'Euler', euler_a: 'Euler ancestral', ddim: 'DDIM' };

const GAP = 4;
/** The Y column's width for its title (wrapped into lines, never squeezed) and values. */
const LEFT_MIN = 90;
const LEFT_MAX = 220;
const TOP_MIN = 64;
const LINE = 18;
const BOTTOM = 44;
const PAD = 12;
const FONT = '14px system-ui, -apple-system, "Segoe UI", sans-serif';
const BOLD = '600 14px system-ui, -apple-system, "Segoe UI", sans-serif';

/** Cells at least 128 px wide; small models scale up by whole numbers so pixels stay square. */
export function cellSize(width: number, height: number): { w: number; h: number } {
  const scale = width >= 128 ? Math.min(1, 256 / width) : Math.ceil(128 / width);
  return { w: Math.round(width * scale), h: Math.round(height * scale) };
}

/** Where the cells are on the canvas: cell (row, col) starts at left + col·(w + gap), top + row·(h + gap). */
export interface GridGeometry {
  left: number;
  top: number;
  w: number;
  h: number;
  gap: number;
  columns: number;
  rows: number;
}

/** Where each cell of a grid drawn at `pixelRatio` lands: at 2, a 64×64 model's cells are
 * 256 px, nearest-neighbour, and the text is drawn at that resolution too (the saved PNG). */
export function drawGrid(canvas: HTMLCanvasElement, picture: GridPicture, pixelRatio = 1): GridGeometry {
  const { x, y, cells, settings } = picture;
  const columns = Math.max(1, x.values.length);
  const hasY = y.kind !== 'none' && y.values.length > 0;
  const rows = hasY ? y.values.length : 1;
  const cell = cellSize(picture.width, picture.height);
  const ctx = canvas.getContext('2d');

  // The Y title reads horizontally in the corner above its values, wrapped to the column's width.
  let left = PAD;
  let yTitle: string[] = [];
  if (hasY && ctx) {
    ctx.font = FONT;
    const valuesWidth = Math.max(...y.values.map((v) => ctx.measureText(formatAxisValue(y.kind, v)).width));
    ctx.font = BOLD;
    const title = `Y: ${axisTitle(y)} ↓`;
    const inner = Math.min(LEFT_MAX - 2 * PAD, Math.max(LEFT_MIN - 2 * PAD, valuesWidth, ctx.measureText(title).width));
    yTitle = wrapText(title, inner, (t) => ctx.measureText(t).width);
    left = Math.ceil(inner + 2 * PAD);
  }
  const top = Math.max(TOP_MIN, PAD + LINE * yTitle.length + LINE);
  canvas.width = Math.round((left + columns * (cell.w + GAP) - GAP + PAD) * pixelRatio);
  canvas.height = Math.round((top + rows * (cell.h + GAP) - GAP + BOTTOM) * pixelRatio);
  const width = canvas.width / pixelRatio;
  const height = canvas.height / pixelRatio;
  const geometry: GridGeometry = { left, top, w: cell.w, h: cell.h, gap: GAP, columns, rows };
  if (!ctx) return geometry;
  ctx.setTransform(pixelRatio, 0, 0, pixelRatio, 0, 0);

  ctx.fillStyle = '#0f1115';
  ctx.fillRect(0, 0, width, height);
  ctx.textBaseline = 'middle';

  // X axis: its name centred over the columns, each value over its column.
  ctx.fillStyle = '#e8eaf0';
  ctx.font = BOLD;
  ctx.textAlign = 'center';
  const gridWidth = columns * (cell.w + GAP) - GAP;
  ctx.fillText(`X: ${axisTitle(x)} →`, left + gridWidth / 2, top - 46, Math.max(gridWidth, width - left - PAD));
  ctx.font = FONT;
  x.values.forEach((value, col) => ctx.fillText(formatAxisValue(x.kind, value), left + col * (cell.w + GAP) + cell.w / 2, top - 20, cell.w));

  if (hasY) {
    ctx.font = BOLD;
    ctx.textAlign = 'left';
    yTitle.forEach((line, i) => ctx.fillText(line, PAD, PAD + LINE / 2 + i * LINE));
    ctx.font = FONT;
    ctx.textAlign = 'right';
    y.values.forEach((value, row) => ctx.fillText(formatAxisValue(y.kind, value), left - PAD, top + row * (cell.h + GAP) + cell.h / 2));
  }

  const scratch = document.createElement('canvas');
  ctx.imageSmoothingEnabled = false;
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < columns; col++) {
      const image = cells[row * columns + col];
      const px = left + col * (cell.w + GAP);
      const py = top + row * (cell.h + GAP);
      if (!image) {
        ctx.fillStyle = '#1b1f27';
        ctx.fillRect(px, py, cell.w, cell.h);
        ctx.fillStyle = '#5d6475';
        ctx.textAlign = 'center';
        ctx.fillText('…', px + cell.w / 2, py + cell.h / 2);
        continue;
      }
      scratch.width = image.width;
      scratch.height = image.height;
      scratch.getContext('2d')?.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
      ctx.drawImage(scratch, px, py, cell.w, cell.h);
    }
  }

  // What every cell shares: the baseline the axes vary from.
  ctx.fillStyle = '#9aa3b5';
  ctx.textAlign = 'left';
  ctx.font = FONT;
  const shared = sharedLine(settings, x, y);
  ctx.fillText(shared, PAD, height - BOTTOM / 2, width - 2 * PAD);
  return geometry;
}

/** `text` in lines no wider than `max` (by `measure`), broken at spaces; a longer word stays whole. */
export function wrapText(text: string, max: number, measure: (t: string) => number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (line && measure(next) > max) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

/** "1 step", "2 steps". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The pixel ratio at which a saved grid shows each cell at least 256 px wide (and small models
 * by whole pixels), or at the model's own resolution where that is more. */
export function exportPixelRatio(modelWidth: number): number {
  return Math.max(1, Math.ceil(Math.max(256, modelWidth) / cellSize(modelWidth, modelWidth).w));
}

/** "seed 42 · Euler · 20 steps · CFG 5 · “a cat”" without what an axis varies. */
export function sharedLine(settings: Settings, x: Axis, y: Axis): string {
  const varied = new Set([x.kind, y.kind]);
  const parts: string[] = [];
  if (!varied.has('seed')) parts.push(`seed ${settings.seed}`);
  parts.push(SAMPLER_LABELS[settings.sampler]);
  if (!varied.has('steps')) parts.push(plural(settings.steps, 'step'));
  if (!varied.has('cfg')) parts.push(`CFG ${settings.cfg}`);
  const self = `${settings.self.q},${settings.self.k},${settings.self.v},${settings.self.out}`;
  const cross = `${settings.cross.q},${settings.cross.k},${settings.cross.v},${settings.cross.out}`;
  if (self !== '1,1,1,1' || cross !== '1,1,1,1') parts.push(`self ${self} · cross ${cross} (${settings.target})`);
  parts.push(settings.prompt ? `“${settings.prompt}”` : 'no prompt');
  return parts.join(' · ');
}
