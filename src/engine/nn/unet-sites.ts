// The attention sites of a UNet, with both of their names, and how multiplier rules map onto them.
//
// diffusers path:  down_blocks.1.attentions.0.transformer_blocks.0.attn1
// ComfyUI block:   input_blocks.4   (ldm layout: input_blocks.0 is conv_in, then one block per
//                  resnet(+attention) and one per downsampler; middle_block; output_blocks, one per
//                  up-block resnet(+attention)(+upsampler))
import type { AttentionKind, AttentionSite, MultiplierRule, UNetPart } from '../api';
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

/** Whether `target` (a diffusers path or prefix at a dot boundary, or a ComfyUI block name) names `site`. */
export function pathMatches(site: AttentionSite, target: string): boolean {
  const t = target.trim();
  if (!t) return false;
  return site.path === t || site.path.startsWith(`${t}.`) || site.comfyBlock === t;
}

/** Fills a Float32Array of 4 multipliers (q, k, v, out) per site: 1 everywhere, then each rule
 * multiplies the sites it targets — as chained ComfyUI nodes multiply the same weight twice. */
export function multiplierTable(sites: readonly AttentionSite[], rules: readonly MultiplierRule[]): Float32Array {
  const table = new Float32Array(Math.max(1, sites.length) * 4).fill(1);
  for (const rule of rules) {
    for (const site of sites) {
      if (site.kind !== rule.kind || !ruleTargets(rule, site)) continue;
      const m = rule.multipliers;
      const at = site.index * 4;
      table[at] *= m.q;
      table[at + 1] *= m.k;
      table[at + 2] *= m.v;
      table[at + 3] *= m.out;
    }
  }
  return table;
}

function ruleTargets(rule: MultiplierRule, site: AttentionSite): boolean {
  const target = rule.target;
  if ('all' in target) return true;
  if ('part' in target) return site.part === target.part;
  return pathMatches(site, target.path);
}

export function sitesOfKind(sites: readonly AttentionSite[], kind: AttentionKind): AttentionSite[] {
  return sites.filter((s) => s.kind === kind);
}
