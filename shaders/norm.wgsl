// GroupNorm and LayerNorm (torch.nn semantics: biased variance, eps inside the square root).
//
// Both reduce contiguous rows: a GroupNorm group of an NCHW tensor is C/groups consecutive channels
// of H*W values each, so group (n, g) is the row n*groups + g of length C/groups*H*W; a LayerNorm row
// is the last dimension. One workgroup reduces one row with a strided loop, each invocation keeping
// Welford's running mean and M2 over its values, then the workgroup merges them pairwise
// (Chan, Golub & LeVeque 1979). One pass over the data, and no E[x^2] - E[x]^2 cancellation.

struct Params {
  // Rows to reduce: N * groups, or the number of LayerNorm rows.
  rows: u32,
  // Values per row: C / groups * spatial, or C.
  row_len: u32,
  // group_norm_apply: all values, values per channel (H*W), channels, channels per group.
  count: u32,
  spatial: u32,
  channels: u32,
  channels_per_group: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// Affine weight and bias, read as 32-bit words: f32 values, or f16 pairs when the override says so.
@group(0) @binding(2) var<storage, read> weight: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<u32>;
// Per GroupNorm row: (mean, 1 / sqrt(var + eps)), written by group_norm_stats, read by group_norm_apply.
@group(0) @binding(4) var<storage, read_write> stats: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

override WEIGHT_F16: bool = false;
override BIAS_F16: bool = false;
// Fused SiLU after the affine transform (the ResNet block's norm -> SiLU).
override SILU: bool = false;

// Invocations per workgroup: 256 for GroupNorm's long rows, fewer for LayerNorm's short ones.
override WG: u32 = 256u;

var<workgroup> part_count: array<f32, WG>;
var<workgroup> part_mean: array<f32, WG>;
var<workgroup> part_m2: array<f32, WG>;

fn weight_at(c: u32) -> f32 {
  if (WEIGHT_F16) { return unpack2x16float(weight[c >> 1u])[c & 1u]; }
  return bitcast<f32>(weight[c]);
}

fn bias_at(c: u32) -> f32 {
  if (BIAS_F16) { return unpack2x16float(bias[c >> 1u])[c & 1u]; }
  return bitcast<f32>(bias[c]);
}

fn flat_workgroup(wg: vec3u, nwg: vec3u) -> u32 {
  return wg.x + wg.y * nwg.x;
}

// (mean, 1 / sqrt(biased variance + eps)) of x[start .. start + p.row_len), for every invocation
// of the workgroup. Must be called in workgroup-uniform control flow.
fn row_moments(start: u32, li: u32) -> vec2f {
  var count = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var i = li; i < p.row_len; i += WG) {
    let v = x[start + i];
    count += 1.0;
    let delta = v - mean;
    mean += delta / count;
    m2 += delta * (v - mean);
  }
  part_count[li] = count;
  part_mean[li] = mean;
  part_m2[li] = m2;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (li < stride) {
      // Chan et al.: merging (n_a, mean_a, M2_a) with (n_b, mean_b, M2_b).
      let n_a = part_count[li];
      let n_b = part_count[li + stride];
      let n = n_a + n_b;
      let delta = part_mean[li + stride] - part_mean[li];
      let share_b = select(0.0, n_b / n, n > 0.0);
      part_mean[li] += delta * share_b;
      part_m2[li] += part_m2[li + stride] + delta * delta * n_a * share_b;
      part_count[li] = n;
    }
  }
  workgroupBarrier();
  let row_mean = part_mean[0];
  let variance = part_m2[0] / f32(p.row_len);
  // Every invocation has read the totals before any may overwrite them in a later call.
  workgroupBarrier();
  return vec2f(row_mean, inverseSqrt(variance + p.eps));
}

@compute @workgroup_size(WG)
fn group_norm_stats(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = flat_workgroup(wg, nwg);
  if (row >= p.rows) { return; }
  let moments = row_moments(row * p.row_len, li);
  if (li == 0u) { stats[row] = moments; }
}

// y = (x - mean) * rstd * weight[c] + bias[c], optionally SiLU(y) = y * sigmoid(y); one invocation
// per value. Channel row n*C + c belongs to GroupNorm row (n*C + c) / (C/groups) = n*groups + g.
@compute @workgroup_size(WG)
fn group_norm_apply(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_workgroup(wg, nwg) * WG + li;
  if (i >= p.count) { return; }
  let channel_row = i / p.spatial;
  let c = channel_row % p.channels;
  let moments = stats[channel_row / p.channels_per_group];
  let y = (x[i] - moments.x) * moments.y * weight_at(c) + bias_at(c);
  out[i] = select(y, y / (1.0 + exp(-y)), SILU);
}

// LayerNorm over rows of length C: rows are short (C <= 1280 in SD), so one small workgroup reduces
// a row and writes it, the second read coming from cache.
@compute @workgroup_size(WG)
fn layer_norm(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = flat_workgroup(wg, nwg);
  if (row >= p.rows) { return; }
  let start = row * p.row_len;
  let moments = row_moments(start, li);
  for (var c = li; c < p.row_len; c += WG) {
    out[start + c] = (x[start + c] - moments.x) * moments.y * weight_at(c) + bias_at(c);
  }
}
