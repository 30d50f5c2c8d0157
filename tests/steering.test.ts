import { describe, expect, it } from 'vitest';
import { reference as attentionReference } from '../src/engine/kernels/attention';
import { reference as linearReference } from '../src/engine/kernels/linear';
import { parseUNetConfig } from '../src/engine/nn/unet-config';
import { enumerateSites, neutralSiteTable } from '../src/engine/nn/unet-sites';
import {
  STEERING_CONTROLS,
  attentionMultipliers,
  buildSiteTable,
  isLinkTarget,
  scaleAttentionWeights,
  siteInTarget,
  siteTarget,
  type AttentionModuleWeights,
} from '../src/engine';
import type { AttentionSite } from '../src/engine';

const SD15 = enumerateSites(
  parseUNetConfig({
    _class_name: 'UNet2DConditionModel',
    block_out_channels: [320, 640, 1280, 1280],
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    layers_per_block: 2,
    attention_head_dim: 8,
    cross_attention_dim: 768,
    sample_size: 64,
  }),
);

/** How the playground matched a link's target before steering had one rule: exact names only. */
function exactMatch(site: AttentionSite, target: string): boolean {
  if (target === 'all') return true;
  if (target === 'input' || target === 'middle' || target === 'output') return site.part === target;
  return site.path === target || site.comfyBlock === target;
}

describe('one rule for which sites a target names', () => {
  it('names the same sites as the exact matching of before, for every target a link may carry', () => {
    const targets = ['all', 'input', 'middle', 'output', ...new Set(SD15.map((s) => s.comfyBlock)), ...SD15.map((s) => s.path)];
    for (const target of targets) {
      expect(isLinkTarget(target)).toBe(true);
      for (const site of SD15) expect(siteInTarget(site, target), `${target} / ${site.path}`).toBe(exactMatch(site, target));
    }
  });

  it('takes diffusers prefixes at a dot boundary, as the golden fixtures write them', () => {
    const named = (path: string) => SD15.filter((s) => siteInTarget(s, { path })).map((s) => s.path);
    expect(named('mid_block')).toEqual(SD15.filter((s) => s.part === 'middle').map((s) => s.path));
    expect(named('up_blocks.1').length).toBe(6);
    expect(named('up_blocks.1.attentions.0.transformer_blocks.0.attn')).toEqual([]);
    expect(named('')).toEqual([]);
  });

  it('keeps prefixes and made-up names out of links', () => {
    for (const text of ['mid_block', 'up_blocks.1', 'output_blocks.123', 'nowhere', '']) expect(isLinkTarget(text)).toBe(false);
    expect(siteTarget('middle')).toEqual({ part: 'middle' });
    expect(siteTarget('output_blocks.3')).toEqual({ path: 'output_blocks.3' });
  });
});

describe('the per-site table', () => {
  it('is all ones when no control is on, and no hook runs', () => {
    expect(Array.from(buildSiteTable(SD15, { rules: [] }))).toEqual(Array.from(neutralSiteTable(SD15)));
    const hook = attentionMultipliers.hook;
    expect(hook.kind === 'site-table' && hook.isActive({ rules: [] })).toBe(false);
    expect(buildSiteTable([], { rules: [] })).toHaveLength(4);
  });
});

describe('every control follows the contract', () => {
  it('has parameters with a range holding the default, a label and a one-line explanation', () => {
    for (const control of STEERING_CONTROLS) {
      expect(control.explanation).toBeTruthy();
      expect(control.reference.cites).toBeTruthy();
      for (const p of control.parameters) {
        expect(p.min <= p.default && p.default <= p.max, `${control.id}.${p.id}`).toBe(true);
        expect(p.label && p.explanation && !p.explanation.includes('\n')).toBeTruthy();
      }
      for (const axis of control.axes) expect(control.parameters).toContain(axis.parameter);
    }
  });

  it('reads back what its link fields write, without notices', () => {
    for (const control of STEERING_CONTROLS) {
      for (const field of control.linkFields) {
        const notices: string[] = [];
        expect(field.parse(field.write(field.default), field.default, notices)).toEqual(field.default);
        expect(notices).toEqual([]);
      }
    }
  });
});

describe('attention multipliers: the table is ComfyUI’s weight patch', () => {
  // ComfyUI multiplies to_q, to_k, to_v, to_out.0 weights and biases; the kernels instead scale the
  // logits by q·k, the gathered values by v and the branch by out. Both must give one output.
  it('gives the output of a module whose weights ComfyUI patched', () => {
    let state = 7;
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const array = (n: number) => Float32Array.from({ length: n }, random);
    const [tokens, contextTokens, width, contextWidth, heads] = [6, 5, 8, 12, 2];
    const x = array(tokens * width);
    const context = array(contextTokens * contextWidth);
    const linearOf = (inner: number) => ({ weight: array(width * inner), bias: array(width) });
    const module: AttentionModuleWeights = { toQ: linearOf(width), toK: linearOf(contextWidth), toV: linearOf(contextWidth), toOut: linearOf(width) };
    const factors = { q: 1.7, k: 0.4, v: 2.5, out: 0.3 };
    const shape = { batch: 1, seqQ: tokens, seqK: contextTokens, heads };
    const project = (input: Float32Array, w: { weight: Float32Array; bias?: Float32Array }, inner: number) => linearReference.linear(input, w.weight, w.bias, inner, width);

    const patched = scaleAttentionWeights(module, factors);
    const comfy = project(attentionReference.attention(project(x, patched.toQ, width), project(context, patched.toK, contextWidth), project(context, patched.toV, contextWidth), shape), patched.toOut, width);

    const table = buildSiteTable(SD15, { rules: [{ kind: 'attn2', target: { path: SD15[1].path }, multipliers: factors }] });
    const [mq, mk, mv, mout] = table.slice(4, 8);
    const attended = attentionReference.attention(project(x, module.toQ, width), project(context, module.toK, contextWidth), project(context, module.toV, contextWidth), { ...shape, multipliers: [mq, mk, mv] });
    const ours = linearReference.linear(attended, module.toOut.weight, module.toOut.bias, width, width, { scale: mout });

    const scale = Math.max(...comfy.map(Math.abs));
    for (let i = 0; i < comfy.length; i++) expect(Math.abs(ours[i] - comfy[i]) / scale).toBeLessThan(1e-5);
  });
});
