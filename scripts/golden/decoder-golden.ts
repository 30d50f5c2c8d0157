// Golden checks for the text encoder and image decoder fixture folders (shared/fixtures/README.md).
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { ClipTextEncoder } from '../../src/engine/nn/clip-text';
import type { ImageDecoder } from '../../src/engine/nn/image-output';
import { TaesdDecoder } from '../../src/engine/nn/taesd-decoder';
import { VaeDecoder } from '../../src/engine/nn/vae-decoder';
import { uploadTensor } from '../../src/engine/weights/gpu-weights';
import type { ModelFolder } from '../../src/engine/weights/model-folder';
import { readAllF32 } from '../../src/engine/weights/safetensors';
import { compare, type GoldenCheck } from './compare';

async function readIo(folder: ModelFolder) {
  const io = await readAllF32(await folder.open('io.safetensors'));
  return (name: string) => {
    const t = io.get(name);
    if (!t) throw new Error(`${folder.name}/io.safetensors has no tensor "${name}"`);
    return t;
  };
}

/** CLIPTextModel: last_hidden_state, and the penultimate layer after the final layer norm (clip skip). */
export async function* clipGolden(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  yield* clipChecks(gpu, folder, '', folder);
}

/** The text encoder in `weights`/`subdir` against the outputs in `reference`'s io.safetensors; checks are named `prefix` + output. */
export async function* clipChecks(gpu: GpuContext, weights: ModelFolder, subdir: string, reference: ModelFolder, prefix = ''): AsyncGenerator<GoldenCheck> {
  const get = await readIo(reference);
  const encoder = await ClipTextEncoder.load(gpu, weights, subdir);
  try {
    const inputIds = get('input_ids');
    const ids = Int32Array.from(inputIds.data, Math.round);
    for (const [name, clipSkip] of [
      ['last_hidden_state', false],
      ['penultimate_after_final_layer_norm', true],
    ] as const) {
      const out = await encoder.encode(ids, inputIds.shape[0], { clipSkip });
      yield compare(prefix + name, await encoder.readF32(out), get(name).data);
    }
  } finally {
    encoder.destroy();
  }
}

/** A decoder's `decoded = decode(latent).sample`, without the pipeline's latent scaling; io from `reference`. */
async function* decoderGolden(gpu: GpuContext, reference: ModelFolder, decoder: ImageDecoder & { decode: VaeDecoder['decode']; destroy(): void }, prefix = ''): AsyncGenerator<GoldenCheck> {
  try {
    const get = await readIo(reference);
    const latent = get('latent');
    const expected = get('decoded');
    const input = uploadTensor(gpu, 'latent', latent.shape, latent.data);
    const image = decoder.decode(input, { skipLatentScaling: true });
    yield compare(`${prefix}decoded`, await gpu.readF32(image.buffer, expected.data.length, image.byteOffset / 4), expected.data);
    input.buffer.destroy();
  } finally {
    decoder.destroy();
  }
}

/** The VAE decoder in `weights`/`subdir` against `reference`'s io.safetensors. */
export async function* vaeChecks(gpu: GpuContext, weights: ModelFolder, subdir: string, reference: ModelFolder, prefix = ''): AsyncGenerator<GoldenCheck> {
  yield* decoderGolden(gpu, reference, await VaeDecoder.load(gpu, weights, subdir), prefix);
}

export async function* vaeGolden(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  yield* vaeChecks(gpu, folder, '', folder);
}

export async function* taesdGolden(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  yield* decoderGolden(gpu, folder, await TaesdDecoder.load(gpu, folder, ''));
}
