// The SD-size UNet layouts the benchmark runs with random weights: each a folder under
// scripts/bench/layouts/ with the hub's unet/config.json and, made from it by training/export_onnx.py
// --unet-config, its ONNX graph (onnx/unet.onnx, no weights) for ONNX Runtime. scripts/bench/torch_bench.py
// reads the same configs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchLayout {
  /** The --only name. */
  key: string;
  name: string;
  batch: number;
  /** The folder (unet/config.json, onnx/). */
  dir: string;
  config: object;
}

/** Relative to the repository root, where the bench runs (also as a bundle on the GPU machine). */
const LAYOUTS_DIR = 'scripts/bench/layouts';

function layout(key: string, folder: string, name: string, batch: number): BenchLayout {
  const dir = join(LAYOUTS_DIR, folder);
  return { key, name, batch, dir, config: JSON.parse(readFileSync(join(dir, 'unet', 'config.json'), 'utf8')) as object };
}

/** runwayml/stable-diffusion-v1-5's UNet, batch 2 (a prompt and CFG's negative), and stabilityai/sd-turbo's
 * (the SD 2.1 layout: linear projections, per-block head counts), batch 1 (no CFG). */
export const benchLayouts = (): BenchLayout[] => [
  layout('sd15', 'sd15', 'SD 1.5 layout, random f16 weights', 2),
  layout('turbo', 'sd-turbo', 'SD-Turbo layout, random f16 weights', 1),
];
