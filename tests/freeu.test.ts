import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { UNet } from '../src/engine/nn/unet';
import { WebGpuBackend, type BackendLoader } from '../src/engine/sampling/backend';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import type { GenerateRequest, RgbaImage } from '../src/engine';
import { fixturePipelineFolder } from './support/fixture-pipeline';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { freeuConcat, packFreeUFactors, reference, type FreeUFactors } from '../src/engine/kernels/freeu';
import { concatChannels, reference as layout } from '../src/engine/kernels/layout';
import { fourierFilter, freeuPatch } from '../src/engine/steering/freeu-reference';
import { randInt, randn, relError, rng, runOnce, tensorFrom, testGpu } from './support/gpu';

// numpy.fft (numpy 2.4.6) on this 3×5 plane: fftn, fftshift, [0:2, 1:3] × 0.2, ifftshift, ifftn, real.
const NUMPY_3X5 = {
  x: [-0.594723701, 0.630783498, 1.03935409, 1.0309217, 1.81784606, -0.385189384, 0.544177175, -0.366221696, -1.42484856, -0.703859091, 0.136162341, -0.915174723, -0.191471025, 1.12025011, 0.570451677],
  y: [-0.632207623, 0.407002197, 0.419614408, 0.352763665, 1.49954188, -0.357446728, 0.504945196, -0.245027999, -1.1375317, -0.474298158, -0.0282125671, -0.73312229, -0.0792792089, 0.842838347, 0.122112283],
};

// Sizes with odd and even sides, and sides of 1 and 2 where the frequencies 0 and −1 meet.
const PLANE_SIZES = [
  [3, 5],
  [6, 10],
  [1, 1],
  [1, 4],
  [7, 1],
  [2, 2],
  [4, 4],
  [5, 8],
] as const;

describe("FreeU's skip filter: the four-frequency shortcut equals ComfyUI's Fourier_filter", () => {
  it('the FFT reference matches numpy.fft on a 3×5 plane', () => {
    const out = fourierFilter(Float32Array.from(NUMPY_3X5.x), [1, 1, 3, 5], 1, 0.2);
    expect(relError(out, NUMPY_3X5.y)).toBeLessThan(1e-6);
  });

  const random = rng(1616);
  for (const [h, w] of PLANE_SIZES) {
    it(`the shortcut equals the FFT reference at ${h}×${w}`, () => {
      const shape = [2, 3, h, w];
      const x = randn(2 * 3 * h * w, random);
      for (const s of [0.2, 0.9, 1.7, 0]) {
        expect(relError(reference.skipLowFrequencies(x, shape, s), fourierFilter(x, shape, 1, s))).toBeLessThan(1e-6);
      }
    });
  }

  it('scale 1 leaves the skip as it was', () => {
    const x = randn(2 * 6 * 10, random);
    expect(relError(fourierFilter(x, [1, 2, 6, 10], 1, 1), x)).toBeLessThan(1e-6);
  });
});

/** The patched concat on the CPU: cat([FreeU(h), Fourier_filter(hsp)]) from the FFT reference. */
function expected(h: Float32Array, hShape: number[], hsp: Float32Array, hspShape: number[], version: 1 | 2, b: number, s: number): Float32Array {
  const patched = freeuPatch(h, hShape, hsp, hspShape, version, b, s);
  return layout.concatChannels(patched.h, hShape, patched.hsp, hspShape);
}

describe('the FreeU kernel matches the reference', () => {
  const random = rng(4182);
  // Relative to the largest value: float32 sums over a plane (and over channels for v2).
  const TOLERANCE = 1e-5;
  const cases: { n: number; ch: number; cs: number; h: number; w: number }[] = [
    { n: 2, ch: 8, cs: 6, h: 3, w: 5 },
    { n: 2, ch: 6, cs: 6, h: 6, w: 10 },
    { n: 1, ch: 4, cs: 3, h: 1, w: 1 },
    { n: 3, ch: 5, cs: 2, h: 1, w: 7 },
    { n: 2, ch: 4, cs: 4, h: 16, w: 16 },
    { n: 2, ch: 10, cs: 7, h: 12, w: 20 },
    { n: 1, ch: 2, cs: 2, h: randInt(random, 17, 23), w: randInt(random, 17, 23) },
  ];
  for (const { n, ch, cs, h, w } of cases) {
    for (const version of [1, 2] as const) {
      it(`FreeU v${version}, h [${n}, ${ch}, ${h}, ${w}], skip [${n}, ${cs}, ${h}, ${w}], both levels`, async () => {
        const gpu = await testGpu();
        const hShape = [n, ch, h, w];
        const sShape = [n, cs, h, w];
        const hv = randn(n * ch * h * w, random);
        const sv = randn(n * cs * h * w, random, 2);
        const f: FreeUFactors = { version, b1: 1 + random(), s1: random(), b2: 2 * random(), s2: 1 + random() };
        const factors = gpu.upload('freeu factors', packFreeUFactors(f));
        for (const level of [0, 1] as const) {
          const [b, s] = level === 0 ? [f.b1, f.s1] : [f.b2, f.s2];
          const out = await runOnce(gpu, (rec) => freeuConcat(rec, tensorFrom(gpu, hShape, hv), tensorFrom(gpu, sShape, sv), { level, factors }));
          expect(relError(out, expected(hv, hShape, sv, sShape, version, b, s))).toBeLessThan(TOLERANCE);
        }
        factors.destroy();
      });
    }
  }

  it('b = 1 and s = 1 give the plain concatenation, bit for bit', async () => {
    const gpu = await testGpu();
    const hShape = [2, 8, 6, 10];
    const sShape = [2, 5, 6, 10];
    const hv = randn(2 * 8 * 60, random);
    const sv = randn(2 * 5 * 60, random);
    for (const version of [1, 2] as const) {
      const factors = gpu.upload('freeu factors', packFreeUFactors({ version, b1: 1, s1: 1, b2: 1, s2: 1 }));
      const out = await runOnce(gpu, (rec) => freeuConcat(rec, tensorFrom(gpu, hShape, hv), tensorFrom(gpu, sShape, sv), { level: 0, factors }));
      const plain = await runOnce(gpu, (rec) => concatChannels(rec, tensorFrom(gpu, hShape, hv), tensorFrom(gpu, sShape, sv)));
      expect(Buffer.from(out.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
      factors.destroy();
    }
  });

  it('FreeU_V2 leaves h unscaled where its channel mean is flat (ComfyUI: 0/0)', async () => {
    const gpu = await testGpu();
    const hShape = [1, 4, 2, 3];
    const hv = new Float32Array(24).fill(0.5);
    const sv = randn(24, random);
    const factors = gpu.upload('freeu factors', packFreeUFactors({ version: 2, b1: 3, s1: 1, b2: 3, s2: 1 }));
    const out = await runOnce(gpu, (rec) => freeuConcat(rec, tensorFrom(gpu, hShape, hv), tensorFrom(gpu, hShape, sv), { level: 0, factors }));
    expect(relError(out, layout.concatChannels(hv, hShape, sv, hShape))).toBe(0);
    factors.destroy();
  });

  it('refuses a skip whose size differs from h', async () => {
    const gpu = await testGpu();
    const factors = gpu.upload('freeu factors', packFreeUFactors({ version: 1, b1: 1, s1: 1, b2: 1, s2: 1 }));
    const h = tensorFrom(gpu, [1, 2, 3, 3], randn(18, random));
    const hsp = tensorFrom(gpu, [1, 2, 3, 4], randn(24, random));
    await expect(runOnce(gpu, (rec) => freeuConcat(rec, h, hsp, { level: 0, factors }))).rejects.toThrow(/expected shape/);
    factors.destroy();
  });
});

describe('FreeU in the UNet (unet-sd15-tiny: model_channels 32, so its 64-channel decoder level is ×2)', () => {
  const FIXTURE = join(fixturesDir(), 'unet-sd15-tiny');
  const run = async (unet: UNet, sample: Float32Array, context: Float32Array) => {
    const call = unet.prepare(2, 16, 16, 7);
    unet.gpu.write(call.sample.buffer, sample);
    unet.gpu.write(call.timesteps.buffer, new Float32Array([500, 500]));
    unet.gpu.write(call.context.buffer, context);
    call.contextPlan.run();
    call.plan.run();
    return { out: await unet.gpu.readF32(call.output.buffer, 2 * 4 * 16 * 16), dispatches: call.plan.steps.length };
  };

  it('off records no extra dispatch; all-ones factors give the same bits as off; other factors change the output, with no new recording', async () => {
    const gpu = await testGpu();
    const unet = await UNet.load(gpu, nodeModelFolder(FIXTURE));
    try {
      const random = rng(16);
      const sample = randn(2 * 4 * 16 * 16, random);
      const context = randn(2 * 7 * 32, random);
      const plain = await run(unet, sample, context);
      // The plain plan is the one recorded before FreeU existed: one concat per up-block resnet.
      const concats = unet.config.up.reduce((n, b) => n + b.layers, 0);
      expect(plain.dispatches).toBeGreaterThan(concats);

      unet.setSkipScaling({ version: 2, b1: 1, s1: 1, b2: 1, s2: 1 });
      const ones = await run(unet, sample, context);
      expect(Buffer.from(ones.out.buffer).equals(Buffer.from(plain.out.buffer))).toBe(true);
      // Three more dispatches per patched concat: h has 64 channels in the 3 resnets of up_blocks 0
      // and 1 and the first of up_blocks 2 (after the upsampler), 7 in all.
      expect(ones.dispatches - plain.dispatches).toBe(3 * 7);

      const recorded = unet.prepare(2, 16, 16, 7);
      unet.setSkipScaling({ version: 1, b1: 1.1, s1: 0.9, b2: 1.2, s2: 0.2 });
      const scaled = await run(unet, sample, context);
      expect(unet.prepare(2, 16, 16, 7)).toBe(recorded);
      expect(relError(scaled.out, plain.out)).toBeGreaterThan(1e-3);

      unet.setSkipScaling(undefined);
      const off = await run(unet, sample, context);
      expect(off.dispatches).toBe(plain.dispatches);
      expect(Buffer.from(off.out.buffer).equals(Buffer.from(plain.out.buffer))).toBe(true);
    } finally {
      unet.destroy();
    }
  });
});

describe('FreeU through the pipeline (fixture pipeline, 2 Euler steps)', () => {
  const request: GenerateRequest = { prompt: 'a photo of a cat', negativePrompt: '', seed: 5, steps: 2, sampler: 'euler', cfg: 5, rules: [] };
  const same = (a: RgbaImage, b: RgbaImage) => Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer));

  it('changes the image; outside its step range it is the plain image, bit for bit', async () => {
    const pipeline = await DiffusionPipeline.load(await testGpu(), fixturePipelineFolder());
    try {
      const plain = await pipeline.generate(request);
      const on = await pipeline.generate({ ...request, freeu: { version: 1, b1: 1.1, b2: 1.6, s1: 0.9, s2: 0.2 } });
      expect(on.notices).toBeUndefined();
      expect(same(on.image, plain.image)).toBe(false);
      // Steps 0 and 1 of 2 are at 0 and 0.5: a range of 0.9..1 holds neither.
      const never = await pipeline.generate({ ...request, freeu: { version: 2, b1: 1.3, b2: 1.6, s1: 0.9, s2: 0.2, range: { start: 0.9, end: 1 } } });
      expect(same(never.image, plain.image)).toBe(true);
      const late = await pipeline.generate({ ...request, freeu: { version: 1, b1: 1.1, b2: 1.6, s1: 0.9, s2: 0.2, range: { start: 0.5, end: 1 } } });
      expect(same(late.image, plain.image)).toBe(false);
      expect(same(late.image, on.image)).toBe(false);
    } finally {
      pipeline.destroy();
    }
  }, 300_000);

  it('a backend that cannot change the network (ONNX Runtime) renders without it and says so', async () => {
    const withoutHook: BackendLoader = async (ctx) => {
      const inner = await WebGpuBackend.load(ctx);
      return { name: 'onnxruntime', predictor: inner.predictor, contextLength: inner.contextLength, sites: inner.sites, setSiteTable: (t) => inner.setSiteTable(t), steersTextEncoder: false, encodeText: (ids, n) => inner.encodeText(ids, n), destroy: () => inner.destroy() };
    };
    const pipeline = await DiffusionPipeline.load(await testGpu(), fixturePipelineFolder(), undefined, { backend: withoutHook });
    try {
      const plain = await pipeline.generate(request);
      const asked = await pipeline.generate({ ...request, freeu: { version: 1, b1: 1.1, b2: 1.6, s1: 0.9, s2: 0.2 } });
      expect(asked.notices).toEqual(['FreeU needs the WebGPU engine: the ONNX Runtime backend rendered this image without it (choose WebGPU in the Backend menu).']);
      expect(same(asked.image, plain.image)).toBe(true);
    } finally {
      pipeline.destroy();
    }
  }, 300_000);
});
