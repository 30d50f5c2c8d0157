// DAAM's aggregation of cross-attention maps (Tang et al., "What the DAAM", 2022; daam/trace.py and
// daam/heatmap.py): per site the head-averaged [tokens, h, w] probabilities of the cond item,
// upsampled to the latent H × W with bicubic interpolation, clamped at 0, averaged over the sites.
//
// Our probes add the steps up on the GPU (the step average comes first) and the clamp follows it;
// DAAM clamps each head's and step's upsampled map before averaging. Bicubic overshoot below 0 is
// small next to the maps' values, so the two differ little, and we read back once per generation.

/** PyTorch's cubic convolution coefficient (upsample_bicubic2d: A = −0.75). */
const A = -0.75;

/** Weights of the 4 taps at offsets −1, 0, 1, 2 around a source position with fraction t. */
function cubicWeights(t: number): [number, number, number, number] {
  const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| ≤ 1
  const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/** For each output index: the 4 clamped source indices and their weights (align_corners=False,
 * the output size given, so scale = in / out; source = (out + 0.5)·scale − 0.5, unclamped for cubic). */
function taps(inSize: number, outSize: number): { index: Int32Array; weight: Float64Array } {
  const index = new Int32Array(outSize * 4);
  const weight = new Float64Array(outSize * 4);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const source = (o + 0.5) * scale - 0.5;
    const floor = Math.floor(source);
    const w = cubicWeights(source - floor);
    for (let k = 0; k < 4; k++) {
      index[o * 4 + k] = Math.min(inSize - 1, Math.max(0, floor - 1 + k));
      weight[o * 4 + k] = w[k];
    }
  }
  return { index, weight };
}

/** torch.nn.functional.interpolate(mode='bicubic', align_corners=False, size=(outH, outW)) of
 * `maps` [count, inH, inW] → [count, outH, outW] (border pixels repeated beyond the edges). */
export function bicubicResize(maps: ArrayLike<number>, count: number, inH: number, inW: number, outH: number, outW: number): Float32Array {
  const ty = taps(inH, outH);
  const tx = taps(inW, outW);
  const out = new Float32Array(count * outH * outW);
  const rows = new Float64Array(inH * outW);
  for (let c = 0; c < count; c++) {
    const base = c * inH * inW;
    // Along x for every source row, then along y.
    for (let y = 0; y < inH; y++) {
      for (let x = 0; x < outW; x++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) sum += tx.weight[x * 4 + k] * maps[base + y * inW + tx.index[x * 4 + k]];
        rows[y * outW + x] = sum;
      }
    }
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) sum += ty.weight[y * 4 + k] * rows[ty.index[y * 4 + k] * outW + x];
        out[(c * outH + y) * outW + x] = sum;
      }
    }
  }
  return out;
}

/** One site's head-averaged [tokens, h·w] cross-attention probabilities (summed or averaged over steps). */
export interface CrossAttentionSiteMap {
  height: number;
  width: number;
  values: ArrayLike<number>;
}

/** DAAM's token heatmaps [tokens, outH, outW]: each site's maps upsampled bicubically to the
 * latent size, clamped at 0, averaged over the sites. Only the first `tokens` tokens are kept. */
export function daamTokenMaps(sites: readonly CrossAttentionSiteMap[], tokens: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(tokens * outH * outW);
  for (const site of sites) {
    const up = bicubicResize(site.values, tokens, site.height, site.width, outH, outW);
    for (let i = 0; i < out.length; i++) out[i] += Math.max(0, up[i]) / sites.length;
  }
  return out;
}
