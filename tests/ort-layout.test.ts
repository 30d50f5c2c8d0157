// The benchmark's ONNX Runtime comparison on UNet layouts (scripts/bench/ort-layout.ts) runs the
// layout's weightless ONNX export on the random weights our engine runs. On a small layout exported
// the same way as SD 1.5's (tests/fixtures/tiny-layout: training/export_onnx.py --unet-config), both
// must compute the same model: same output for the same inputs, up to f32 rounding.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { UNet } from '../src/engine/nn/unet';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { expectedUNetWeights } from '../src/engine/nn/unet-weights';
import { gaussianNoise } from '../src/engine/sampling/noise';
import { benchOrtOnLayout } from '../scripts/bench/ort-layout';
import { randomWeights } from '../scripts/bench/random-weights';
import { testGpu } from './support/gpu';

const LAYOUT = join(__dirname, 'fixtures', 'tiny-layout');

it('ONNX Runtime on a layout export, with our engine\'s random weights, gives our engine\'s output', async () => {
  const gpu = await testGpu();
  const config = parseUNetConfig(JSON.parse(readFileSync(join(LAYOUT, 'unet', 'config.json'), 'utf8')));
  const unet = new UNet(gpu, config, randomWeights(gpu, expectedUNetWeights(config), 'f16'));
  try {
    const call = unet.prepare(2, 8, 8, 16);
    const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
    gpu.write(call.sample.buffer, gaussianNoise(1, count(call.sample.shape)));
    gpu.write(call.timesteps.buffer, Float32Array.of(999, 500));
    gpu.write(call.context.buffer, gaussianNoise(2, count(call.context.shape)));
    const result = await benchOrtOnLayout(gpu, unet, call, join(LAYOUT, 'onnx'), 1);
    console.log(`ONNX Runtime vs WGSL engine on tiny-layout: max abs difference / max abs = ${result.relativeDifference.toExponential(2)}`);
    expect(result.externalDataBytes).toBe(4 * [...expectedUNetWeights(config).values()].reduce((s, shape) => s + count(shape), 0));
    expect(result.relativeDifference).toBeLessThan(1e-5);
  } finally {
    unet.destroy();
  }
}, 10 * 60_000);
