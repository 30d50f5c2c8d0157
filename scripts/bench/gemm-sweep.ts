// Times conv2d's tiles and K splits on the convolutions of the default model and of SD 1.5, to choose
// conv2d.ts's defaults from measurements on a real GPU:
//   vite-node scripts/bench/gemm-sweep.ts        (here: SwiftShader, slow; on the GPU machine
//   through scripts/build-device-bundle.mjs scripts/bench/gemm-sweep.ts)
import { createNodeGpuContext } from '../../src/engine/gpu/node-gpu';
import { conv2d, conv2dTileNames, type Conv2dTileName } from '../../src/engine/kernels/conv2d';
import { randomTensor } from '../../src/engine/kernels/random-fill';
import { iterationsArg, medianKernelMs } from './time-kernel';

interface ConvShape {
  name: string;
  batch: number;
  cin: number;
  cout: number;
  size: number;
  kernel: number;
}

const SHAPES: ConvShape[] = [
  { name: 'default 64x64 64->64 3x3', batch: 2, cin: 64, cout: 64, size: 64, kernel: 3 },
  { name: 'default 64x64 128->64 3x3 (up)', batch: 2, cin: 128, cout: 64, size: 64, kernel: 3 },
  { name: 'default 32x32 128->128 3x3', batch: 2, cin: 128, cout: 128, size: 32, kernel: 3 },
  { name: 'default 16x16 192->192 3x3', batch: 2, cin: 192, cout: 192, size: 16, kernel: 3 },
  { name: 'default 32x32 128->128 1x1', batch: 2, cin: 128, cout: 128, size: 32, kernel: 1 },
  { name: 'SD 1.5 64x64 320->320 3x3', batch: 2, cin: 320, cout: 320, size: 64, kernel: 3 },
  { name: 'SD 1.5 32x32 640->640 3x3', batch: 2, cin: 640, cout: 640, size: 32, kernel: 3 },
];
const SPLITS: (number | undefined)[] = [undefined, 1, 2, 4, 8];

async function main(): Promise<void> {
  const gpu = await createNodeGpuContext();
  const iterations = iterationsArg();
  for (const s of SHAPES) {
    const x = randomTensor(gpu, 'x', [s.batch, s.cin, s.size, s.size], 'f32', 1, 1);
    const weight = randomTensor(gpu, 'w', [s.cout, s.cin, s.kernel, s.kernel], 'f16', 1 / Math.sqrt(s.cin * s.kernel * s.kernel), 2);
    const bias = randomTensor(gpu, 'b', [s.cout], 'f32', 0.1, 3);
    const flops = 2 * s.batch * s.size * s.size * s.cout * s.cin * s.kernel * s.kernel;
    const tunings: ({ tile?: Conv2dTileName; splits?: number } | undefined)[] = [undefined, ...conv2dTileNames.flatMap((tile) => SPLITS.map((splits) => ({ tile, splits })))];
    for (const tuning of tunings) {
      const ms = await medianKernelMs(gpu, iterations, (rec) => conv2d(rec, x, { weight, bias }, { tuning }));
      const label = tuning ? `${tuning.tile} splits ${tuning.splits ?? 'auto'}` : 'default';
      console.log(JSON.stringify({ shape: s.name, tuning: label, ms: +ms.toFixed(4), tflops: +(flops / ms / 1e9).toFixed(2) }));
    }
    for (const t of [x, weight, bias]) t.buffer.destroy();
  }
  gpu.destroy();
}

await main();
