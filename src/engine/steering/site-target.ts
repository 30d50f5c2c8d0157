// Which attention sites a target names: the one matching rule of the engine and the playground.
//   'all' | 'input' | 'middle' | 'output'   every site, or one UNet part (ComfyUI's names)
//   input_blocks.4, middle_block            a ComfyUI block
//   down_blocks.1.attentions.0…attn1        a diffusers module path, or a prefix of one at a dot
//                                            boundary (mid_block, up_blocks.1), as the fixtures' rules
// A link carries parts, ComfyUI blocks and whole module paths only (isLinkTarget); on those, prefix
// and exact matching name the same sites, so links written before prefixes were shared read back alike.
import type { AttentionSite, SiteTarget, UNetPart } from '../api';

/** A target as the page and its link write it. */
export type TargetText = 'all' | UNetPart | string;

export const UNET_PARTS: readonly UNetPart[] = ['input', 'middle', 'output'];

const BLOCK_OR_MODULE = /^(?:(?:input|output)_blocks\.\d{1,2}|middle_block|(?:(?:down|up)_blocks\.\d{1,2}|mid_block)\.attentions\.\d{1,2}\.transformer_blocks\.\d{1,2}\.attn[12])$/;

/** Whether a link may carry `text` as a target: a part, a ComfyUI block or a whole module path. */
export function isLinkTarget(text: string): boolean {
  return text === 'all' || (UNET_PARTS as readonly string[]).includes(text) || BLOCK_OR_MODULE.test(text);
}

export function siteTarget(text: TargetText): SiteTarget {
  if (text === 'all') return { all: true };
  if ((UNET_PARTS as readonly string[]).includes(text)) return { part: text as UNetPart };
  return { path: text };
}

export function siteInTarget(site: AttentionSite, target: SiteTarget | TargetText): boolean {
  const t = typeof target === 'string' ? siteTarget(target) : target;
  if ('all' in t) return true;
  if ('part' in t) return site.part === t.part;
  return pathMatches(site, t.path);
}

/** Whether `path` (a diffusers path or prefix at a dot boundary, or a ComfyUI block name) names `site`. */
export function pathMatches(site: AttentionSite, path: string): boolean {
  const p = path.trim();
  if (!p) return false;
  return site.path === p || site.path.startsWith(`${p}.`) || site.comfyBlock === p;
}
