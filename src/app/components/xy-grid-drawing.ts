// Draws an XY plot: cells in a grid, the X axis's name and values above the columns, the Y axis's
// to the left of the rows, and the settings every cell shares (seed, prompt, …) underneath.

import type { RgbaImage } from '../../engine/sampling/pipeline-types';
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

const GAP = 4;
const LEFT = 150;
const TOP = 64;
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

export function drawGrid(canvas: HTMLCanvasElement, picture: GridPicture): GridGeometry {
  const { x, y, cells, settings } = picture;
  const columns = Math.max(1, x.values.length);
  const hasY = y.kind !== 'none' && y.values.length > 0;
  const rows = hasY ? y.values.length : 1;
  const cell = cellSize(picture.width, picture.height);
  const left = hasY ? LEFT : PAD;
  canvas.width = left + columns * (cell.w + GAP) - GAP + PAD;
  canvas.height = TOP + rows * (cell.h + GAP) - GAP + BOTTOM;
  const geometry: GridGeometry = { left, top: TOP, w: cell.w, h: cell.h, gap: GAP, columns, rows };
  const ctx = canvas.getContext('2d');
  if (!ctx) return geometry;

  ctx.fillStyle = '#0f1115';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.textBaseline = 'middle';

  // X axis: its name centred over the columns, each value over its column.
  ctx.fillStyle = '#e8eaf0';
  ctx.font = BOLD;
  ctx.textAlign = 'center';
  const gridWidth = columns * (cell.w + GAP) - GAP;
  ctx.fillText(`X: ${axisTitle(x)} →`, left + gridWidth / 2, 18, gridWidth);
  ctx.font = FONT;
  x.values.forEach((value, col) => ctx.fillText(formatAxisValue(x.kind, value), left + col * (cell.w + GAP) + cell.w / 2, 44, cell.w));

  if (hasY) {
    ctx.font = BOLD;
    ctx.textAlign = 'left';
    ctx.fillText(`Y: ${axisTitle(y)} ↓`, PAD, 44, LEFT - 2 * PAD);
    ctx.font = FONT;
    ctx.textAlign = 'right';
    y.values.forEach((value, row) => ctx.fillText(formatAxisValue(y.kind, value), LEFT - PAD, TOP + row * (cell.h + GAP) + cell.h / 2, LEFT - 2 * PAD));
  }

  const scratch = document.createElement('canvas');
  ctx.imageSmoothingEnabled = false;
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < columns; col++) {
      const image = cells[row * columns + col];
      const px = left + col * (cell.w + GAP);
      const py = TOP + row * (cell.h + GAP);
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
  ctx.fillText(shared, PAD, canvas.height - BOTTOM / 2, canvas.width - 2 * PAD);
  return geometry;
}

/** "seed 42 · Euler · 20 steps · CFG 5 · “a cat”" without what an axis varies. */
export function sharedLine(settings: Settings, x: Axis, y: Axis): string {
  const varied = new Set([x.kind, y.kind]);
  const parts: string[] = [];
  if (!varied.has('seed')) parts.push(`seed ${settings.seed}`);
  parts.push(settings.sampler);
  if (!varied.has('steps')) parts.push(`${settings.steps} steps`);
  if (!varied.has('cfg')) parts.push(`CFG ${settings.cfg}`);
  const self = `${settings.self.q},${settings.self.k},${settings.self.v},${settings.self.out}`;
  const cross = `${settings.cross.q},${settings.cross.k},${settings.cross.v},${settings.cross.out}`;
  if (self !== '1,1,1,1' || cross !== '1,1,1,1') parts.push(`self ${self} · cross ${cross} (${settings.target})`);
  parts.push(`“${settings.prompt}”`);
  return parts.join(' · ');
}
