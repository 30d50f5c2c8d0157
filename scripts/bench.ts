// npm run bench -- [--only default,ort,sd15,turbo,sd15-ort,turbo-ort,sd15-image,turbo-image,steering,steering-sd15] [--iterations N] [--profile[=dispatches]] [--json FILE] [--latent N]
//                  [--unet-config FILE [--batch N]]   (any UNet config.json, random f16 weights)
//                  [--without subgroups,shader-f16]   (optional features left off: times the plain fallbacks)
//
// ms per UNet call (median after warm-up; each call alone, waited for, and also 10 queued back to
// back, as a sampling run's steps are) for (a) the default model at its default settings, with
// images per second of the whole pipeline and an image's time split into steps and the rest, (b) an SD 1.5-layout UNet with random f16 weights made
// in place, 64×64 latent, batch 2, (c) the SD-Turbo layout, batch 1; a per-kernel breakdown from
// timestamp queries; GPU memory for the weights and the activations; (ort) the default model on our
// engine and on ONNX Runtime Web's WebGPU EP (its ONNX export), both behind the same pipeline, timed
// in turns on the same GPU; (sd15-ort, turbo-ort) the layouts (b, c) on ORT too, with the same
// random weights (scripts/bench/ort-layout.ts), outputs compared; (sd15-image, turbo-image) whole
// images of the SD layouts at their defaults (text encoder, every step, VAE decode) through
// DiffusionPipeline, loaded from a folder of random weights (scripts/bench/random-model-folder.ts),
// with peak GPU memory; (steering, steering-sd15) each steering control's cost per step on the default
// model and the SD 1.5 layout (scripts/bench/steering-cost.ts). Runs wherever WebGPU does:
// here on SwiftShader (where SD-size models are skipped unless named with --only), and on a real
// GPU through dawn.node (shared/device/README.md).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GpuContext } from '../src/engine/gpu/gpu-context';
import { createNodeGpuContext } from '../src/engine/gpu/node-gpu';
import { canProfile, profilePlan, type KernelTime } from '../src/engine/gpu/profile';
import { UNet, type UNetCall } from '../src/engine/nn/unet';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { expectedUNetWeights } from '../src/engine/nn/unet-weights';
import { onnxRuntimeBackend } from '../src/engine/ort/ort-backend';
import { loadNodeOrt } from '../src/engine/ort/ort-node';
import type { BackendLoader } from '../src/engine/sampling/backend';
import { DiffusionPipeline } from '../src/engine/sampling/pipeline';
import type { GenerateRequest } from '../src/engine';
import { gaussianNoise } from '../src/engine/sampling/noise';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { benchLayouts } from './bench/layouts';
import { benchOrtOnLayout, type OrtLayoutResult } from './bench/ort-layout';
import { randomModelFolder } from './bench/random-model-folder';
import { randomWeights } from './bench/random-weights';
import { median } from './bench/time-kernel';
import { benchSteeringCost, steeringCostReport, type SteeringCostResult } from './bench/steering-cost';

interface Options {
  only: Set<string> | null;
  iterations: number;
  /** Per-kernel GPU times; 'dispatches' lists every dispatch in plan order instead. */
  profile: false | 'kernels' | 'dispatches';
  json?: string;
  model: string;
  /** Latent size of the SD-layout UNets (64 = 512 px); smaller only for quick checks. */
  latent: number;
  unetConfig?: string;
  batch: number;
  /** Optional features not asked for, so their plain fallbacks run. */
  without: GPUFeatureName[];
}

interface UNetResult {
  name: string;
  batch: number;
  latent: string;
  msMedian: number;
  msMin: number;
  iterations: number;
  /** ms per call with BACK_TO_BACK calls queued before one wait (median over groups), as the
   * steps of a sampling run: each call's encoding overlaps the GPU's work on the one before. */
  msBackToBack: number;
  weightBytes: number;
  activationBytes: number;
  peakActivationBytes: number;
  dispatches: number;
  kernels?: KernelTime[];
  imagesPerSecond?: number;
  msPerImage?: number;
  /** One image's time split into steps and the rest (prompt, noise, decoding, read-backs): from
   * images of `steps` and 2 x `steps` steps. */
  imageParts?: { steps: number; msPerStep: number; msOutsideSteps: number };
  /** Throughput when BATCH_SEEDS images of different seeds share each UNet call. */
  imagesPerSecondBatched?: number;
  settings?: string;
  /** The same layout and weights on ONNX Runtime Web (SD-size layouts). */
  ort?: OrtLayoutResult;
}

function parseArgs(argv: string[]): Options {
  const args = argv.filter((a) => a !== '--');
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const only = value('--only');
  return {
    only: only ? new Set(only.split(',')) : null,
    iterations: Number(value('--iterations') ?? 0),
    profile: args.includes('--profile=dispatches') ? 'dispatches' : args.includes('--profile') ? 'kernels' : false,
    json: value('--json'),
    model: value('--model') ?? 'public/models/emoji-64',
    latent: Number(value('--latent') ?? 64),
    unetConfig: value('--unet-config'),
    batch: Number(value('--batch') ?? 2),
    without: (value('--without')?.split(',') ?? []) as GPUFeatureName[],
  };
}

/** One UNet call as PyTorch's forward computes it: the cross-attention keys and values of the
 * context too (the pipeline computes those once per prompt, not per call). */
function runWholeCall(call: UNetCall): void {
  call.contextPlan.run();
  call.plan.run();
}

/** Calls per group of the back-to-back timing, and groups timed. */
const BACK_TO_BACK = 10;
const BACK_TO_BACK_GROUPS = 5;

async function timeBackToBack(gpu: GpuContext, call: UNetCall): Promise<number> {
  const perCall: number[] = [];
  for (let g = 0; g <= BACK_TO_BACK_GROUPS; g++) {
    const t0 = performance.now();
    for (let i = 0; i < BACK_TO_BACK; i++) runWholeCall(call);
    await gpu.idle();
    if (g > 0) perCall.push((performance.now() - t0) / BACK_TO_BACK); // group 0 warms up
  }
  return median(perCall);
}

async function timeCall(gpu: GpuContext, call: UNetCall, iterations: number): Promise<number[]> {
  const warmup = Math.min(3, iterations);
  for (let i = 0; i < warmup; i++) {
    runWholeCall(call);
    await gpu.idle();
  }
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    runWholeCall(call);
    await gpu.idle();
    times.push(performance.now() - t0);
  }
  return times;
}

function fillInputs(gpu: GpuContext, call: UNetCall): void {
  gpu.write(call.sample.buffer, gaussianNoise(1, call.sample.shape.reduce((a, b) => a * b, 1)));
  gpu.write(call.timesteps.buffer, new Float32Array(call.batch).fill(500));
  gpu.write(call.context.buffer, gaussianNoise(2, call.context.shape.reduce((a, b) => a * b, 1)));
}

async function benchUNet(gpu: GpuContext, name: string, unet: UNet, batch: number, size: number, contextLength: number, opts: Options): Promise<UNetResult> {
  const call = unet.prepare(batch, size, size, contextLength);
  fillInputs(gpu, call);
  const times = await timeCall(gpu, call, opts.iterations);
  const result: UNetResult = {
    name,
    batch,
    latent: `${unet.config.inChannels}×${size}×${size}`,
    msMedian: median(times),
    msMin: Math.min(...times),
    iterations: times.length,
    msBackToBack: await timeBackToBack(gpu, call),
    weightBytes: unet.weights.byteSize,
    // The context plan's keys and values stay allocated for the whole call.
    activationBytes: call.plan.activationBytes + call.contextPlan.activationBytes,
    peakActivationBytes: call.plan.peakActivationBytes + call.contextPlan.activationBytes,
    dispatches: call.contextPlan.steps.length + call.plan.steps.length,
  };
  if (opts.profile && canProfile(gpu.device)) result.kernels = await profilePlan(gpu.device, [call.contextPlan, call.plan], opts.profile === 'dispatches' ? 'dispatch' : 'kernel');
  return result;
}

/** Images per batched generation in the throughput measurement (an XY plot row, say). */
const BATCH_SEEDS = 8;
const seedsFrom = (first: number) => Array.from({ length: BATCH_SEEDS }, (_, i) => first + i);

async function benchDefaultModel(gpu: GpuContext, opts: Options): Promise<UNetResult> {
  const pipeline = await DiffusionPipeline.load(gpu, nodeModelFolder(resolve(opts.model)));
  const d = pipeline.info.defaults;
  const request = { prompt: d.prompt ?? 'a smiling cat face', negativePrompt: d.negativePrompt ?? '', seed: 1, steps: d.steps, sampler: d.sampler, cfg: d.cfg, rules: [] };
  await pipeline.generate(request); // warm-up: records every plan
  const latent = pipeline.unet.config.sampleSize ?? 64;
  const result = await benchUNet(gpu, 'default model', pipeline.unet, d.cfg !== 1 ? 2 : 1, latent, pipeline.contextLength, opts);
  const imageTimes: number[] = [];
  // A new seed for every timed image: no image reuses the noise of one before (the pipeline keeps
  // recent seeds' noise, as dragging a slider repeats one seed).
  let seed = 1000;
  for (let i = 0; i < Math.max(3, Math.min(opts.iterations, 20)); i++) imageTimes.push((await pipeline.generate({ ...request, seed: seed++ })).ms);
  result.msPerImage = median(imageTimes);
  result.imagesPerSecond = 1000 / result.msPerImage;
  const longTimes: number[] = [];
  for (let i = 0; i < imageTimes.length; i++) longTimes.push((await pipeline.generate({ ...request, steps: 2 * d.steps, seed: seed++ })).ms);
  const msPerStep = (median(longTimes) - result.msPerImage) / d.steps;
  result.imageParts = { steps: d.steps, msPerStep, msOutsideSteps: result.msPerImage - d.steps * msPerStep };
  result.settings = `${d.sampler}, ${d.steps} steps, CFG ${d.cfg}`;
  await pipeline.generateBatch(request, seedsFrom(0)); // warm-up: records the batched plan
  const batchTimes: number[] = [];
  for (let i = 0; i < Math.max(3, Math.min(opts.iterations, 10)); i++) {
    const t0 = performance.now();
    await pipeline.generateBatch(request, seedsFrom(2000 + i * BATCH_SEEDS));
    batchTimes.push(performance.now() - t0);
  }
  result.imagesPerSecondBatched = (1000 * BATCH_SEEDS) / median(batchTimes);
  pipeline.destroy();
  return result;
}

/** A UNet layout with random f16 weights; with `onnxDir` (its ONNX export), also on ONNX Runtime. */
async function benchRandomUNet(gpu: GpuContext, name: string, configJson: object, batch: number, opts: Options, onnxDir?: string): Promise<UNetResult> {
  const config = parseUNetConfig(configJson);
  const weights = randomWeights(gpu, expectedUNetWeights(config), 'f16');
  const unet = new UNet(gpu, config, weights);
  try {
    const result = await benchUNet(gpu, name, unet, batch, opts.latent, 77, opts);
    if (onnxDir) {
      try {
        result.ort = await benchOrtOnLayout(gpu, unet, unet.prepare(batch, opts.latent, opts.latent, 77), onnxDir, opts.iterations);
      } catch (e) {
        console.error(`${name} on ONNX Runtime: failed (${(e as Error).message})`);
      }
    }
    return result;
  } finally {
    unet.destroy();
  }
}

/** Whole images of an SD layout at its model_index.json defaults, as a user's click makes them. */
interface ImageResult {
  name: string;
  settings: string;
  size: string;
  /** ms per image: a new prompt (so the text encoder runs) and a new seed each time. */
  msMedian: number;
  msMin: number;
  iterations: number;
  msPerStep: number;
  /** ms of an image outside its steps (text encoder, noise, VAE decode, read-back): 2 t(steps) - t(2 steps). */
  msOutsideSteps: number;
  weightBytes: number;
  /** The most GPU memory the engine's buffers held at once, loading and generating. */
  peakBytes: number;
  loadSeconds: number;
}

async function benchImages(gpu: GpuContext, name: string, dir: string, opts: Options): Promise<ImageResult> {
  gpu.resetPeakBytes();
  const before = gpu.live.bytes;
  const t0 = performance.now();
  const pipeline = await DiffusionPipeline.load(gpu, randomModelFolder(dir));
  const loadSeconds = (performance.now() - t0) / 1000;
  const weightBytes = gpu.live.bytes - before;
  try {
    const d = pipeline.info.defaults;
    const prompt = d.prompt ?? 'a photograph of an astronaut riding a horse';
    // Each image gets a prompt of its own, so its text encoding is timed too (the pipeline keeps the
    // last prompt's embeddings), and a seed of its own.
    const request = (i: number): GenerateRequest => ({ prompt: `${prompt} ${i}`, negativePrompt: '', seed: 100 + i, steps: d.steps, sampler: d.sampler, cfg: d.cfg, rules: [] });
    await pipeline.generate(request(0)); // warm-up: records every plan
    const times: number[] = [];
    const steps: number[] = [];
    const n = Math.max(3, Math.min(opts.iterations, 10));
    for (let i = 1; i <= n; i++) {
      const r = await pipeline.generate(request(i));
      times.push(r.ms);
      steps.push(r.msPerStep);
    }
    const doubled: number[] = [];
    await pipeline.generate({ ...request(0), steps: 2 * d.steps }); // warm-up: the schedule of 2x the steps
    for (let i = 1; i <= 3; i++) doubled.push((await pipeline.generate({ ...request(n + i), steps: 2 * d.steps })).ms);
    const { width, height } = pipeline.info;
    return {
      msOutsideSteps: 2 * median(times) - median(doubled),
      name,
      settings: `${d.sampler}, ${d.steps} steps, CFG ${d.cfg}`,
      size: `${width}×${height}`,
      msMedian: median(times),
      msMin: Math.min(...times),
      iterations: n,
      msPerStep: median(steps),
      weightBytes,
      peakBytes: gpu.peakBytes - before,
      loadSeconds,
    };
  } finally {
    pipeline.destroy();
  }
}

/** Each steering control's cost per step: the default model at its defaults, or an SD layout's random
 * folder at its own (10 steps, to keep the turns short). */
async function benchSteering(gpu: GpuContext, key: string, dir: string, opts: Options): Promise<SteeringCostResult> {
  const defaultModel = key === 'steering';
  const pipeline = await DiffusionPipeline.load(gpu, defaultModel ? nodeModelFolder(dir) : randomModelFolder(dir));
  try {
    const d = pipeline.info.defaults;
    const request: GenerateRequest = { prompt: d.prompt ?? 'a photograph of an astronaut riding a horse', negativePrompt: '', seed: 1, steps: defaultModel ? d.steps : 10, sampler: d.sampler, cfg: d.cfg, rules: [] };
    const name = defaultModel ? 'the default model' : `SD 1.5 layout, random f16 weights, ${pipeline.info.width}×${pipeline.info.height}`;
    return await benchSteeringCost(pipeline, name, request, Math.max(3, Math.min(opts.iterations, 10)));
  } finally {
    pipeline.destroy();
  }
}

/** One backend's numbers for the default model, both measured through NoisePredictor.predict and the
 * pipeline, so each includes what the other pays: inputs up, output back, per call. */
interface BackendResult {
  backend: string;
  batch: number;
  /** One UNet call with its upload and read-back (median). */
  msPerCall: number;
  msPerImage: number;
  imagesPerSecond: number;
  settings: string;
}

async function benchBackends(gpu: GpuContext, opts: Options): Promise<BackendResult[]> {
  const folder = nodeModelFolder(resolve(opts.model));
  const ort = await loadNodeOrt();
  const backends: [string, BackendLoader | undefined][] = [
    ['WGSL engine (WebGPU)', undefined],
    ['ONNX Runtime Web 1.30 (WebGPU EP)', onnxRuntimeBackend(ort, 'webgpu')],
  ];
  const pipelines = [];
  for (const [name, backend] of backends) pipelines.push({ name, pipeline: await DiffusionPipeline.load(gpu, folder, undefined, { backend }) });
  const d = pipelines[0].pipeline.info.defaults;
  const request: GenerateRequest = { prompt: d.prompt ?? 'a smiling cat face', negativePrompt: d.negativePrompt ?? '', seed: 1, steps: d.steps, sampler: d.sampler, cfg: d.cfg, rules: [] };
  const results: BackendResult[] = [];
  try {
    for (const { name, pipeline } of pipelines) {
      const info = pipeline.info;
      const batch = d.cfg !== 1 ? 2 : 1;
      const sample = gaussianNoise(1, batch * pipeline.unetConfig.inChannels * info.height * info.width);
      const context = gaussianNoise(2, pipeline.contextLength * pipeline.unetConfig.crossAttentionDim);
      const prepared = pipeline.backend.predictor.prepare(batch, info.height, info.width, new Array(batch).fill(context));
      const calls: number[] = [];
      for (let i = 0; i < opts.iterations + 3; i++) {
        const t0 = performance.now();
        await prepared.predict(sample, 500);
        if (i >= 3) calls.push(performance.now() - t0);
      }
      await pipeline.generate(request); // warm-up
      const images: number[] = [];
      for (let i = 0; i < Math.max(3, Math.min(opts.iterations, 20)); i++) images.push((await pipeline.generate({ ...request, seed: 1000 + i })).ms);
      const msPerImage = median(images);
      results.push({ backend: name, batch, msPerCall: median(calls), msPerImage, imagesPerSecond: 1000 / msPerImage, settings: `${d.sampler}, ${d.steps} steps, CFG ${d.cfg}` });
    }
  } finally {
    for (const { pipeline } of pipelines) pipeline.destroy();
  }
  return results;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function report(gpu: GpuContext, results: UNetResult[], backends: BackendResult[], images: ImageResult[], opts: Options): string {
  const lines = [`device: ${gpu.adapterName}; features: ${[...gpu.features].sort().join(', ')}`, ''];
  if (images.length) {
    lines.push('| whole image (text encoder, steps, VAE decode) | size | settings | ms / image (median) | min | n | ms outside the steps (2 t(n) - t(2n)) | weights | peak GPU memory (engine buffers) | loaded in |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of images) lines.push(`| ${r.name} | ${r.size} | ${r.settings} | ${r.msMedian.toFixed(1)} | ${r.msMin.toFixed(1)} | ${r.iterations} | ${r.msOutsideSteps.toFixed(1)} | ${mib(r.weightBytes)} | ${mib(r.peakBytes)} | ${r.loadSeconds.toFixed(1)} s |`);
    lines.push('');
  }
  if (backends.length) {
    lines.push('| default model on | batch | ms / UNet call with upload and read-back (median) | ms / image | images/s | settings |', '| --- | --- | --- | --- | --- | --- |');
    for (const b of backends) lines.push(`| ${b.backend} | ${b.batch} | ${b.msPerCall.toFixed(2)} | ${b.msPerImage.toFixed(1)} | ${b.imagesPerSecond.toFixed(2)} | ${b.settings} |`);
    lines.push('');
  }
  lines.push(`| model | batch | latent | ms / UNet call (median) | min | n | ms / call, ${BACK_TO_BACK} back to back | images/s one at a time | images/s, ${BATCH_SEEDS} seeds per batch | weights | activations (peak live) | dispatches |`);
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const ips = r.imagesPerSecond ? `${r.imagesPerSecond.toFixed(2)} (${r.settings})` : '';
    const batched = r.imagesPerSecondBatched ? r.imagesPerSecondBatched.toFixed(2) : '';
    lines.push(`| ${r.name} | ${r.batch} | ${r.latent} | ${r.msMedian.toFixed(2)} | ${r.msMin.toFixed(2)} | ${r.iterations} | ${r.msBackToBack.toFixed(2)} | ${ips} | ${batched} | ${mib(r.weightBytes)} | ${mib(r.activationBytes)} (${mib(r.peakActivationBytes)}) | ${r.dispatches} |`);
  }
  const onOrt = results.filter((r) => r.ort);
  if (onOrt.length) {
    lines.push('', '| same layout and weights | batch | ONNX Runtime Web 1.30 (WebGPU EP), ms / call | WGSL engine, ms / call | ORT / engine | output difference (max abs / max abs) | ORT session created in | f32 external data |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of onOrt) {
      const o = r.ort!;
      lines.push(`| ${r.name} | ${r.batch} | ${o.ortMs.toFixed(1)} (min ${o.ortMsMin.toFixed(1)}, n ${o.iterations}) | ${o.engineMs.toFixed(1)} | ${(o.ortMs / o.engineMs).toFixed(2)}x | ${o.relativeDifference.toExponential(1)} | ${o.sessionSeconds.toFixed(1)} s | ${mib(o.externalDataBytes)} |`);
    }
    lines.push('(each call: inputs written from the CPU, one UNet call, its output read back; median after 2 warm-up calls)');
  }
  for (const r of results) {
    if (!r.imageParts) continue;
    const { steps, msPerStep, msOutsideSteps } = r.imageParts;
    lines.push('', `${r.name}: one image = ${steps} steps x ${msPerStep.toFixed(2)} ms + ${msOutsideSteps.toFixed(2)} ms outside the steps (images of ${steps} and ${2 * steps} steps)`);
  }
  for (const r of results) {
    if (!r.kernels) continue;
    const total = r.kernels.reduce((s, k) => s + k.ms, 0);
    lines.push('', `${r.name}: GPU time by kernel (timestamp queries, one pass per dispatch; total ${total.toFixed(2)} ms)`);
    for (const k of opts.profile === 'dispatches' ? r.kernels : r.kernels.slice(0, 15)) lines.push(`  ${k.ms.toFixed(3).padStart(9)} ms ${((100 * k.ms) / total).toFixed(1).padStart(5)}%  ×${String(k.calls).padEnd(4)} ${k.kernel}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const gpu = await createNodeGpuContext({ onError: (e) => console.error(`GPU error: ${e.message}`), withoutFeatures: opts.without });
  const software = /swiftshader/i.test(`${gpu.adapter.architecture} ${gpu.adapter.description} ${gpu.adapter.vendor}`);
  if (!opts.iterations) opts.iterations = software ? 3 : 20;
  const want = (name: string, byDefault: boolean) => (opts.only ? opts.only.has(name) : byDefault && !opts.unetConfig);
  const results: UNetResult[] = [];
  let backends: BackendResult[] = [];
  const images: ImageResult[] = [];
  const steering: SteeringCostResult[] = [];
  try {
    if (want('default', true)) {
      try {
        results.push(await benchDefaultModel(gpu, opts));
      } catch (e) {
        console.error(`default model: skipped (${(e as Error).message})`);
      }
    }
    if (want('ort', !software)) backends = await benchBackends(gpu, opts);
    for (const layout of benchLayouts()) {
      // '<key>-ort' adds ONNX Runtime on the same layout and weights (3.4 GB of f32 for SD 1.5).
      const withOrt = want(`${layout.key}-ort`, !software);
      const onnxDir = withOrt ? join(layout.dir, 'onnx') : undefined;
      if (withOrt || want(layout.key, !software)) results.push(await benchRandomUNet(gpu, layout.name, layout.config, layout.batch, opts, onnxDir));
      if (want(`${layout.key}-image`, !software)) images.push(await benchImages(gpu, layout.name.replace(', random f16 weights', ''), layout.dir, opts));
    }
    for (const [key, dir] of [['steering', resolve(opts.model)], ['steering-sd15', benchLayouts().find((l) => l.key === 'sd15')?.dir]] as const) {
      if (dir && want(key, false)) steering.push(await benchSteering(gpu, key, dir, opts));
    }
    if (opts.unetConfig) results.push(await benchRandomUNet(gpu, `${opts.unetConfig}, random f16 weights`, JSON.parse(readFileSync(opts.unetConfig, 'utf8')), opts.batch, opts));
    if (software && !opts.only) console.error('SwiftShader: SD-size UNets and ONNX Runtime skipped (name them with --only sd15,turbo,ort,sd15-ort,turbo-ort,sd15-image,turbo-image to run them anyway).');
    console.log(report(gpu, results, backends, images, opts));
    for (const r of steering) console.log(`\n${steeringCostReport(r)}`);
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ device: gpu.adapter, results, backends, images, steering }, null, 1));
  } finally {
    gpu.destroy();
  }
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
