import { describe, expect, it } from 'vitest';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { enumerateSites } from '../src/engine/nn/unet-sites';
import { buildSiteTable } from '../src/engine/steering';

// The configs of real checkpoints, as on the hub (fields that matter here).
const SD15 = {
  _class_name: 'UNet2DConditionModel',
  block_out_channels: [320, 640, 1280, 1280],
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 2,
  attention_head_dim: 8,
  cross_attention_dim: 768,
  sample_size: 64,
  in_channels: 4,
  out_channels: 4,
};
const SD2 = { ...SD15, attention_head_dim: [5, 10, 20, 20], cross_attention_dim: 1024, use_linear_projection: true, sample_size: 96 };

describe('UNet config', () => {
  it('reads attention_head_dim as the number of heads, per block when it is a list (diffusers quirk)', () => {
    expect(parseUNetConfig(SD15).down.map((b) => b.heads)).toEqual([8, 8, 8, 8]);
    const sd2 = parseUNetConfig(SD2);
    expect(sd2.down.map((b) => b.heads)).toEqual([5, 10, 20, 20]);
    expect(sd2.up.map((b) => b.heads)).toEqual([20, 20, 10, 5]);
    expect(sd2.mid?.heads).toBe(20);
    expect(sd2.useLinearProjection).toBe(true);
  });

  it('resolves up blocks as diffusers does: reversed channels, layers_per_block + 1 resnets', () => {
    const c = parseUNetConfig(SD15);
    expect(c.up.map((b) => [b.prevOutChannels, b.outChannels, b.inChannels, b.layers])).toEqual([
      [1280, 1280, 1280, 3],
      [1280, 1280, 640, 3],
      [1280, 640, 320, 3],
      [640, 320, 320, 3],
    ]);
    expect(c.timeEmbedDim).toBe(1280);
  });

  it('takes transformer_layers_per_block as an int or a list, reversed for the up blocks', () => {
    const c = parseUNetConfig({ ...SD2, transformer_layers_per_block: [1, 2, 3, 4] });
    expect(c.down.map((b) => b.transformerLayers)).toEqual([1, 2, 3, 4]);
    expect(c.up.map((b) => b.transformerLayers)).toEqual([4, 3, 2, 1]);
    expect(c.mid?.transformerLayers).toBe(4);
  });

  it('supports a UNet without a mid block (BK-SDM)', () => {
    expect(parseUNetConfig({ ...SD15, mid_block_type: null, layers_per_block: 1 }).mid).toBeNull();
  });

  it('refuses unsupported fields by name', () => {
    expect(() => parseUNetConfig({ ...SD15, class_embed_type: 'timestep' })).toThrow(/class_embed_type/);
    expect(() => parseUNetConfig({ ...SD15, down_block_types: ['SimpleCrossAttnDownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D'] })).toThrow(/down_block_types/);
    expect(() => parseUNetConfig({ ...SD15, attention_head_dim: [8, 8] })).toThrow(/attention_head_dim/);
    expect(() => parseUNetConfig({ ...SD15, resnet_time_scale_shift: 'scale_shift' })).toThrow(/resnet_time_scale_shift/);
    expect(() => parseUNetConfig({ ...SD15, addition_embed_type: 'text_time' })).toThrow(/addition_embed_type/);
    expect(() => parseUNetConfig('nope')).toThrow(/JSON object/);
  });
});

describe('attention sites', () => {
  const sites = enumerateSites(parseUNetConfig(SD15));

  it('lists every attn1 and attn2 of SD 1.5 with diffusers paths and ComfyUI block names', () => {
    expect(sites).toHaveLength(32); // 16 transformer blocks × (attn1, attn2)
    expect(sites[0]).toMatchObject({ path: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1', comfyBlock: 'input_blocks.1', part: 'input', resolution: '64×64' });
    expect(sites.find((s) => s.path === 'down_blocks.1.attentions.1.transformer_blocks.0.attn2')?.comfyBlock).toBe('input_blocks.5');
    expect(sites.find((s) => s.path.startsWith('mid_block'))?.comfyBlock).toBe('middle_block');
    // SD 1.5's first cross-attention up block is up_blocks.1, whose resnets are output_blocks 3, 4, 5.
    expect(sites.find((s) => s.path === 'up_blocks.1.attentions.0.transformer_blocks.0.attn1')?.comfyBlock).toBe('output_blocks.3');
    expect(sites.find((s) => s.path === 'up_blocks.3.attentions.2.transformer_blocks.0.attn2')).toMatchObject({ comfyBlock: 'output_blocks.11', resolution: '64×64' });
  });

  it('turns rules into a table of q, k, v, out per site: by kind, part, path or ComfyUI block; overlaps multiply', () => {
    const table = buildSiteTable(sites, {
      rules: [
        { kind: 'attn1', target: { all: true }, multipliers: { q: 2, k: 1, v: 1, out: 1 } },
        { kind: 'attn1', target: { part: 'middle' }, multipliers: { q: 3, k: 1, v: 0.5, out: 1 } },
        { kind: 'attn2', target: { path: 'output_blocks.3' }, multipliers: { q: 1, k: 1, v: 1, out: 0 } },
      ],
    });
    const at = (path: string) => Array.from(table.slice(sites.find((s) => s.path === path)!.index * 4, sites.find((s) => s.path === path)!.index * 4 + 4));
    expect(at('down_blocks.0.attentions.0.transformer_blocks.0.attn1')).toEqual([2, 1, 1, 1]);
    expect(at('mid_block.attentions.0.transformer_blocks.0.attn1')).toEqual([6, 1, 0.5, 1]);
    expect(at('up_blocks.1.attentions.0.transformer_blocks.0.attn2')).toEqual([1, 1, 1, 0]);
    expect(at('up_blocks.1.attentions.1.transformer_blocks.0.attn2')).toEqual([1, 1, 1, 1]);
  });
});

describe('expected UNet weights', () => {
  it('lists every tensor of the fixture checkpoint with its shape, and nothing else', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { expectedUNetWeights, checkUNetWeights } = await import('../src/engine/nn/unet-weights');
    const { fixturesDir } = await import('../scripts/golden/fixtures-dir');
    const dir = join(fixturesDir(), 'unet-sd15-tiny');
    const bytes = readFileSync(join(dir, 'diffusion_pytorch_model.safetensors'));
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { shape: number[] }>;
    const actual = new Map(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([k, v]) => [k, v.shape]));
    const expected = expectedUNetWeights(parseUNetConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))));
    expect(checkUNetWeights(expected, actual)).toEqual([]);
    expect([...actual.keys()].filter((k) => !expected.has(k))).toEqual([]);
  });

  it('counts SD 1.5 at 859.5M parameters, as published', async () => {
    const { expectedUNetWeights } = await import('../src/engine/nn/unet-weights');
    const params = [...expectedUNetWeights(parseUNetConfig(SD15)).values()].reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
    expect(params).toBe(859520964);
  });
});

describe('loading a UNet checkpoint', () => {
  it('refuses a checkpoint that does not match its config, naming the tensors, before uploading anything', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { fixturesDir } = await import('../scripts/golden/fixtures-dir');
    const { memoryModelFolder } = await import('../src/engine/weights/model-folder');
    const { UNet } = await import('../src/engine/nn/unet');
    const { testGpu } = await import('./support/gpu');
    const dir = join(fixturesDir(), 'unet-sd15-tiny');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const folder = memoryModelFolder('mismatched', {
      'config.json': JSON.stringify({ ...config, cross_attention_dim: 48 }),
      'diffusion_pytorch_model.safetensors': new Uint8Array(readFileSync(join(dir, 'diffusion_pytorch_model.safetensors'))),
    });
    await expect(UNet.load(await testGpu(), folder)).rejects.toThrow(/attn2\.to_k\.weight is \[32, 32\], the config needs \[32, 48\]/);
  });
});

describe('UNet config values outside what any checkpoint uses are refused by name', () => {
  const cases: [string, object, string][] = [
    ['in_channels = 1e308', { in_channels: 1e308 }, 'in_channels = 1e+308 must be a positive integer up to 64'],
    ['out_channels = 2^31', { out_channels: 2 ** 31 }, 'out_channels = 2147483648 must be a positive integer up to 64'],
    ['layers_per_block = 2^31', { layers_per_block: 2 ** 31 }, 'layers_per_block = 2147483648 must be a positive integer up to 16'],
    ['norm_eps = 0', { norm_eps: 0 }, 'norm_eps = 0 must lie between 0 and 1'],
    ['norm_eps = -1', { norm_eps: -1 }, 'norm_eps = -1 must lie between 0 and 1'],
    ['sample_size = -64', { sample_size: -64 }, 'sample_size = -64 must be a positive integer'],
    ['sample_size = 1.5', { sample_size: 1.5 }, 'sample_size = 1.5 must be a positive integer'],
    // Blamed on the field that is wrong, not on attention_head_dim, which is checked after it.
    ['block_out_channels = 1e308', { block_out_channels: [1e308, 640, 1280, 1280] }, 'block_out_channels = [1e+308,640,1280,1280] must be a positive integer up to 8192'],
    ['cross_attention_dim = 1e9', { cross_attention_dim: 1e9 }, 'cross_attention_dim = 1000000000 must be a positive integer up to 8192'],
    ['heads = 10^6', { attention_head_dim: 1e6 }, 'attention_head_dim = 1000000 must be a positive integer up to 256'],
  ];
  for (const [what, patch, message] of cases) {
    it(what, () => {
      expect(() => parseUNetConfig({ ...SD15, ...patch })).toThrow(message);
    });
  }
});
