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
  const get = await readIo(folder);
  const encoder = await ClipTextEncoder.load(gpu, folder, '');
  try {
    const inputIds = get('input_ids');
    const ids = Int32Array.from(inputIds.data, Math.round);
    for (const [name, clipSkip] of [
      ['last_hidden_state', false],
      ['penultimate_after_final_layer_norm', true],
    ] as const) {
      const out = await encoder.encode(ids, inputIds.shape[0], { clipSkip });
      yield compare(name, await encoder.readF32(out), get(name).data);
    }
  } finally {
    encoder.destroy();
  }
}

/** A decoder's `decoded = decode(latent).sample`, without the pipeline's latent scaling. */
async function* decoderGolden(gpu: GpuContext, folder: ModelFolder, decoder: ImageDecoder & { decode: VaeDecoder['decode']; destroy(): void }): AsyncGenerator<GoldenCheck> {
  const get = await readIo(folder);
  try {
    const latent = get('latent');
    const expected = get('decoded');
    const input = uploadTensor(gpu, 'latent', latent.shape, latent.data);
    const image = decoder.decode(input, { skipLatentScaling: true });
    yield compare('decoded', await gpu.readF32(image.buffer, expected.data.length, image.byteOffset / 4), expected.data);
    input.buffer.destroy();
  } finally {
    decoder.destroy();
  }
}

export async function* vaeGolden(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  yield* decoderGolden(gpu, folder, await VaeDecoder.load(gpu, folder, ''));
}

export async function* taesdGolden(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  yield* decoderGolden(gpu, folder, await TaesdDecoder.load(gpu, folder, ''));
}
