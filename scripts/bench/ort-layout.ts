// ONNX Runtime Web's WebGPU EP on an SD-size layout, beside our engine on the same GPU. The layout's
// ONNX graph (training/export_onnx.py --unet-config) has no weights: its external data is built from
// the random weights our engine runs, read back from the GPU and widened to f32 (exactly), so both
// compute the same model. Their outputs for the same inputs are compared as well as timed.
//
// SD 1.5's f32 weights are 3.4 GB, more than ORT's WebAssembly memory would hold beside everything
// else; ORT copies initializers that live on the GPU straight from the externalData buffer into GPU
// buffers, without passing through its memory. One buffer of up to 4 GiB is accepted (ORT reads its
// offsets as 32-bit unsigned integers).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { byteSize, type Tensor } from '../../src/engine/gpu/tensor';
import type { UNet, UNetCall } from '../../src/engine/nn/unet';
import { neutralSiteTable } from '../../src/engine/nn/unet-sites';
import { assembleExternalData, checkOnnxWeightManifest, RANDOM_WEIGHTS_SOURCE } from '../../src/engine/ort/onnx-weights';
import { checkSiteOrder } from '../../src/engine/ort/ort-backend';
import { loadNodeOrt } from '../../src/engine/ort/ort-node';
import { decodeF16 } from '../../src/engine/weights/safetensors';
import { median } from './time-kernel';

export interface OrtLayoutResult {
  /** ONNX Runtime, one session.run with inputs from and output to the CPU (median). */
  ortMs: number;
  ortMsMin: number;
  /** Our engine timed the same way: inputs written, the whole call, output read back (median). */
  engineMs: number;
  iterations: number;
  /** max |ORT − engine| / max |engine| over the output. */
  relativeDifference: number;
  /** Seconds to read back the weights and build the external data, and to create ORT's session. */
  weightSeconds: number;
  sessionSeconds: number;
  externalDataBytes: number;
}

/** A weight as f32, read back from the GPU (f16 weights are pairs packed in u32 words, low half first). */
async function readWeight(gpu: GpuContext, t: Tensor): Promise<Float32Array> {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (t.dtype === 'f32') return gpu.readF32(t.buffer, count, t.byteOffset);
  const bytes = await gpu.readBytes(t.buffer, byteSize(t.shape, t.dtype), t.byteOffset);
  return decodeF16(new Uint16Array(bytes, 0, count));
}

/**
 * Times ORT on the layout whose ONNX export lies in `onnxDir`, with `unet`'s weights, on the inputs
 * `call` holds (its sample, timesteps and context, as written for our engine's timing), and our
 * engine on the same call the same way; compares the two outputs.
 */
export async function benchOrtOnLayout(gpu: GpuContext, unet: UNet, call: UNetCall, onnxDir: string, iterations: number): Promise<OrtLayoutResult> {
  const manifestPath = join(onnxDir, 'unet.manifest.json');
  const manifest = checkOnnxWeightManifest(JSON.parse(readFileSync(manifestPath, 'utf8')), manifestPath);
  if (manifest.source !== RANDOM_WEIGHTS_SOURCE) throw new Error(`${manifestPath}: source is ${manifest.source}; a layout's export has no weights of its own`);
  checkSiteOrder(unet.sites, manifest, manifestPath);

  let t0 = performance.now();
  let externalData: Uint8Array | undefined = await assembleExternalData(manifest, async (t) => {
    const weight = unet.weights.get(t.safetensors_name);
    if (weight.shape.join(',') !== t.shape.join(',')) {
      throw new Error(`${manifestPath}: "${t.onnx_name}" is [${t.shape.join(', ')}], the engine's weight [${weight.shape.join(', ')}]`);
    }
    return readWeight(gpu, weight);
  });
  const weightSeconds = (performance.now() - t0) / 1000;
  const externalDataBytes = externalData.byteLength;

  const ort = await loadNodeOrt();
  t0 = performance.now();
  const session = await ort.InferenceSession.create(readFileSync(join(onnxDir, manifest.onnx)), {
    executionProviders: ['webgpu'],
    externalData: [{ path: manifest.external_data, data: externalData }],
  });
  const sessionSeconds = (performance.now() - t0) / 1000;
  externalData = undefined; // ORT holds its copies on the GPU; let the 3.4 GB go

  try {
    const [sample, timesteps, context] = await Promise.all([call.sample, call.timesteps, call.context].map((t) => gpu.readF32(t.buffer, t.shape.reduce((a, b) => a * b, 1), t.byteOffset)));
    const multipliers = neutralSiteTable(unet.sites);
    const runOrt = async () => {
      const out = await session.run({
        sample: new ort.Tensor('float32', sample, call.sample.shape),
        timestep: new ort.Tensor('float32', timesteps, [call.batch]),
        encoder_hidden_states: new ort.Tensor('float32', context, call.context.shape),
        attention_multipliers: new ort.Tensor('float32', multipliers, [multipliers.length / 4, 4]),
      });
      return (await out[session.outputNames[0]].getData()) as Float32Array;
    };
    const outputCount = call.output.shape.reduce((a, b) => a * b, 1);
    const runEngine = async () => {
      gpu.write(call.sample.buffer, sample);
      gpu.write(call.timesteps.buffer, timesteps);
      call.contextPlan.run();
      call.plan.run();
      return gpu.readF32(call.output.buffer, outputCount, call.output.byteOffset);
    };

    const ortOut = await runOrt();
    const engineOut = await runEngine();
    let maxDiff = 0;
    let maxRef = 0;
    for (let i = 0; i < outputCount; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ortOut[i] - engineOut[i]));
      maxRef = Math.max(maxRef, Math.abs(engineOut[i]));
    }
    const time = async (run: () => Promise<unknown>) => {
      for (let i = 0; i < 2; i++) await run(); // warm-up
      const times: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const start = performance.now();
        await run();
        times.push(performance.now() - start);
      }
      return times;
    };
    const ortTimes = await time(runOrt);
    const engineTimes = await time(runEngine);
    return {
      ortMs: median(ortTimes),
      ortMsMin: Math.min(...ortTimes),
      engineMs: median(engineTimes),
      iterations,
      relativeDifference: maxDiff / maxRef,
      weightSeconds,
      sessionSeconds,
      externalDataBytes,
    };
  } finally {
    await session.release();
  }
}
