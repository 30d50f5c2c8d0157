import { describe, expect, it } from 'vitest';
import { conv2d, conv2dTileNames, reference, type Conv2dTileName } from '../src/engine/kernels/conv2d';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

// f32 sums of up to 40*9 products in another order than the f64 reference: a few ulps of max|ref|.
const TOLERANCE = 1e-5;

interface Case {
  batch: number;
  cin: number;
  cout: number;
  height: number;
  width: number;
  kernel: 1 | 3;
  stride: 1 | 2;
  padding?: number;
  bias: boolean;
  residual: boolean;
  /** A per-image bias read from a wider tensor (stride cout + 3, offset 2), as a time embedding. */
  batchBias?: boolean;
  tile?: Conv2dTileName;
  splits?: number;
  /** Output and residual as tokens [N, H*W, C] (outLayout 'tokens'). */
  tokensOut?: boolean;
}

/** NCHW values as tokens [N, H*W, C]. */
function toTokens(data: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  const plane = h * w;
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < plane; i++) out[(b * plane + i) * c + ch] = data[(b * c + ch) * plane + i];
  return out;
}

function describeCase(c: Case): string {
  const extras = [c.bias && 'bias', c.batchBias && 'per-image bias', c.residual && 'residual', c.padding !== undefined && `pad ${c.padding}`, c.tile && `tile ${c.tile}`, c.splits && `${c.splits} K splits`, c.tokensOut && 'tokens out'].filter(Boolean);
  return `x [${c.batch}, ${c.cin}, ${c.height}, ${c.width}] * ${c.kernel}x${c.kernel} -> ${c.cout}, stride ${c.stride}${extras.length ? `, ${extras.join(', ')}` : ''}`;
}

/** Runs one case on the GPU and the CPU; `f16` stores the weights and bias as packed f16 pairs. */
async function check(c: Case, seed: number, f16 = false): Promise<number> {
  const random = rng(seed);
  const gpu = await testGpu();
  const xShape = [c.batch, c.cin, c.height, c.width];
  const wShape = [c.cout, c.cin, c.kernel, c.kernel];
  const x = randn(xShape.reduce((a, b) => a * b), random);
  let weight = randn(wShape.reduce((a, b) => a * b), random, 1 / Math.sqrt(c.cin * c.kernel * c.kernel));
  let bias = c.bias ? randn(c.cout, random, 0.5) : undefined;
  const expectedWithoutResidual = reference.conv2d(x, xShape, weight, wShape, bias, { stride: c.stride, padding: c.padding });
  const residual = c.residual ? randn(expectedWithoutResidual.data.length, random) : undefined;

  let weightTensor = tensorFrom(gpu, wShape, weight, 'weight');
  let biasTensor = bias && tensorFrom(gpu, [c.cout], bias, 'bias');
  if (f16) {
    const packed = packF16(weight);
    weight = packed.rounded;
    weightTensor = { buffer: gpu.upload('weight', packed.words), shape: wShape, dtype: 'f16', byteOffset: 0, label: 'weight' };
    if (bias) {
      const packedBias = packF16(bias);
      bias = packedBias.rounded;
      biasTensor = { buffer: gpu.upload('bias', packedBias.words), shape: [c.cout], dtype: 'f16', byteOffset: 0, label: 'bias' };
    }
  }
  const expected = reference.conv2d(x, xShape, weight, wShape, bias, { stride: c.stride, padding: c.padding, residual });
  const stride = c.cout + 3;
  const offset = 2;
  const batchBias = c.batchBias ? randn(offset + c.batch * stride, random) : undefined;
  if (batchBias) {
    const plane = expected.shape[2] * expected.shape[3];
    expected.data.forEach((_, i) => {
      const row = Math.floor(i / plane);
      expected.data[i] += batchBias[offset + Math.floor(row / c.cout) * stride + (row % c.cout)];
    });
  }
  const [n, cout, outHeight, outWidth] = expected.shape;
  const outShape = c.tokensOut ? [n, outHeight * outWidth, cout] : expected.shape;
  const inOutLayout = (data: Float32Array) => (c.tokensOut ? toTokens(data, expected.shape) : data);
  const out = await runOnce(gpu, (rec) =>
    conv2d(
      rec,
      tensorFrom(gpu, xShape, x, 'x'),
      { weight: weightTensor, bias: biasTensor },
      {
        stride: c.stride,
        padding: c.padding,
        residual: residual && tensorFrom(gpu, outShape, inOutLayout(residual), 'residual'),
        outLayout: c.tokensOut ? 'tokens' : undefined,
        batchBias: batchBias && { tensor: tensorFrom(gpu, [batchBias.length], batchBias, 'per-image bias'), stride, offset },
        tuning: { tile: c.tile, splits: c.splits },
      },
    ),
  );
  return relError(out, inOutLayout(expected.data));
}

/** f32 -> IEEE half, packed two per u32 word, low half first (tensor.ts). The rounding mode does not
 * matter: the reference is given the values decoded back from the halves. */
function packF16(values: Float32Array): { words: Uint32Array; rounded: Float32Array } {
  const halves = new Uint16Array(values.length + (values.length % 2));
  const rounded = new Float32Array(values.length);
  const f32 = new Float32Array(1);
  const bits = new Uint32Array(f32.buffer);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const sign = (bits[0] >>> 16) & 0x8000;
    const magnitude = Math.abs(values[i]);
    let half: number;
    if (magnitude < 2 ** -14) {
      half = sign | Math.round(magnitude / 2 ** -24); // subnormal
    } else {
      const exponent = Math.floor(Math.log2(magnitude));
      const mantissa = Math.round((magnitude / 2 ** exponent - 1) * 1024);
      half = mantissa === 1024 ? sign | ((exponent + 16) << 10) : sign | ((exponent + 15) << 10) | mantissa;
    }
    halves[i] = half;
    rounded[i] = halfToFloat(half);
  }
  return { words: new Uint32Array(halves.buffer), rounded };
}

function halfToFloat(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

describe('conv2d matches the direct convolution', () => {
  const random = rng(2024);
  const cases: Case[] = [];
  for (let trial = 0; trial < 12; trial++) {
    const kernel = random() < 0.5 ? 1 : 3;
    cases.push({
      batch: randInt(random, 1, 2),
      cin: randInt(random, 1, 40),
      cout: randInt(random, 1, 40),
      height: randInt(random, 1, 19),
      width: randInt(random, 1, 19),
      kernel,
      stride: random() < 0.5 ? 1 : 2,
      bias: random() < 0.6,
      residual: random() < 0.4,
    });
  }
  // Shapes that the random draw may miss: SD's stride-2 downsample (padding 1 on even sizes), a valid
  // (padding 0) 3x3, the tiny decoders' 3- and 4-channel convs, and a 1x1 image under a 3x3 kernel.
  cases.push({ batch: 2, cin: 8, cout: 8, height: 16, width: 16, kernel: 3, stride: 2, padding: 1, bias: true, residual: false });
  cases.push({ batch: 1, cin: 5, cout: 7, height: 9, width: 6, kernel: 3, stride: 1, padding: 0, bias: true, residual: true });
  cases.push({ batch: 1, cin: 4, cout: 3, height: 13, width: 11, kernel: 3, stride: 1, bias: true, residual: false });
  cases.push({ batch: 2, cin: 3, cout: 33, height: 1, width: 1, kernel: 3, stride: 1, bias: false, residual: true });
  // A ResNet block's conv1: bias, then the time embedding per image and channel, in one pass.
  cases.push({ batch: 3, cin: 6, cout: 10, height: 8, width: 5, kernel: 3, stride: 1, bias: true, residual: false, batchBias: true, splits: 1 });

  cases.forEach((c, i) => {
    it(describeCase(c), async () => {
      expect(await check(c, 100 + i)).toBeLessThan(TOLERANCE);
    });
  });

  // Every tile shape on the same awkward sizes (tails in M, N and K), whichever the heuristic picks.
  for (const tile of conv2dTileNames) {
    const c: Case = { batch: 2, cin: 7, cout: 37, height: 11, width: 9, kernel: 3, stride: 1, bias: true, residual: true, tile };
    it(describeCase(c), async () => {
      expect(await check(c, 7)).toBeLessThan(TOLERANCE);
    });
  }

  // K split into ranges whose partial sums a second pass adds: K = 37*9 = 333 in 4 ranges of 96, 96,
  // 96 and 45 (not a multiple of TILE_K), with and without bias and residual.
  for (const [bias, residual, batchBias] of [[true, true, true], [false, false, false], [false, true, true]]) {
    const c: Case = { batch: 2, cin: 37, cout: 21, height: 5, width: 7, kernel: 3, stride: 1, bias, residual, batchBias, tile: 'medium', splits: 4 };
    it(describeCase(c), async () => {
      expect(await check(c, 13)).toBeLessThan(TOLERANCE);
    });
  }

  // A transformer's proj_in: a 1x1 convolution that writes the token sequence [N, H*W, C] itself;
  // also with a residual, a per-image bias and split K, whose epilogues then read tokens too.
  for (const splits of [1, 3]) {
    const c: Case = { batch: 2, cin: 40, cout: 37, height: 6, width: 5, kernel: 1, stride: 1, bias: true, residual: true, batchBias: true, tile: 'medium', splits, tokensOut: true };
    it(describeCase(c), async () => {
      expect(await check(c, 17)).toBeLessThan(TOLERANCE);
    });
  }

  it('reads f16 weights and bias packed in pairs', async () => {
    const c: Case = { batch: 1, cin: 5, cout: 9, height: 7, width: 8, kernel: 3, stride: 1, bias: true, residual: false };
    expect(await check(c, 11, true)).toBeLessThan(TOLERANCE);
  });

  it('rejects an output that aliases its residual', async () => {
    const gpu = await testGpu();
    const shape = [1, 2, 3, 3];
    const x = tensorFrom(gpu, shape, randn(18, random));
    const weight = tensorFrom(gpu, [2, 2, 1, 1], randn(4, random));
    await expect(runOnce(gpu, (rec) => conv2d(rec, x, { weight }, { residual: x, out: x }))).rejects.toThrow(/alias/);
  });
});
