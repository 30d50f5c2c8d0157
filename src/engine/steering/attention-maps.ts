// Attention maps: a look inside attention rather than a change to it. Choosing a prompt token shows
// its cross-attention over the image (DAAM: every attn2 site, cond item, averaged over heads, steps
// and sites); clicking a point shows where that query attends in one self-attention site (averaged
// over heads, over all steps or at one). Read by probes recorded into the UNet's plan only while a
// map is shown (nn/unet-probes.ts); off, the plan is the plain one.
import type { AttentionMapRequest, AttentionSite } from '../api';
import type { ControlParameter, LinkField, SteeringControl } from './control';
import { readLinkNumber, roundHundredths, shortForNotice } from './link-values';
import { pathMatches } from './site-target';
import { bicubicResize, daamTokenMaps } from './attention-maps-reference';

/** What the page shows over the image: nothing, one token's cross-attention map, or the self-attention map of a point. */
export type MapView = { kind: 'none' } | { kind: 'token'; index: number } | { kind: 'point'; x: number; y: number; site: string };

export interface AttentionMapSettings {
  map: MapView;
  /** The heatmap's opacity over the image, 0–1. */
  mapOpacity: number;
  /** The self-attention map's step: 0 averages all steps, n shows step n (1-based). */
  mapStep: number;
}

/** The default self-attention site: the middle block's first (a prefix; the first attn1 under it). */
export const DEFAULT_MAP_SITE = 'mid_block';
export const MAX_MAP_TOKENS = 77;
const MAX_MAP_STEP = 150;

export const MAP_OPACITY: ControlParameter = {
  id: 'opacity',
  label: 'Opacity',
  explanation: 'How strongly the heatmap covers the image.',
  min: 0,
  max: 1,
  default: 0.6,
  step: 0.05,
  clamp: (value) => roundHundredths(Math.min(1, Math.max(0, value))),
};

/** The attn1 site `site` names (a path, or a prefix: its first attn1), if any. */
export function selfAttentionSiteOf(sites: readonly AttentionSite[], site: string): AttentionSite | undefined {
  return sites.find((s) => s.kind === 'attn1' && pathMatches(s, site));
}

const SITE_TEXT = /^[a-z_]+(?:\.[a-z0-9_]+)*$/;

function parseMap(text: string, notices: string[]): MapView | undefined {
  if (text === 'none') return { kind: 'none' };
  const token = /^token:(\d{1,2})$/.exec(text);
  if (token) {
    const index = Number(token[1]);
    if (index < MAX_MAP_TOKENS) return { kind: 'token', index };
  }
  const point = /^point:([^,@]+),([^,@]+)(?:@(.+))?$/.exec(text);
  if (point) {
    const x = readLinkNumber(point[1], 'map point x', { min: 0, max: 1 }, notices, false);
    const y = readLinkNumber(point[2], 'map point y', { min: 0, max: 1 }, notices, false);
    const site = point[3] ?? DEFAULT_MAP_SITE;
    if (x !== undefined && y !== undefined && SITE_TEXT.test(site) && site.length <= 80) return { kind: 'point', x: roundPoint(x), y: roundPoint(y), site };
  }
  notices.push(`Ignored invalid attention map "${shortForNotice(text)}": expected token:<n>, point:<x>,<y>[@<block>] or none.`);
  return undefined;
}

/** Points are kept to thousandths: what the link writes is what renders. */
export function roundPoint(value: number): number {
  return Math.round(Math.min(1, Math.max(0, value)) * 1000) / 1000;
}

function writeMap(map: MapView): string {
  if (map.kind === 'token') return `token:${map.index}`;
  if (map.kind === 'point') return `point:${map.x},${map.y}${map.site === DEFAULT_MAP_SITE ? '' : `@${map.site}`}`;
  return 'none';
}

const mapField: LinkField<MapView> = {
  key: 'map',
  param: 'map',
  label: 'Attention map',
  default: { kind: 'none' },
  omitAtDefault: true,
  parse: (text, _base, notices) => parseMap(text, notices),
  write: writeMap,
};

const opacityField: LinkField<number> = {
  key: 'mapOpacity',
  param: 'mapo',
  label: 'Map opacity',
  default: MAP_OPACITY.default,
  omitAtDefault: true,
  parse(text, _base, notices) {
    const value = readLinkNumber(text, 'Map opacity', MAP_OPACITY, notices, false);
    return value === undefined ? undefined : MAP_OPACITY.clamp(value);
  },
  write: String,
};

const stepField: LinkField<number> = {
  key: 'mapStep',
  param: 'mapstep',
  label: 'Map step',
  default: 0,
  omitAtDefault: true,
  parse(text, _base, notices) {
    if (text === 'all') return 0;
    return readLinkNumber(text, 'Map step', { min: 1, max: MAX_MAP_STEP }, notices, true);
  },
  write: (step) => (step ? String(step) : 'all'),
};

/** The request part for `settings`: maps are read only while one is shown. */
export function attentionMapRequest(settings: Readonly<AttentionMapSettings>): AttentionMapRequest | undefined {
  const { map } = settings;
  if (map.kind === 'token') return { crossAttention: true };
  if (map.kind === 'point') return { selfAttention: { site: map.site, x: map.x, y: map.y, ...(settings.mapStep > 0 && { step: settings.mapStep - 1 }) } };
  return undefined;
}

export const attentionMaps: SteeringControl<AttentionMapSettings, { daamTokenMaps: typeof daamTokenMaps; bicubicResize: typeof bicubicResize }> = {
  id: 'attention-maps',
  label: 'Attention maps',
  explanation: 'Shows where attention looks: a prompt token’s cross-attention over the image, or where one point of the image attends.',
  parameters: [MAP_OPACITY],
  linkFields: [mapField, opacityField, stepField] as LinkField<unknown>[],
  // A view, not a change to the image: nothing to vary across an XY plot.
  axes: [],
  toRequest: (settings) => ({ attentionMaps: attentionMapRequest(settings) }),
  off: { attentionMaps: undefined },
  hook: {
    kind: 'attention-probe',
    isActive: (request) => !!request.attentionMaps?.crossAttention || !!request.attentionMaps?.selfAttention,
  },
  reference: { cites: 'DAAM (Tang et al. 2022, castorini/daam: trace.py, heatmap.py); torch.nn.functional.interpolate bicubic', daamTokenMaps, bicubicResize },
};
