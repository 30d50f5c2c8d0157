// The tensors a diffusers UNet2DConditionModel of a given config holds, by hub key and shape
// (mirrors unet_2d_condition.py / unet_2d_blocks.py / resnet.py / attention.py). Used to check a
// checkpoint against its config before anything is recorded, and to make random weights in place
// for benchmarks.
import type { UNetConfig } from './unet-config';

export type WeightShapes = Map<string, number[]>;

export function expectedUNetWeights(c: UNetConfig): WeightShapes {
  const shapes: WeightShapes = new Map();
  const add = (name: string, shape: number[]) => shapes.set(name, shape);
  const linear = (p: string, out: number, inp: number, bias = true) => {
    add(`${p}.weight`, [out, inp]);
    if (bias) add(`${p}.bias`, [out]);
  };
  const conv = (p: string, out: number, inp: number, k: number) => {
    add(`${p}.weight`, [out, inp, k, k]);
    add(`${p}.bias`, [out]);
  };
  const norm = (p: string, ch: number) => {
    add(`${p}.weight`, [ch]);
    add(`${p}.bias`, [ch]);
  };
  const T = c.timeEmbedDim;
  const resnet = (p: string, inp: number, out: number) => {
    norm(`${p}.norm1`, inp);
    conv(`${p}.conv1`, out, inp, 3);
    linear(`${p}.time_emb_proj`, out, T);
    norm(`${p}.norm2`, out);
    conv(`${p}.conv2`, out, out, 3);
    if (inp !== out) conv(`${p}.conv_shortcut`, out, inp, 1);
  };
  const transformer = (p: string, ch: number, layers: number) => {
    norm(`${p}.norm`, ch);
    const proj = (name: string) => (c.useLinearProjection ? linear(`${p}.${name}`, ch, ch) : conv(`${p}.${name}`, ch, ch, 1));
    proj('proj_in');
    for (let t = 0; t < layers; t++) {
      const b = `${p}.transformer_blocks.${t}`;
      for (const n of ['norm1', 'norm2', 'norm3']) norm(`${b}.${n}`, ch);
      for (const [attn, kvDim] of [['attn1', ch], ['attn2', c.crossAttentionDim]] as const) {
        linear(`${b}.${attn}.to_q`, ch, ch, false);
        linear(`${b}.${attn}.to_k`, ch, kvDim, false);
        linear(`${b}.${attn}.to_v`, ch, kvDim, false);
        linear(`${b}.${attn}.to_out.0`, ch, ch);
      }
      linear(`${b}.ff.net.0.proj`, ch * 8, ch); // GEGLU: hidden and gate, 4·ch each
      linear(`${b}.ff.net.2`, ch, ch * 4);
    }
    proj('proj_out');
  };

  const C0 = c.blockOutChannels[0];
  conv('conv_in', C0, c.inChannels, 3);
  linear('time_embedding.linear_1', T, C0);
  linear('time_embedding.linear_2', T, T);
  c.down.forEach((block, i) => {
    for (let j = 0; j < block.layers; j++) {
      resnet(`down_blocks.${i}.resnets.${j}`, j === 0 ? block.inChannels : block.outChannels, block.outChannels);
      if (block.hasCrossAttention) transformer(`down_blocks.${i}.attentions.${j}`, block.outChannels, block.transformerLayers);
    }
    if (block.resample) conv(`down_blocks.${i}.downsamplers.0.conv`, block.outChannels, block.outChannels, 3);
  });
  if (c.mid) {
    resnet('mid_block.resnets.0', c.mid.channels, c.mid.channels);
    transformer('mid_block.attentions.0', c.mid.channels, c.mid.transformerLayers);
    resnet('mid_block.resnets.1', c.mid.channels, c.mid.channels);
  }
  c.up.forEach((block, i) => {
    for (let j = 0; j < block.layers; j++) {
      const skip = j === block.layers - 1 ? block.inChannels : block.outChannels;
      const input = j === 0 ? block.prevOutChannels! : block.outChannels;
      resnet(`up_blocks.${i}.resnets.${j}`, input + skip, block.outChannels);
      if (block.hasCrossAttention) transformer(`up_blocks.${i}.attentions.${j}`, block.outChannels, block.transformerLayers);
    }
    if (block.resample) conv(`up_blocks.${i}.upsamplers.0.conv`, block.outChannels, block.outChannels, 3);
  });
  norm('conv_norm_out', C0);
  conv('conv_out', c.outChannels, C0, 3);
  return shapes;
}

/** Differences between a checkpoint's tensors and the config's, for one clear error message. */
export function checkUNetWeights(expected: WeightShapes, actual: Map<string, readonly number[]>): string[] {
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const got = actual.get(name);
    if (!got) problems.push(`missing ${name} [${shape.join(', ')}]`);
    else if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) problems.push(`${name} is [${got.join(', ')}], the config needs [${shape.join(', ')}]`);
  }
  return problems;
}
