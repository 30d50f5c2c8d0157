// The multipliers' CPU reference, as ComfyUI defines them (comfy_extras/nodes_attention_multiply.py):
// every to_q, to_k, to_v and to_out.0 weight and bias of the module is multiplied by q, k, v, out.
// Our kernels apply the same factors at run time instead (logits × q·k, values × v, branch × out);
// tests/steering.test.ts holds that to this patch, and the golden fixtures hold the GPU to PyTorch's.
import type { AttentionMultipliers } from '../api';

export interface LinearWeights {
  weight: Float32Array;
  bias?: Float32Array;
}

/** One diffusers Attention module's projections. */
export interface AttentionModuleWeights {
  toQ: LinearWeights;
  toK: LinearWeights;
  toV: LinearWeights;
  toOut: LinearWeights;
}

/** The module's weights as ComfyUI patches them: new arrays, the input left as it was. */
export function scaleAttentionWeights(module: Readonly<AttentionModuleWeights>, m: Readonly<AttentionMultipliers>): AttentionModuleWeights {
  const scale = (w: LinearWeights, by: number): LinearWeights => ({ weight: w.weight.map((x) => x * by), bias: w.bias?.map((x) => x * by) });
  return { toQ: scale(module.toQ, m.q), toK: scale(module.toK, m.k), toV: scale(module.toV, m.v), toOut: scale(module.toOut, m.out) };
}
