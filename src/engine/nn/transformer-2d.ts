// diffusers Transformer2DModel (continuous input) with BasicTransformerBlocks — where the UNet's
// attention happens, and where the live multipliers act.
//
//   h = GroupNorm(x, eps 1e-6); h = proj_in(h)          (1x1 conv, or Linear after flattening)
//   per block:  h = attn1(LN1(h)) + h                   self-attention
//               h = attn2(LN2(h), context) + h          cross-attention to the text
//               h = ff.net.2(GEGLU(ff.net.0.proj(LN3(h)))) + h
//   out = proj_out(h) + x
//
// ComfyUI's attention multipliers scale the weights and biases of to_q, to_k, to_v, to_out.0. We
// get the same numbers without touching a weight: logits × (q·k), attention result × v, and the
// whole to_out.0 output × out — read from a small GPU buffer at run time, so a slider costs one
// buffer write.
//
// Self-attention projects q, k and v from the same input: where their weights have no bias, they are
// stacked once into one [3C, C] matrix (fuseSelfAttentionProjections), so one linear dispatch gives
// [B, L, 3C] and attention reads q, k, v from it in place. Cross-attention's k and v depend on the
// text alone: the UNet computes them once per context (crossAttentionKeyValues) and every call reuses
// them; every cross-attention's to_k and to_v are stacked into one matrix
// (fuseCrossAttentionKeyValues), so that is one product, not two per module. The multipliers never
// touch them (mk, mv act inside attention), so a slider keeps them valid.
import type { GpuContext } from '../gpu/gpu-context';
import type { Recorder } from '../gpu/recorder';
import { sameShape, type Tensor } from '../gpu/tensor';
import type { WeightStore } from '../weights/weight-store';
import { withRowStacks } from '../weights/stacked-weights';
import { attention, splitColumns, type AttentionInput, type TensorColumns } from '../kernels/attention';
import { attentionIdentity } from '../kernels/attention-identity';
import { conv2d } from '../kernels/conv2d';
import { layerNorm, groupNorm } from '../kernels/norm';
import { linear } from '../kernels/linear';
import { optional } from './resnet-block';

/** diffusers hard-codes these: Transformer2DModel's GroupNorm eps, BasicTransformerBlock's LayerNorm eps. */
const TRANSFORMER_GROUP_NORM_EPS = 1e-6;
const TRANSFORMER_LAYER_NORM_EPS = 1e-5;

export interface AttentionSiteRef {
  /** Index of the site's 4 multipliers (q, k, v, out) in the multipliers buffer. */
  site: number;
  buffer: GPUBuffer;
}

export interface Transformer2DOptions {
  heads: number;
  groups: number;
  layers: number;
  /** Text embeddings [N, L, cross_attention_dim]. */
  context: Tensor;
  /** Called once per attention module in order (attn1, attn2 of each block) to get its site. */
  site: (path: string) => AttentionSiteRef;
  /** A cross-attention module's keys and values, where they were computed once per context
   * (crossAttentionKeyValues, in the UNet's context plan) instead of in every call. */
  crossKeyValues?: (attentionPath: string) => KeyValues | undefined;
  /** Perturbed-attention guidance: the first batch item whose self-attention at this module (…attn1)
   * is the identity (its output is v), or undefined where attention is left as it is. */
  perturbedFrom?: (attentionPath: string) => number | undefined;
  /** Records attention probes (nn/unet-probes.ts) at an attention module, given its q and k; absent
   * (no map asked for): nothing is recorded. */
  probe?: AttentionProbeCallback;
}

/** Called at every attention module with its q, k, heads and the spatial size of its queries. */
export type AttentionProbeCallback = (path: string, q: AttentionInput, k: AttentionInput, heads: number, size: { height: number; width: number }) => void;

/** A cross-attention module's to_k(context) and to_v(context): tensors of their own, or column
 * slices of the stacked product of every module's (fuseCrossAttentionKeyValues). */
export interface KeyValues {
  k: AttentionInput;
  v: AttentionInput;
}

export function transformer2d(rec: Recorder, x: Tensor, weights: WeightStore, prefix: string, opts: Transformer2DOptions): Tensor {
  const [, , height, width] = x.shape;
  const w = (name: string) => weights.get(`${prefix}.${name}`);
  const normed = groupNorm(rec, x, w('norm.weight'), w('norm.bias'), { groups: opts.groups, eps: TRANSFORMER_GROUP_NORM_EPS, label: `${prefix}.norm` });

  // proj_in and proj_out are the same matrix product whether the checkpoint stores them as 1x1
  // convolutions [C, C, 1, 1] or as linear layers [C, C] (use_linear_projection, which the weights'
  // shapes tell, so no option is needed): proj_in reads the NCHW image as a 1x1
  // convolution and writes tokens; proj_out reads tokens as a linear layer and writes NCHW, adding x.
  // Neither needs a transpose pass.
  const projIn = w('proj_in.weight');
  const [inner, channels] = projIn.shape;
  let h = conv2d(rec, normed, { weight: { ...projIn, shape: [inner, channels, 1, 1] }, bias: optional(weights, `${prefix}.proj_in.bias`) }, { outLayout: 'tokens', label: `${prefix}.proj_in` });
  rec.release(normed);

  for (let i = 0; i < opts.layers; i++) {
    const next = basicTransformerBlock(rec, h, weights, `${prefix}.transformer_blocks.${i}`, opts, { height, width });
    rec.release(h);
    h = next;
  }

  const projOut = w('proj_out.weight');
  const out = linear(rec, h, { ...projOut, shape: projOut.shape.slice(0, 2) }, optional(weights, `${prefix}.proj_out.bias`), { residual: x, nchwOutput: { height, width }, label: `${prefix}.proj_out` });
  rec.release(h);
  return out;
}

const QKV_PROJECTIONS = ['to_q', 'to_k', 'to_v'] as const;

/** The key of a self-attention's stacked to_q, to_k, to_v weight (diffusers' fused module is to_qkv). */
function stackedQkvName(attentionPrefix: string): string {
  return `${attentionPrefix}.to_qkv.weight`;
}

/** `weights` plus, for each self-attention module in `attentionPrefixes` (…attn1) whose to_q, to_k,
 * to_v weights have one shape and no bias, their rows stacked into one [3C, C] matrix, made once on
 * the GPU. Modules left out (a bias, or weights that cannot be stacked) keep three projections. */
export function fuseSelfAttentionProjections(gpu: GpuContext, weights: WeightStore, attentionPrefixes: readonly string[]): WeightStore {
  const stacks = attentionPrefixes
    .filter((prefix) => {
      const [q, k, v] = QKV_PROJECTIONS.map((name) => weights.get(`${prefix}.${name}.weight`));
      return sameShape(q.shape, k.shape) && sameShape(q.shape, v.shape) && QKV_PROJECTIONS.every((name) => !weights.has(`${prefix}.${name}.bias`));
    })
    .map((prefix) => ({ name: stackedQkvName(prefix), parts: QKV_PROJECTIONS.map((name) => `${prefix}.${name}.weight`) }));
  return withRowStacks(gpu, weights, stacks);
}

function basicTransformerBlock(rec: Recorder, h: Tensor, weights: WeightStore, prefix: string, opts: Transformer2DOptions, size: { height: number; width: number }): Tensor {
  const w = (name: string) => weights.get(`${prefix}.${name}`);
  const ln = (input: Tensor, name: string) => layerNorm(rec, input, w(`${name}.weight`), w(`${name}.bias`), { eps: TRANSFORMER_LAYER_NORM_EPS, label: `${prefix}.${name}` });

  const n1 = ln(h, 'norm1');
  const probe = opts.probe && ((path: string, q: AttentionInput, k: AttentionInput) => opts.probe!(path, q, k, opts.heads, size));
  const afterSelf = attentionModule(rec, n1, n1, h, weights, `${prefix}.attn1`, opts.heads, opts.site(`${prefix}.attn1`), undefined, opts.perturbedFrom?.(`${prefix}.attn1`), probe);
  rec.release(n1);

  const n2 = ln(afterSelf, 'norm2');
  const afterCross = attentionModule(rec, n2, opts.context, afterSelf, weights, `${prefix}.attn2`, opts.heads, opts.site(`${prefix}.attn2`), opts.crossKeyValues?.(`${prefix}.attn2`), undefined, probe);
  rec.release(n2, afterSelf);

  const n3 = ln(afterCross, 'norm3');
  // diffusers GEGLU: the projection and hidden * gelu(gate) in one pass.
  const gated = linear(rec, n3, w('ff.net.0.proj.weight'), w('ff.net.0.proj.bias'), { geglu: true, label: `${prefix}.ff.net.0.proj` });
  rec.release(n3);
  const out = linear(rec, gated, w('ff.net.2.weight'), w('ff.net.2.bias'), { residual: afterCross, label: `${prefix}.ff.net.2` });
  rec.release(gated, afterCross);
  return out;
}

/** diffusers Attention with the multipliers of `site`; returns to_out.0(attn) * out + residual. From
 * batch item `perturbedFrom` on, attn is v (perturbed-attention guidance's identity). */
function attentionModule(
  rec: Recorder,
  queryInput: Tensor,
  keyValueInput: Tensor,
  residual: Tensor,
  weights: WeightStore,
  prefix: string,
  heads: number,
  site: AttentionSiteRef,
  keyValues?: KeyValues,
  perturbedFrom?: number,
  probe?: (path: string, q: AttentionInput, k: AttentionInput) => void,
): Tensor {
  const { q, k, v, projected } = projectQkv(rec, queryInput, keyValueInput, weights, prefix, keyValues);
  probe?.(prefix, q, k);
  const multipliers = { buffer: site.buffer, site: site.site };
  const attended = attention(rec, q, k, v, { heads, multipliers, label: prefix });
  if (perturbedFrom !== undefined) attentionIdentity(rec, v, attended, { fromItem: perturbedFrom, multipliers, label: prefix });
  rec.release(...projected);
  const out = linear(rec, attended, weights.get(`${prefix}.to_out.0.weight`), optional(weights, `${prefix}.to_out.0.bias`), {
    residual,
    outputScale: { buffer: site.buffer, index: site.site * 4 + 3 },
    label: `${prefix}.to_out.0`,
  });
  rec.release(attended);
  return out;
}

/** q, k, v of an attention module: column slices of one stacked projection for a self-attention
 * with a to_qkv weight; q alone where the keys and values are given (cross-attention, computed once
 * per context); else three linears. `projected` are the tensors to release after attention. */
function projectQkv(
  rec: Recorder,
  queryInput: Tensor,
  keyValueInput: Tensor,
  weights: WeightStore,
  prefix: string,
  keyValues?: KeyValues,
): { q: AttentionInput; k: AttentionInput; v: AttentionInput; projected: Tensor[] } {
  if (queryInput === keyValueInput && weights.has(stackedQkvName(prefix))) {
    const qkv = linear(rec, queryInput, weights.get(stackedQkvName(prefix)), undefined, { label: `${prefix}.to_qkv` });
    const [q, k, v] = splitColumns(qkv, 3);
    return { q, k, v, projected: [qkv] };
  }
  if (keyValues) {
    const q = project(rec, queryInput, weights, prefix, 'to_q');
    return { q, ...keyValues, projected: [q] };
  }
  const [q, k, v] = QKV_PROJECTIONS.map((name) => project(rec, name === 'to_q' ? queryInput : keyValueInput, weights, prefix, name));
  return { q, k, v, projected: [q, k, v] };
}

/** One of an attention module's input projections: `name` (to_q, to_k, to_v) of `input`. */
function project(rec: Recorder, input: Tensor, weights: WeightStore, prefix: string, name: (typeof QKV_PROJECTIONS)[number]): Tensor {
  return linear(rec, input, weights.get(`${prefix}.${name}.weight`), optional(weights, `${prefix}.${name}.bias`), { label: `${prefix}.${name}` });
}

/** The key of every cross-attention's to_k and to_v rows stacked into one matrix, in the order of
 * the modules given to fuseCrossAttentionKeyValues. */
const STACKED_CROSS_KEY_VALUES = 'cross-attention to_k and to_v (stacked)';

/** `weights` plus, where the cross-attention modules `attentionPrefixes` (…attn2) have no k or v
 * bias and their matrices stack (same context width and storage, within one buffer binding), their
 * to_k and to_v rows stacked in this order: [k0; v0; k1; v1; ...]. crossAttentionKeyValues, given
 * the same modules in the same order, then projects the context once for all of them. */
export function fuseCrossAttentionKeyValues(gpu: GpuContext, weights: WeightStore, attentionPrefixes: readonly string[]): WeightStore {
  const biased = attentionPrefixes.some((prefix) => weights.has(`${prefix}.to_k.bias`) || weights.has(`${prefix}.to_v.bias`));
  const parts = attentionPrefixes.flatMap((prefix) => [`${prefix}.to_k.weight`, `${prefix}.to_v.weight`]);
  return withRowStacks(gpu, weights, biased || !parts.length ? [] : [{ name: STACKED_CROSS_KEY_VALUES, parts }]);
}

/** The keys and values of `context` for each cross-attention module of `attentionPaths`: one product
 * where fuseCrossAttentionKeyValues stacked these modules' weights (in this order), else two per
 * module. They depend on the text alone, so the UNet computes them once per context (its context
 * plan), not in every call; the tensors are kept (`rec.keep`) for the calls that read them. */
export function crossAttentionKeyValues(rec: Recorder, context: Tensor, weights: WeightStore, attentionPaths: readonly string[]): Map<string, KeyValues> {
  const keyValues = new Map<string, KeyValues>();
  if (!weights.has(STACKED_CROSS_KEY_VALUES)) {
    for (const path of attentionPaths) {
      keyValues.set(path, { k: rec.keep(project(rec, context, weights, path, 'to_k')), v: rec.keep(project(rec, context, weights, path, 'to_v')) });
    }
    return keyValues;
  }
  const stacked = weights.get(STACKED_CROSS_KEY_VALUES);
  const all = rec.keep(linear(rec, context, stacked, undefined, { label: 'to_k, to_v of every cross-attention' }));
  let first = 0;
  const columns = (path: string, name: 'to_k' | 'to_v'): TensorColumns => {
    const count = weights.get(`${path}.${name}.weight`).shape[0];
    first += count;
    return { tensor: all, first: first - count, count };
  };
  for (const path of attentionPaths) keyValues.set(path, { k: columns(path, 'to_k'), v: columns(path, 'to_v') });
  if (first !== stacked.shape[0]) throw new Error(`crossAttentionKeyValues: the modules' ${first} rows are not the ${stacked.shape[0]} stacked (other modules, or another order?)`);
  return keyValues;
}
