// PAG's CPU reference, as diffusers' PAGCFGIdentitySelfAttnProcessor2_0 and ComfyUI's nodes_pag.py
// define it: the perturbed item's self-attention module returns to_out(to_v(x)) (softmax as the
// identity), with the multipliers' weight patches still on to_v and to_out; and the guidance sum.
// tests/perturbed-attention-guidance.test.ts holds the kernels to it, the golden fixture the UNet.
import type { AttentionMultipliers } from '../api';
import type { AttentionModuleWeights, LinearWeights } from './attention-multipliers-reference';

function linear(x: Float32Array, w: LinearWeights, inner: number): Float32Array {
  const outer = w.weight.length / inner;
  const rows = x.length / inner;
  const out = new Float32Array(rows * outer);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outer; o++) {
      let acc = w.bias?.[o] ?? 0;
      for (let i = 0; i < inner; i++) acc += x[r * inner + i] * w.weight[o * inner + i];
      out[r * outer + o] = acc;
    }
  }
  return out;
}

/** One perturbed self-attention module on tokens `x` [L, C]: to_out(to_v(x)·mv)·mout (no residual). */
export function identityAttentionModule(x: Float32Array, module: Readonly<AttentionModuleWeights>, width: number, m: Readonly<AttentionMultipliers>): Float32Array {
  const v = linear(x, module.toV, width).map((value) => value * m.v);
  return linear(v, module.toOut, width).map((value) => value * m.out);
}

/** eps = u + g·(c − u) + s·(c − p); at guidance 1 (no uncond) c + s·(c − p). */
export function pagGuidance(cond: Float32Array, perturbed: Float32Array, scale: number, uncond?: Float32Array, guidance = 1): Float32Array {
  return cond.map((c, i) => (uncond ? uncond[i] + guidance * (c - uncond[i]) : c) + scale * (c - perturbed[i]));
}
