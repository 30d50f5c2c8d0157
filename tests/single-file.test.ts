// Single-file checkpoints (original LDM layout): the name maps, detection and config inference from
// headers, refusals, the virtual safetensors files, and f16/bf16 weights. No GPU: the golden test
// (tests/golden.test.ts) runs the fixtures' UNet, text encoder and VAE against diffusers.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { expectedUNetWeights } from '../src/engine/nn/unet-weights';
import { bytesSource, type ByteSource } from '../src/engine/weights/byte-source';
import { detectCheckpoint, inferUNetConfig, UNET_PREFIX } from '../src/engine/weights/checkpoint-detect';
import { ldmUNetNameMap, ldmVaeName, openClipName } from '../src/engine/weights/ldm-names';
import { nodeFileSource } from '../src/engine/weights/node-byte-source';
import { encodeSafetensors, parseSafetensorsHeader, readAllF32, readTensorF32, type SafetensorsHeader } from '../src/engine/weights/safetensors';
import { inspectCheckpoint, openClipVirtualTensors, singleFileModelFolder } from '../src/engine/weights/single-file';
import { virtualSafetensors } from '../src/engine/weights/virtual-safetensors';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const shared = resolve(repoRoot, process.env.FIXTURES_DIR ?? '../shared/fixtures');
const sd15Single = join(shared, 'unet-sd15-single-file-tiny');
const sd2Single = join(repoRoot, 'tests/fixtures/sd2-single-file-tiny');
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

const SD15_UNET = {
  block_out_channels: [320, 640, 1280, 1280],
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 2,
  attention_head_dim: 8,
  cross_attention_dim: 768,
};
const SD2_UNET = { ...SD15_UNET, attention_head_dim: [5, 10, 20, 20], cross_attention_dim: 1024, use_linear_projection: true };
const BK_SDM_SMALL_UNET = { ...SD15_UNET, layers_per_block: 1, mid_block_type: null };

type Entry = [name: string, shape: number[]];

/** The LDM tensors of a UNet of `config` (via our map; the fixtures check the map against diffusers' converter). */
function ldmUNetEntries(configJson: Record<string, unknown>, inChannels = 4): Entry[] {
  const config = parseUNetConfig(configJson);
  const shapes = expectedUNetWeights(config);
  return [...ldmUNetNameMap(config)].map(([d, ldm]) => {
    const shape = [...shapes.get(d)!];
    if (ldm === 'input_blocks.0.0.weight') shape[1] = inChannels;
    return [UNET_PREFIX + ldm, shape];
  });
}

function clipEntries(hidden: number, layers: number): Entry[] {
  const p = 'cond_stage_model.transformer.text_model.';
  const entries: Entry[] = [[`${p}embeddings.token_embedding.weight`, [49408, hidden]], [`${p}embeddings.position_embedding.weight`, [77, hidden]]];
  for (let i = 0; i < layers; i++) entries.push([`${p}encoder.layers.${i}.mlp.fc1.weight`, [hidden * 4, hidden]]);
  return entries;
}

function openClipEntries(hidden: number, layers: number): Entry[] {
  const p = 'cond_stage_model.model.';
  const entries: Entry[] = [[`${p}token_embedding.weight`, [49408, hidden]], [`${p}positional_embedding`, [77, hidden]], [`${p}ln_final.weight`, [hidden]], [`${p}ln_final.bias`, [hidden]]];
  for (let i = 0; i < layers; i++) {
    entries.push([`${p}transformer.resblocks.${i}.attn.in_proj_weight`, [3 * hidden, hidden]], [`${p}transformer.resblocks.${i}.mlp.c_fc.weight`, [hidden * 4, hidden]]);
  }
  return entries;
}

/**
 * A safetensors file of `entries` whose data reads as zeros (or `values` for the named tensors)
 * without being held: an SD-sized checkpoint in a few KB of memory.
 */
function sparseCheckpoint(name: string, entries: Entry[], values: Record<string, Float32Array> = {}, metadata?: Record<string, string>): ByteSource {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  const ranges = new Map<string, [number, number]>();
  for (const [tensor, shape] of entries) {
    const dtype = values[tensor] ? 'F32' : 'F16';
    const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2);
    header[tensor] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    ranges.set(tensor, [offset, offset + bytes]);
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = 8 + json.byteLength;
  const head = new Uint8Array(start);
  new DataView(head.buffer).setUint32(0, json.byteLength, true);
  head.set(json, 8);
  return {
    name,
    size: start + offset,
    async read(at, length) {
      const out = new Uint8Array(length);
      if (at < start) out.set(head.subarray(at, Math.min(start, at + length)));
      for (const [tensor, data] of Object.entries(values)) {
        const [a] = ranges.get(tensor)!;
        const bytes = new Uint8Array(data.buffer);
        const from = Math.max(at, start + a);
        const to = Math.min(at + length, start + a + bytes.byteLength);
        if (from < to) out.set(bytes.subarray(from - start - a, to - start - a), from - at);
      }
      return out;
    },
  };
}

function headerOf(entries: Entry[], file = 'model.safetensors'): SafetensorsHeader {
  const tensors = entries.map(([name, shape], i) => ({ name, dtype: 'F16', shape, begin: i, end: i + 1 }));
  return { file, tensors, byName: new Map(tensors.map((t) => [t.name, t])), metadata: {}, dataStart: 8 };
}

const vaeEntries: Entry[] = [['first_stage_model.decoder.conv_in.weight', [512, 4, 3, 3]]];

describe('the LDM → diffusers name map', () => {
  it.skipIf(!existsSync(sd15Single))('maps every UNet tensor of diffusers-converted SD 1.x and SD 2.x files, one to one', async () => {
    for (const dir of [sd15Single, sd2Single]) {
      const header = await parseSafetensorsHeader(await nodeFileSource(join(dir, 'model.safetensors')));
      const map = ldmUNetNameMap(parseUNetConfig(readJson(join(dir, 'config.json'))));
      const inFile = header.tensors.filter((t) => t.name.startsWith(UNET_PREFIX)).map((t) => t.name.slice(UNET_PREFIX.length));
      expect(new Set(map.values()).size).toBe(map.size);
      expect([...map.values()].sort()).toEqual(inFile.sort());
    }
  });

  it.skipIf(!existsSync(sd15Single))('gives the diffusers checkpoints the SD 1.x fixture was converted from, value for value', async () => {
    // In memory: a node file source opens the file on every read, and this reads 1340 tensors.
    const inMemory = (path: string) => bytesSource(path, readFileSync(path));
    const folder = await singleFileModelFolder(inMemory(join(sd15Single, 'model.safetensors')), { config: { unet: readJson(join(sd15Single, 'config.json')) } });
    for (const [virtual, reference] of [
      ['unet/diffusion_pytorch_model.safetensors', 'unet-sd15-tiny/diffusion_pytorch_model.safetensors'],
      ['text_encoder/model.safetensors', 'clip-text-tiny/model.safetensors'],
      ['vae/diffusion_pytorch_model.safetensors', 'vae-kl-tiny/diffusion_pytorch_model.safetensors'],
    ]) {
      const a = await folder.open(virtual);
      const b = inMemory(join(shared, reference));
      const [mapped, expected] = [await readAllF32(a), await readAllF32(b)];
      expect([...mapped.keys()].sort(), virtual).toEqual([...expected.keys()].sort());
      // A loop, not toEqual per tensor: vitest's deep equality is slow on large typed arrays.
      const differing = [...expected].filter(([name, t]) => {
        const m = mapped.get(name)!;
        return m.shape.join() !== t.shape.join() || m.data.some((x, i) => x !== t.data[i]);
      });
      expect(differing.map(([name]) => name), virtual).toEqual([]);
    }
  });

  it('splits OpenCLIP in_proj into q, k, v and renames the rest of a resblock', () => {
    expect(openClipName('transformer.resblocks.3.attn.in_proj_weight')?.names).toEqual(['q_proj', 'k_proj', 'v_proj'].map((p) => `text_model.encoder.layers.3.self_attn.${p}.weight`));
    expect(openClipName('transformer.resblocks.0.mlp.c_fc.bias')?.names).toEqual(['text_model.encoder.layers.0.mlp.fc1.bias']);
    expect(openClipName('positional_embedding')?.names).toEqual(['text_model.embeddings.position_embedding.weight']);
    expect(openClipName('text_projection')).toBeUndefined();
  });

  it('reverses the VAE decoder levels and reads the 1×1 attention convolutions as linear weights', () => {
    expect(ldmVaeName('decoder.up.3.block.2.nin_shortcut.weight', [128, 256, 1, 1], 4)).toEqual({ name: 'decoder.up_blocks.0.resnets.2.conv_shortcut.weight' });
    expect(ldmVaeName('decoder.up.0.upsample.conv.bias', [128], 4)).toEqual({ name: 'decoder.up_blocks.3.upsamplers.0.conv.bias' });
    expect(ldmVaeName('decoder.mid.attn_1.proj_out.weight', [512, 512, 1, 1], 4)).toEqual({ name: 'decoder.mid_block.attentions.0.to_out.0.weight', shape: [512, 512] });
    expect(ldmVaeName('loss.discriminator.main.0.weight', [64, 3, 4, 4], 4)).toBeUndefined();
  });
});

describe('detection and config inference from keys and shapes', () => {
  it('recognises SD 1.x and infers its diffusers config', () => {
    const d = detectCheckpoint(headerOf([...ldmUNetEntries(SD15_UNET), ...clipEntries(768, 12), ...vaeEntries]));
    expect(d.refusal).toBeUndefined();
    expect(d.family).toBe('sd1');
    const inferred = inferUNetConfig(headerOf(ldmUNetEntries(SD15_UNET)).byName, 'clip');
    expect(inferred).toMatchObject({ config: { ...SD15_UNET, use_linear_projection: false, mid_block_type: 'UNetMidBlock2DCrossAttn', norm_num_groups: 32 } });
  });

  it('recognises SD 2.x (OpenCLIP, linear projections, 64 channels per head) and guesses SD-Turbo only from a hint', () => {
    const entries = [...ldmUNetEntries(SD2_UNET), ...openClipEntries(1024, 24), ...vaeEntries];
    const d = detectCheckpoint(headerOf(entries));
    expect(d.family).toBe('sd2');
    expect(d.predictionProbe).toBe(`${UNET_PREFIX}output_blocks.11.1.transformer_blocks.0.norm1.bias`);
    expect(inferUNetConfig(headerOf(entries).byName, 'openclip')).toMatchObject({ config: { attention_head_dim: [5, 10, 20, 20], cross_attention_dim: 1024, use_linear_projection: true } });
    const turbo = detectCheckpoint(headerOf(entries, 'sd_turbo.safetensors'));
    expect(turbo.family).toBe('sd-turbo');
    expect(turbo.notes.join(' ')).toMatch(/cannot be told from it by its weights/);
  });

  it('recognises BK-SDM without a mid block and with one resnet per level', () => {
    const d = detectCheckpoint(headerOf([...ldmUNetEntries(BK_SDM_SMALL_UNET), ...clipEntries(768, 12), ...vaeEntries]));
    expect(d.family).toBe('bk-sdm');
    expect(d.description).toMatch(/no mid block/);
    expect(inferUNetConfig(headerOf(ldmUNetEntries(BK_SDM_SMALL_UNET)).byName, 'clip')).toMatchObject({ config: { layers_per_block: 1, mid_block_type: null } });
  });

  it.skipIf(!existsSync(sd15Single))('infers the tiny fixtures’ structure (heads and norm groups need their config.json)', async () => {
    for (const [dir, kind] of [[sd15Single, 'clip'], [sd2Single, 'openclip']] as const) {
      const header = await parseSafetensorsHeader(await nodeFileSource(join(dir, 'model.safetensors')));
      const given = readJson(join(dir, 'config.json'));
      const inferred = inferUNetConfig(header.byName, kind) as { config: Record<string, unknown> };
      for (const field of ['block_out_channels', 'down_block_types', 'up_block_types', 'layers_per_block', 'cross_attention_dim', 'use_linear_projection', 'mid_block_type']) {
        expect(inferred.config[field], `${dir} ${field}`).toEqual(given[field]);
      }
    }
  });

  const base = [...ldmUNetEntries(SD15_UNET), ...clipEntries(768, 12), ...vaeEntries];
  it.each([
    ['SDXL', [...base, ['conditioner.embedders.1.model.transformer.resblocks.0.mlp.c_fc.weight', [5120, 1280]] as Entry], /SDXL.*conditioner\.embedders/],
    ['SDXL by label_emb', [...base, [`${UNET_PREFIX}label_emb.0.0.weight`, [1280, 2816]] as Entry], /SDXL.*2816 inputs/],
    ['unCLIP', [...base, [`${UNET_PREFIX}label_emb.0.0.weight`, [1280, 1024]] as Entry], /unCLIP/],
    ['SD3', [[`${UNET_PREFIX}joint_blocks.0.context_block.attn.qkv.weight`, [4608, 1536]] as Entry], /Stable Diffusion 3.*joint_blocks/],
    ['Flux', [['double_blocks.0.img_attn.norm.key_norm.scale', [128]] as Entry], /Flux.*double_blocks/],
    ['an inpainting UNet', [...ldmUNetEntries(SD15_UNET, 9), ...clipEntries(768, 12)], /inpainting UNet \(9 input channels/],
    ['a LoRA', [['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight', [4, 320, 1, 1]] as Entry], /LoRA file/],
    ['a VAE alone', vaeEntries, /no UNet/],
  ])('refuses %s, naming what it found', (_, entries, message) => {
    const d = detectCheckpoint(headerOf(entries));
    expect(d.refusal).toMatch(message);
    expect(d.refusal).toMatch(/^model\.safetensors: /);
  });

  it('refuses pickle checkpoints by name and by their first bytes, asking for safetensors', async () => {
    const zip = bytesSource('model.safetensors', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0, 0, 0]));
    const pickle = bytesSource('download', new Uint8Array([0x80, 0x02, 0x63, 0x63, 0x6f, 0x6c, 0x6c, 0x65, 0x63]));
    await expect(singleFileModelFolder(bytesSource('v1-5-pruned.ckpt', new Uint8Array(16)))).rejects.toThrow(/v1-5-pruned\.ckpt: a \.ckpt file is a PyTorch pickle.*safetensors/);
    await expect(singleFileModelFolder(zip)).rejects.toThrow(/model\.safetensors: .*ZIP archive.*pickle.*\.safetensors/);
    await expect(inspectCheckpoint(pickle)).rejects.toThrow(/download: .*Python pickle.*\.safetensors/);
  });
});

describe('a single file as a diffusers folder', () => {
  it('sets the family defaults and the prediction-type guess (ComfyUI: std of the probe > 0.09)', async () => {
    const sd2 = [...ldmUNetEntries(SD2_UNET), ...openClipEntries(1024, 24), ...vaeEntries, ['first_stage_model.decoder.conv_out.weight', [3, 128, 3, 3]] as Entry];
    for (let i = 0; i < 4; i++) sd2.push([`first_stage_model.decoder.up.${i}.block.0.conv2.weight`, [[128, 256, 512, 512][i], [128, 256, 512, 512][i], 3, 3]]);
    const probe = `${UNET_PREFIX}output_blocks.11.1.transformer_blocks.0.norm1.bias`;
    const wide = Float32Array.from({ length: 320 }, (_, i) => (i % 2 ? 0.2 : -0.2));
    const v = await singleFileModelFolder(sparseCheckpoint('sd21.safetensors', sd2, { [probe]: wide }));
    const lab = (await v.readJson<{ attention_lab: Record<string, unknown> }>('model_index.json')).attention_lab;
    expect(lab).toMatchObject({ family: 'sd2', width: 768, height: 768, prediction_type: 'v_prediction', prediction_type_guessed: true, clip_skip: true, defaults: { sampler: 'dpmpp2m', steps: 20, cfg: 7 } });
    expect(await v.readJson('scheduler/scheduler_config.json')).toMatchObject({ prediction_type: 'v_prediction' });
    expect(await v.readJson('tokenizer/special_tokens_map.json')).toMatchObject({ pad_token: '!' });

    const eps = await singleFileModelFolder(sparseCheckpoint('sd21-base.safetensors', sd2, { [probe]: wide.map((x) => x / 10) }));
    expect(eps.prediction).toMatchObject({ type: 'epsilon', guessed: true });
    const chosen = await singleFileModelFolder(sparseCheckpoint('sd21-base.safetensors', sd2, { [probe]: wide }), { predictionType: 'epsilon' });
    expect(chosen.prediction).toEqual({ type: 'epsilon', guessed: false, evidence: 'chosen' });

    const turbo = await singleFileModelFolder(sparseCheckpoint('sd_turbo.safetensors', sd2, { [probe]: wide.map((x) => x / 10) }));
    expect((await turbo.readJson<{ attention_lab: unknown }>('model_index.json')).attention_lab).toMatchObject({ family: 'sd-turbo', width: 512, defaults: { sampler: 'euler', steps: 1, cfg: 1 } });
    expect(await turbo.readJson('scheduler/scheduler_config.json')).toMatchObject({ timestep_spacing: 'trailing', prediction_type: 'epsilon' });
  });

  it.skipIf(!existsSync(sd15Single))('takes a standalone VAE, in the LDM layout or with diffusers names', async () => {
    const checkpoint = await nodeFileSource(join(sd15Single, 'model.safetensors'));
    const header = await parseSafetensorsHeader(checkpoint);
    const vaeOnly = header.tensors.filter((t) => t.name.startsWith('first_stage_model.')).map((t) => ({ ...t, name: t.name.slice('first_stage_model.'.length) }));
    const ldmVae = virtualSafetensors('vae-ft-mse.safetensors', checkpoint, vaeOnly);
    const diffusersVae = await nodeFileSource(join(shared, 'vae-kl-tiny/diffusion_pytorch_model.safetensors'));
    const config = { unet: readJson(join(sd15Single, 'config.json')) };
    for (const vae of [ldmVae, diffusersVae]) {
      const folder = await singleFileModelFolder(checkpoint, { vae, config });
      const mapped = await folder.open('vae/diffusion_pytorch_model.safetensors');
      const h = await parseSafetensorsHeader(mapped);
      const t = h.byName.get('decoder.up_blocks.0.resnets.0.conv1.weight')!;
      const expected = (await parseSafetensorsHeader(diffusersVae)).byName.get(t.name)!;
      expect(await readTensorF32(mapped, t)).toEqual(await readTensorF32(diffusersVae, expected));
    }
  });
});

describe('virtual safetensors', () => {
  const parts = [
    { name: 'a', shape: [2, 3], data: Float32Array.from({ length: 6 }, (_, i) => i) },
    { name: 'gap', shape: [5], data: new Float32Array(5).fill(-1) },
    { name: 'packed', shape: [6, 2], data: Float32Array.from({ length: 12 }, (_, i) => 100 + i) },
  ];

  it('reads renamed tensors and row slices of the source, merging neighbours into one source read', async () => {
    const bytes = encodeSafetensors(parts);
    const reads: [number, number][] = [];
    const plain = bytesSource('orig.safetensors', bytes);
    const source: ByteSource = { name: plain.name, size: plain.size, read: (at, n) => (reads.push([at, n]), plain.read(at, n)) };
    const h = await parseSafetensorsHeader(plain);
    const a = h.byName.get('a')!;
    const packed = h.byName.get('packed')!;
    const third = (packed.end - packed.begin) / 3;
    const file = virtualSafetensors('virtual.safetensors', source, [
      { name: 'v', dtype: 'F32', shape: [2, 2], begin: packed.begin + 2 * third, end: packed.end },
      { name: 'q', dtype: 'F32', shape: [2, 2], begin: packed.begin, end: packed.begin + third },
      { name: 'k', dtype: 'F32', shape: [2, 2], begin: packed.begin + third, end: packed.begin + 2 * third },
      { name: 'renamed', dtype: 'F32', shape: [6], begin: a.begin, end: a.end },
    ]);
    const vh = await parseSafetensorsHeader(file);
    expect(vh.tensors.map((t) => t.name)).toEqual(['renamed', 'q', 'k', 'v']);
    expect([...(await readTensorF32(file, vh.byName.get('renamed')!))]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...(await readTensorF32(file, vh.byName.get('k')!))]).toEqual([104, 105, 106, 107]);
    reads.length = 0;
    const q = vh.byName.get('q')!;
    const v = vh.byName.get('v')!;
    await file.read(q.begin, v.end - q.begin);
    expect(reads).toEqual([[packed.begin, packed.end - packed.begin]]);
    // Any range, across the header and the gap, equals the materialised file.
    const whole = await file.read(0, file.size);
    for (const [at, n] of [[3, 20], [vh.dataStart - 4, 30], [q.begin - 5, 17], [file.size - 1, 1]]) expect(await file.read(at, n)).toEqual(whole.subarray(at, at + n));
    await expect(file.read(file.size - 2, 4)).rejects.toThrow(RangeError);
  });

  it('keeps f16 and bf16 weights as they are stored (the q/k/v split too)', async () => {
    const hidden = 4;
    const values = Float32Array.from({ length: 3 * hidden * hidden }, (_, i) => (i - 20) / 8);
    const halves = new Uint16Array(values.length);
    const bf16 = new Uint16Array(values.length);
    const bits = new Uint32Array(values.buffer);
    for (let i = 0; i < values.length; i++) {
      bf16[i] = bits[i] >>> 16; // exact: these values need at most 8 significant bits
      halves[i] = f16Bits(values[i]);
    }
    for (const [dtype, data] of [['F16', halves], ['BF16', bf16]] as const) {
      const entries = [
        ['cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight', [3 * hidden, hidden]],
        ['cond_stage_model.model.token_embedding.weight', [10, hidden]],
      ] as const;
      const file = encodeSafetensors(entries.map(([name, shape]) => ({ name, shape, dtype, data: name.endsWith('in_proj_weight') ? new Uint8Array(data.buffer) : new Uint8Array(10 * hidden * 2) })));
      const source = bytesSource('m.safetensors', file);
      const header = await parseSafetensorsHeader(source);
      const mapped = virtualSafetensors('te.safetensors', source, openClipVirtualTensors(header));
      const mh = await parseSafetensorsHeader(mapped);
      const k = mh.byName.get('text_model.encoder.layers.0.self_attn.k_proj.weight')!;
      expect(k.dtype).toBe(dtype);
      expect(k.shape).toEqual([hidden, hidden]);
      expect([...(await readTensorF32(mapped, k))]).toEqual([...values.subarray(hidden * hidden, 2 * hidden * hidden)]);
    }
  });
});

/** f16 bits of a value that f16 holds exactly (the test's values are multiples of 1/8 below 8). */
function f16Bits(x: number): number {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}
