// Times LayerNorm with each workgroup size on the LayerNorm shapes of SD 1.5 and the default model,
// and the one-workgroup GroupNorm rows of the default model with each workgroup size, to choose
// LAYER_NORM_WORKGROUP and GroupNorm's from measurements on a real GPU:
//   vite-node scripts/bench/norm-sweep.ts   (here: SwiftShader; on the GPU machine through
//   scripts/build-device-bundle.mjs scripts/bench/norm-sweep.ts)
import { createNodeGpuContext } from '../../src/engine/gpu/node-gpu';
import type { Tensor } from '../../src/engine/gpu/tensor';
import { groupNorm, layerNorm } from '../../src/engine/kernels/norm';
import { gaussianNoise } from '../../src/engine/sampling/noise';
import { iterationsArg, medianKernelMs } from './time-kernel';

const SHAPES: [name: string, rows: number, channels: number][] = [
  ['SD 1.5 64x64', 2 * 4096, 320],
  ['SD 1.5 32x32', 2 * 1024, 640],
  ['SD 1.5 16x16', 2 * 256, 1280],
  ['default 32x32', 2 * 1024, 128],
  ['default 16x16', 2 * 256, 192],
];
const WORKGROUPS = [32, 64, 128, 256];
const GROUP_NORM_SHAPES: [name: string, channels: number, side: number][] = [
  ['default 64x64, 64 ch', 64, 64],
  ['default 64x64, 96 ch', 96, 64],
  ['default 32x32, 128 ch', 128, 32],
  ['default 32x32, 320 ch', 320, 32],
  ['default 16x16, 192 ch', 192, 16],
];

async function main(): Promise<void> {
  const gpu = await createNodeGpuContext({ onError: (e) => console.error(`GPU error: ${e.message}`) });
  const iterations = iterationsArg(20);
  const tensor = (label: string, shape: number[], seed: number): Tensor => ({
    buffer: gpu.upload(label, gaussianNoise(seed, shape.reduce((a, b) => a * b, 1))),
    shape,
    dtype: 'f32',
    byteOffset: 0,
    label,
  });
  console.log(`device: ${gpu.adapterName}\n\n| shape | ${WORKGROUPS.map((w) => `WG ${w} (us)`).join(' | ')} |\n| --- |${WORKGROUPS.map(() => ' --- |').join('')}`);
  for (const [name, rows, channels] of SHAPES) {
    const x = tensor('x', [rows, channels], 1);
    const weight = tensor('w', [channels], 2);
    const bias = tensor('b', [channels], 3);
    const cells: string[] = [];
    for (const workgroup of WORKGROUPS) {
      try {
        cells.push((1000 * (await medianKernelMs(gpu, iterations, (rec) => layerNorm(rec, x, weight, bias, { eps: 1e-5, workgroup })))).toFixed(1));
      } catch (e) {
        cells.push(`(${(e as Error).message})`);
      }
    }
    console.log(`| ${name} [${rows}, ${channels}] | ${cells.join(' | ')} |`);
    for (const t of [x, weight, bias]) t.buffer.destroy();
  }
  // GroupNorm (+ SiLU) rows that one workgroup reduces and writes: the default model's.
  const rowWorkgroups = [256, 512, 1024].filter((w) => w <= gpu.limits.maxComputeInvocationsPerWorkgroup);
  console.log(`\n| GroupNorm row, 32 groups | ${rowWorkgroups.map((w) => `WG ${w} (us)`).join(' | ')} |\n| --- |${rowWorkgroups.map(() => ' --- |').join('')}`);
  for (const [name, channels, side] of GROUP_NORM_SHAPES) {
    const x = tensor('x', [2, channels, side, side], 1);
    const weight = tensor('w', [channels], 2);
    const bias = tensor('b', [channels], 3);
    const cells: string[] = [];
    for (const rowWorkgroup of rowWorkgroups) {
      cells.push((1000 * (await medianKernelMs(gpu, iterations, (rec) => groupNorm(rec, x, weight, bias, { groups: 32, eps: 1e-5, silu: true, rowWorkgroup })))).toFixed(1));
    }
    console.log(`| ${name} [2, ${channels}, ${side}, ${side}] (${(channels / 32) * side * side} values per row) | ${cells.join(' | ')} |`);
    for (const t of [x, weight, bias]) t.buffer.destroy();
  }
  gpu.destroy();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
