// A diffusers pipeline folder whose weights are random and made as they are read: a layout folder of
// scripts/bench/layouts holds only the hub's configs (unet/, text_encoder/, vae/, scheduler/,
// model_index.json), and each weight file is a safetensors file written on the fly from the shapes
// its config implies (matrices F16, as the hub's fp16 files ship them; vectors F32). So the benchmark
// loads a whole SD-size pipeline through DiffusionPipeline.load, as the app loads a user's model,
// without 2-3 GB of files travelling to the GPU machine. The tokenizer is a trivial word-level one
// (layouts/tokenizer/): tokenization is not what is timed.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseClipTextConfig, type ClipTextConfig, type ClipTextSpec } from '../../src/engine/nn/clip-text';
import { parseUNetConfig } from '../../src/engine/nn/unet-config';
import { expectedUNetWeights, type WeightShapes } from '../../src/engine/nn/unet-weights';
import { parseVaeConfig, type AutoencoderKLConfig, type VaeDecoderSpec } from '../../src/engine/nn/vae-decoder';
import { f32BitsToF16 } from '../../src/engine/weights/gpu-weights';
import { checkRange, type ByteSource } from '../../src/engine/weights/byte-source';
import { parseJsonFile, type ModelFolder } from '../../src/engine/weights/model-folder';

const TOKENIZER_DIR = 'scripts/bench/layouts/tokenizer';

/** transformers CLIPTextModel's tensors (keys under text_model.), from modeling_clip.py. */
export function clipTextWeightShapes(s: ClipTextSpec): WeightShapes {
  const shapes: WeightShapes = new Map();
  const D = s.hiddenSize;
  const add = (name: string, shape: number[]) => shapes.set(`text_model.${name}`, shape);
  const linear = (p: string, out: number, inp: number) => (add(`${p}.weight`, [out, inp]), add(`${p}.bias`, [out]));
  const norm = (p: string) => (add(`${p}.weight`, [D]), add(`${p}.bias`, [D]));
  add('embeddings.token_embedding.weight', [s.vocabSize, D]);
  add('embeddings.position_embedding.weight', [s.maxPositions, D]);
  for (let i = 0; i < s.layers; i++) {
    const p = `encoder.layers.${i}`;
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${p}.self_attn.${n}`, D, D);
    norm(`${p}.layer_norm1`);
    linear(`${p}.mlp.fc1`, s.intermediateSize, D);
    linear(`${p}.mlp.fc2`, D, s.intermediateSize);
    norm(`${p}.layer_norm2`);
  }
  norm('final_layer_norm');
  return shapes;
}

/** diffusers AutoencoderKL's decoder tensors (and post_quant_conv), from autoencoders/vae.py; the
 * encoder's are left out, as the engine never loads them. */
export function vaeDecoderWeightShapes(s: VaeDecoderSpec): WeightShapes {
  const shapes: WeightShapes = new Map();
  const add = (name: string, shape: number[]) => shapes.set(name, shape);
  const conv = (p: string, out: number, inp: number, k: number) => (add(`${p}.weight`, [out, inp, k, k]), add(`${p}.bias`, [out]));
  const norm = (p: string, ch: number) => (add(`${p}.weight`, [ch]), add(`${p}.bias`, [ch]));
  const resnet = (p: string, inp: number, out: number) => {
    norm(`${p}.norm1`, inp);
    conv(`${p}.conv1`, out, inp, 3);
    norm(`${p}.norm2`, out);
    conv(`${p}.conv2`, out, out, 3);
    if (inp !== out) conv(`${p}.conv_shortcut`, out, inp, 1);
  };
  const L = s.latentChannels;
  const reversed = [...s.blockOutChannels].reverse();
  const top = reversed[0];
  if (s.postQuantConv) conv('post_quant_conv', L, L, 1);
  conv('decoder.conv_in', top, L, 3);
  resnet('decoder.mid_block.resnets.0', top, top);
  if (s.midBlockAttention) {
    const a = 'decoder.mid_block.attentions.0';
    norm(`${a}.group_norm`, top);
    for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0']) (add(`${a}.${n}.weight`, [top, top]), add(`${a}.${n}.bias`, [top]));
  }
  resnet('decoder.mid_block.resnets.1', top, top);
  let channels = top;
  reversed.forEach((out, i) => {
    for (let r = 0; r <= s.layersPerBlock; r++) resnet(`decoder.up_blocks.${i}.resnets.${r}`, r === 0 ? channels : out, out);
    channels = out;
    if (i < reversed.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
  });
  norm('decoder.conv_norm_out', channels);
  conv('decoder.conv_out', s.outChannels, channels, 3);
  return shapes;
}

/** Values per tensor's table: element j takes table[hash(j) % TABLE]. */
const TABLE = 4096;

interface Slot {
  shape: number[];
  dtype: 'F16' | 'F32';
  begin: number;
  end: number;
  table: Uint16Array | Float32Array;
}

/**
 * A safetensors file of random tensors, made on read. Matrices are uniform with standard deviation
 * 1/sqrt(fan_in), as scripts/bench/random-weights.ts makes them, so activations stay finite; vectors
 * (biases, norm parameters) are 1 + small noise for norm weights and small noise otherwise.
 */
export function randomSafetensors(name: string, shapes: WeightShapes, seed = 1): ByteSource {
  const slots: Slot[] = [];
  const header: Record<string, unknown> = {};
  let offset = 0;
  let s = seed;
  for (const [key, shape] of shapes) {
    const matrix = shape.length >= 2;
    const dtype = matrix ? 'F16' : 'F32';
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = count * (matrix ? 2 : 4);
    const fanIn = matrix ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const spread = matrix ? Math.sqrt(3 / fanIn) : 0.1;
    const centre = !matrix && /norm[^.]*\.weight$/.test(key) ? 1 : 0;
    const values = new Float32Array(TABLE);
    for (let i = 0; i < TABLE; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      values[i] = centre + spread * ((s / 2 ** 32) * 2 - 1);
    }
    const table = matrix ? Uint16Array.from(new Uint32Array(values.buffer), (b) => f32BitsToF16(b)) : values;
    slots.push({ shape, dtype, begin: offset, end: offset + bytes, table });
    header[key] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(new TextEncoder().encode(json), 8);
  const dataStart = head.length;
  return {
    name,
    size: dataStart + offset,
    async read(at, length) {
      checkRange(this, at, length);
      const out = new Uint8Array(length);
      const end = at + length;
      if (at < dataStart) out.set(head.subarray(at, Math.min(end, dataStart)));
      for (const slot of slots) {
        const from = Math.max(at, dataStart + slot.begin);
        const to = Math.min(end, dataStart + slot.end);
        if (from >= to) continue;
        const size = slot.dtype === 'F16' ? 2 : 4;
        const first = Math.floor((from - dataStart - slot.begin) / size);
        const last = Math.ceil((to - dataStart - slot.begin) / size);
        const values = slot.dtype === 'F16' ? new Uint16Array(last - first) : new Float32Array(last - first);
        const table = slot.table;
        for (let j = first; j < last; j++) values[j - first] = table[Math.imul(j + 1, 0x9e3779b1) >>> 20];
        const bytes = new Uint8Array(values.buffer);
        const skip = from - (dataStart + slot.begin + first * size);
        out.set(bytes.subarray(skip, skip + (to - from)), from - at);
      }
      return out;
    },
  };
}

/** `dir` (a layout folder) as a model folder with random weights; see the top of this file. Its
 * tokenizer/ files come from `tokenizerDir`. */
export function randomModelFolder(dir: string, tokenizerDir = TOKENIZER_DIR): ModelFolder {
  const json = (path: string) => JSON.parse(readFileSync(join(dir, path), 'utf8')) as unknown;
  const weightFiles: Record<string, () => ByteSource> = {
    'unet/diffusion_pytorch_model.safetensors': () => randomSafetensors('unet (random)', expectedUNetWeights(parseUNetConfig(json('unet/config.json') as object)), 1),
    'text_encoder/model.safetensors': () => randomSafetensors('text_encoder (random)', clipTextWeightShapes(parseClipTextConfig(json('text_encoder/config.json') as ClipTextConfig)), 2),
    'vae/diffusion_pytorch_model.safetensors': () => randomSafetensors('vae (random)', vaeDecoderWeightShapes(parseVaeConfig(json('vae/config.json') as AutoencoderKLConfig)), 3),
  };
  const file = (path: string) => (path.startsWith('tokenizer/') ? join(tokenizerDir, path.slice('tokenizer/'.length)) : join(dir, path));
  return {
    name: dir,
    has: async (path) => path in weightFiles || existsSync(file(path)),
    readText: async (path) => readFileSync(file(path), 'utf8'),
    readJson: async <T>(path: string) => parseJsonFile<T>(readFileSync(file(path), 'utf8'), `${dir}/${path}`),
    open: async (path) => {
      const make = weightFiles[path];
      if (!make) throw new Error(`${dir}: no random weights for "${path}"`);
      return make();
    },
  };
}
