// The attention sites of a UNet, with both of their names, and the per-site table the attention
// kernels read (q, k, v, out factors). Which sites a target names, and what goes in the table, are
// steering's (src/engine/steering): both backends fill it there the same way.
//
// diffusers path:  down_blocks.1.attentions.0.transformer_blocks.0.attn1
// ComfyUI block:   input_blocks.4   (ldm layout: input_blocks.0 is conv_in, then one block per
//                  resnet(+attention) and one per downsampler; middle_block; output_blocks, one per
//                  up-block resnet(+attention)(+upsampler))
import type { AttentionKind, AttentionSite, UNetPart } from '../api';
import type { UNetConfig } from './unet-config';

export function enumerateSites(config: UNetConfig): AttentionSite[] {
  const sites: AttentionSite[] = [];
  const size = config.sampleSize;
  const resolution = (level: number) => (size ? `${size >> level}×${size >> level}` : `1/${2 ** level}`);
  const addTransformer = (path: string, layers: number, comfyBlock: string, part: UNetPart, level: number) => {
    for (let t = 0; t < layers; t++) {
      for (const kind of ['attn1', 'attn2'] as const) {
        sites.push({ index: sites.length, kind, path: `${path}.transformer_blocks.${t}.${kind}`, comfyBlock, part, resolution: resolution(level) });
      }
    }
  };

  let inputBlock = 1;
  config.down.forEach((block, i) => {
    for (let j = 0; j < block.layers; j++) {
      if (block.hasCrossAttention) addTransformer(`down_blocks.${i}.attentions.${j}`, block.transformerLayers, `input_blocks.${inputBlock}`, 'input', i);
      inputBlock++;
    }
    if (block.resample) inputBlock++;
  });
  const deepest = config.down.length - 1;
  if (config.mid) addTransformer('mid_block.attentions.0', config.mid.transformerLayers, 'middle_block', 'middle', deepest);
  let outputBlock = 0;
  config.up.forEach((block, i) => {
    for (let j = 0; j < block.layers; j++) {
      if (block.hasCrossAttention) addTransformer(`up_blocks.${i}.attentions.${j}`, block.transformerLayers, `output_blocks.${outputBlock}`, 'output', deepest - i);
      outputBlock++;
    }
  });
  return sites;
}

export function sitesOfKind(sites: readonly AttentionSite[], kind: AttentionKind): AttentionSite[] {
  return sites.filter((s) => s.kind === kind);
}

/** 4 floats per site: the q, k, v and out factors, in site-index order. */
export type SiteTable = Float32Array;
export const SITE_TABLE_WIDTH = 4;

/** Every factor 1: no control acts. */
export function neutralSiteTable(sites: readonly AttentionSite[]): SiteTable {
  return new Float32Array(Math.max(1, sites.length) * SITE_TABLE_WIDTH).fill(1);
}
