// Perturbed-attention guidance's identity attention (shaders/attention-identity.wgsl): for the
// batch items from `fromItem` on, attention's output becomes v · mv, as if softmax(q·kᵀ) were the
// identity matrix (diffusers PAGIdentitySelfAttnProcessor2_0; ComfyUI nodes_pag.py returns v).
// Recorded after the site's attention, only where PAG is on.
import wgsl from '../../../shaders/attention-identity.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import type { Tensor } from '../gpu/tensor';
import { asColumns, type AttentionInput } from './attention';

const WORKGROUP = 256;

export interface AttentionIdentityOptions {
  /** The first batch item whose attention is the identity; the items before keep attention's output. */
  fromItem: number;
  /** The site's factors (q, k, v, out at buffer[4·site ..]): mv scales v as ComfyUI's to_v patch does. */
  multipliers?: { buffer: GPUBuffer; site: number };
  label: string;
}

/** Overwrites items fromItem.. of `out` [B, L, C] (attention's output) with `vInput` [B, L, C] · mv. */
export function attentionIdentity(rec: Recorder, vInput: AttentionInput, out: Tensor, opts: AttentionIdentityOptions): void {
  const v = asColumns(vInput);
  const [batch, tokens, width] = out.shape;
  if (v.count !== width || v.tensor.shape[0] !== batch || v.tensor.shape[1] !== tokens) {
    throw new Error(`${opts.label}: v [${v.tensor.shape}] columns ${v.first}+${v.count} do not match attention's output [${out.shape}]`);
  }
  if (!Number.isInteger(opts.fromItem) || opts.fromItem < 0 || opts.fromItem >= batch) throw new Error(`${opts.label}: perturbed items from ${opts.fromItem} of a batch of ${batch}`);
  const count = (batch - opts.fromItem) * tokens * width;
  rec.dispatch({
    label: `${opts.label}:identity`,
    pipeline: rec.gpu.pipeline('attention-identity', wgsl, 'main'),
    params: params().u32(count, opts.fromItem * tokens, width, v.tensor.shape[2], v.first, 4 * (opts.multipliers?.site ?? 0) + 2, opts.multipliers ? 1 : 0),
    bindings: [v.tensor, opts.multipliers?.buffer ?? v.tensor, out],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
}

// CPU reference, used by the tests: attention's output with items fromItem.. replaced by v · mv.
export const reference = {
  attentionIdentity(attended: Float32Array, v: Float32Array, s: { batch: number; fromItem: number; mv?: number }): Float32Array {
    const out = attended.slice();
    const perItem = attended.length / s.batch;
    for (let i = s.fromItem * perItem; i < out.length; i++) out[i] = v[i] * (s.mv ?? 1);
    return out;
  },
};
