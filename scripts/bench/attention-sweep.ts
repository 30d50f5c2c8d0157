// Times every attention kernel the shader offers on the attention shapes of SD 1.5, SD-Turbo and the
// default model, to choose chooseAttentionKernel's defaults from measurements on a real GPU:
//   vite-node scripts/bench/attention-sweep.ts        (here: SwiftShader, slow; on the GPU machine
//   through scripts/build-device-bundle.mjs scripts/bench/attention-sweep.ts)
// Also prints what the adapter offers for faster paths (features, subgroup sizes, subgroup-matrix
// configurations), which the WebGPU device itself does not report.
import { createNodeGpuContext, nodeGpu } from '../../src/engine/gpu/node-gpu';
import type { Tensor } from '../../src/engine/gpu/tensor';
import { attention, ATTENTION_TILES, type AttentionKernel } from '../../src/engine/kernels/attention';
import { gaussianNoise } from '../../src/engine/sampling/noise';
import { iterationsArg, medianKernelMs } from './time-kernel';

interface Shape {
  name: string;
  batch: number;
  heads: number;
  headDim: number;
  seqQ: number;
  seqK: number;
}

const SHAPES: Shape[] = [
  { name: 'SD 1.5 64x64 self', batch: 2, heads: 8, headDim: 40, seqQ: 4096, seqK: 4096 },
  { name: 'SD 1.5 32x32 self', batch: 2, heads: 8, headDim: 80, seqQ: 1024, seqK: 1024 },
  { name: 'SD 1.5 16x16 self', batch: 2, heads: 8, headDim: 160, seqQ: 256, seqK: 256 },
  { name: 'SD 1.5 64x64 cross', batch: 2, heads: 8, headDim: 40, seqQ: 4096, seqK: 77 },
  { name: 'SD-Turbo 64x64 self', batch: 1, heads: 5, headDim: 64, seqQ: 4096, seqK: 4096 },
  { name: 'default 32x32 self', batch: 2, heads: 2, headDim: 64, seqQ: 1024, seqK: 1024 },
  { name: 'default 16x16 self', batch: 2, heads: 3, headDim: 64, seqQ: 256, seqK: 256 },
  { name: 'default 32x32 cross', batch: 2, heads: 2, headDim: 64, seqQ: 1024, seqK: 32 },
];

const KERNELS: (AttentionKernel | undefined)[] = [
  undefined, // chooseAttentionKernel's pick
  { kind: 'row-per-thread', threads: 64, keyChunk: 32 },
  { kind: 'row-per-thread', threads: 128, keyChunk: 32 },
  { kind: 'row-per-thread', threads: 32, keyChunk: 32 },
  { kind: 'row-per-thread', threads: 64, keyChunk: 16 },
  { kind: 'tiled', tiles: ATTENTION_TILES[0] },
  { kind: 'tiled', tiles: ATTENTION_TILES[1] },
  // Keys split across workgroups and merged by a second pass.
  ...[2, 4, 8, 16].flatMap((keySplits) => [64, 128].map((threads): AttentionKernel => ({ kind: 'row-per-thread', threads, keyChunk: 32, keySplits }))),
];
/** Each shape's kernels are timed this many times over, in turn, to show drift between readings. */
const ROUNDS = 2;

const describeKernel = (k: AttentionKernel | undefined): string => {
  if (!k) return 'default';
  if (k.kind === 'tiled') return `tiled ${k.tiles.blockQ}x${k.tiles.blockK}`;
  return `${k.kind} ${k.threads}t chunk ${k.keyChunk}${k.keySplits ? ` ${k.keySplits} key splits` : ''}`;
};

async function printAdapter(): Promise<void> {
  const adapter = await (await nodeGpu()).requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return;
  type MatrixConfig = { M: number; N: number; K: number; componentType: string; resultComponentType: string };
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: MatrixConfig[]; subgroupMinSize?: number; subgroupMaxSize?: number };
  // Dawn's objects keep their fields on the prototype: JSON.stringify needs them copied out.
  const matrixConfigs = (info.subgroupMatrixConfigs ?? []).map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`);
  console.log(JSON.stringify({ adapter: `${info.vendor} ${info.architecture} ${info.description}`, features: [...adapter.features].sort(), subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize, matrixConfigs }));
}

async function main(): Promise<void> {
  await printAdapter();
  const gpu = await createNodeGpuContext();
  const iterations = iterationsArg();
  for (const s of SHAPES) {
    const width = s.heads * s.headDim;
    const input = (label: string, seq: number, seed: number): Tensor => ({ buffer: gpu.upload(label, gaussianNoise(seed, s.batch * seq * width)), shape: [s.batch, seq, width], dtype: 'f32', byteOffset: 0, label });
    const q = input('q', s.seqQ, 1);
    const k = input('k', s.seqK, 2);
    const v = input('v', s.seqK, 3);
    // Multipliers on, as in every UNet call.
    const multipliers = { buffer: gpu.upload('multipliers', new Float32Array([1, 1, 1, 1])), site: 0 };
    // Two multiply-adds per query, key and column: q·k and the weighted sum of v.
    const flops = 4 * s.batch * s.heads * s.seqQ * s.seqK * s.headDim;
    for (let round = 0; round < ROUNDS; round++) {
      for (const kernel of KERNELS) {
        let ms: number;
        try {
          ms = await medianKernelMs(gpu, iterations, (rec) => attention(rec, q, k, v, { heads: s.heads, kernel, out: rec.alloc(q.shape, 'out'), multipliers }));
        } catch (e) {
          if (round === 0) console.log(JSON.stringify({ shape: s.name, kernel: describeKernel(kernel), skipped: (e as Error).message }));
          continue;
        }
        console.log(JSON.stringify({ shape: s.name, round, kernel: describeKernel(kernel), ms: +ms.toFixed(4), tflops: +(flops / ms / 1e9).toFixed(2) }));
      }
    }
  }
  gpu.destroy();
}

await main();
