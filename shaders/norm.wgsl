// GroupNorm and LayerNorm (torch.nn semantics: biased variance, eps inside the square root).
//
// Both reduce contiguous rows: a GroupNorm group of an NCHW tensor is C/groups consecutive channels
// of H*W values each, so group (n, g) is row n*groups + g, of length C/groups*H*W; a LayerNorm row is
// the last dimension. Each invocation loads its HELD values of a row (or chunk) into registers at
// once, takes their (count, mean, M2) in two passes over the registers, and a workgroup merges
// those pairwise (Chan, Golub & LeVeque 1979): no E[x^2] - E[x]^2 cancellation, and the rows that
// are normalized in the same dispatch are written from the registers, not read twice. (A Welford
// loop over strided loads, before, waited on each load in turn and divided once per value.)
//
// GroupNorm rows are long (SD 1.5 at 512x512: 40960 values in the UNet, a million in the VAE decoder),
// so they are cut into chunks that many workgroups reduce at once (group_norm_partials), merged per
// row (group_norm_merge, only when a row has several chunks), then normalized value by value
// (group_norm_apply). Moments are stored as (count, mean, M2, unused). Rows short enough for one
// workgroup take one dispatch instead (group_norm_row).

struct Params {
  // Rows to reduce: N * groups, or the number of LayerNorm rows.
  rows: u32,
  // Values per row: C / groups * spatial, or C.
  row_len: u32,
  // GroupNorm: values per chunk, and chunks per row (ceil(row_len / chunk_len)).
  chunk_len: u32,
  chunks: u32,
  // group_norm_apply: all values, values per channel (H*W), channels, channels per group.
  count: u32,
  spatial: u32,
  channels: u32,
  channels_per_group: u32,
  eps: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// Affine weight and bias, read as 32-bit words: f32 values, or f16 pairs when the override says so.
@group(0) @binding(2) var<storage, read> weight: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<u32>;
// GroupNorm moments per (row, chunk); group_norm_merge leaves each row's total in its first chunk.
@group(0) @binding(4) var<storage, read_write> moments: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

override WEIGHT_F16: bool = false;
override BIAS_F16: bool = false;
// Fused SiLU after the affine transform (the ResNet block's norm -> SiLU).
override SILU: bool = false;
// Invocations per workgroup: 256 for GroupNorm, fewer for LayerNorm's short rows.
override WG: u32 = 256u;
// Values per invocation: value j of an invocation is li + WG * j of its row or chunk; norm.ts sets
// HELD = ceil(length / WG) for the longest row or chunk, up to MAX_HELD.
override HELD: u32 = 1u;
const MAX_HELD: u32 = 48u;
var<private> held: array<f32, MAX_HELD>;

var<workgroup> partial: array<vec4f, WG>;

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

// Chan et al.: the moments of the union of two sets from theirs.
fn merge(a: vec4f, b: vec4f) -> vec4f {
  let n = a.x + b.x;
  let delta = b.y - a.y;
  let share_b = select(0.0, b.x / n, n > 0.0);
  return vec4f(n, a.y + delta * share_b, a.z + b.z + delta * delta * a.x * share_b, 0.0);
}

// Loads x[start + li + WG * j] (j < HELD) into held, zero past len, and returns their moments.
fn held_moments(start: u32, len: u32, li: u32) -> vec4f {
  var sum = 0.0;
  var count = 0u;
  for (var j = 0u; j < HELD; j++) {
    let i = li + WG * j;
    held[j] = select(0.0, x[start + min(i, len - 1u)], i < len);
    sum += held[j];
    count += select(0u, 1u, i < len);
  }
  let n = max(f32(count), 1.0);
  let mean = sum / n;
  // The corrected two-pass algorithm (Chan, Golub & LeVeque 1983): the deviations' own sum corrects
  // the rounding of the mean and of M2.
  var deviations = 0.0;
  var m2 = 0.0;
  for (var j = 0u; j < HELD; j++) {
    let delta = select(0.0, held[j] - mean, li + WG * j < len);
    deviations += delta;
    m2 += delta * delta;
  }
  return vec4f(f32(count), mean + deviations / n, m2 - deviations * deviations / n, 0.0);
}

// workgroup_moments(own, li), which merges every invocation's moments and gives all of them the
// total, is not in this file: norm.ts appends shaders/norm-reduce-subgroup.wgsl where the device has
// subgroups, else shaders/norm-reduce-workgroup.wgsl (the plain fallback).

fn rstd(m: vec4f) -> f32 {
  return inverseSqrt(m.z / m.x + p.eps);
}

// One workgroup per (row, chunk): moments of chunk_len values (fewer in a row's last chunk).
@compute @workgroup_size(WG)
fn group_norm_partials(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let id = flat_workgroup(wg, nwg);
  if (id >= p.rows * p.chunks) { return; }
  let row = id / p.chunks;
  let first = (id - row * p.chunks) * p.chunk_len;
  let len = min(p.chunk_len, p.row_len - first);
  let total = workgroup_moments(held_moments(row * p.row_len + first, len, li), li);
  if (li == 0u) { moments[id] = total; }
}

// One workgroup per row: its chunks' moments, merged into the first.
@compute @workgroup_size(WG)
fn group_norm_merge(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = flat_workgroup(wg, nwg);
  if (row >= p.rows) { return; }
  let first = row * p.chunks;
  var own = vec4f(0.0);
  for (var c = li; c < p.chunks; c += WG) { own = merge(own, moments[first + c]); }
  let total = workgroup_moments(own, li);
  if (li == 0u) { moments[first] = total; }
}

// y = (x[i] - mean) * scale * weight[c] + bias[c], optionally SiLU(y) = y * sigmoid(y), for value i
// of x [N, C, ...]: channel row n*C + c = i / spatial.
fn group_normalized(i: u32, value: f32, mean: f32, scale: f32) -> f32 {
  let c = (i / p.spatial) % p.channels;
  let y = (value - mean) * scale * weight_at(c) + bias_at(c);
  return select(y, y / (1.0 + exp(-y)), SILU);
}

// APPLY_VALUES values per invocation, WG apart, so that the loads of all of them are in flight at
// once (one value per invocation waited on its moments, then its value, in turn). Channel row
// n*C + c belongs to GroupNorm row (n*C + c) / (C/groups) = n*groups + g.
const APPLY_VALUES: u32 = 4u;

@compute @workgroup_size(WG)
fn group_norm_apply(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let first = flat_workgroup(wg, nwg) * WG * APPLY_VALUES + li;
  var values: array<f32, APPLY_VALUES>;
  var stats: array<vec4f, APPLY_VALUES>;
  for (var j = 0u; j < APPLY_VALUES; j++) {
    // Values beyond the last read the last one (in bounds) and are not written.
    let i = min(first + j * WG, p.count - 1u);
    values[j] = x[i];
    stats[j] = moments[(i / p.spatial / p.channels_per_group) * p.chunks];
  }
  for (var j = 0u; j < APPLY_VALUES; j++) {
    let i = first + j * WG;
    if (i < p.count) { out[i] = group_normalized(i, values[j], stats[j].y, rstd(stats[j])); }
  }
}

// Short rows (the default model's groups, SD's 8x8 level): one workgroup reduces a whole row and
// writes it from its registers. One dispatch instead of partials and apply.
@compute @workgroup_size(WG)
fn group_norm_row(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = flat_workgroup(wg, nwg);
  // Uniform per workgroup: the barriers of workgroup_moments stay in uniform control flow.
  if (row >= p.rows) { return; }
  let start = row * p.row_len;
  let m = workgroup_moments(held_moments(start, p.row_len, li), li);
  let scale = rstd(m);
  for (var j = 0u; j < HELD; j++) {
    let i = li + WG * j;
    if (i < p.row_len) { out[start + i] = group_normalized(start + i, held[j], m.y, scale); }
  }
}

// LayerNorm over rows of length C: rows are short (C <= 1280 in SD), so one small workgroup reduces
// a row and writes it from its registers.
@compute @workgroup_size(WG)
fn layer_norm(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = flat_workgroup(wg, nwg);
  if (row >= p.rows) { return; }
  let start = row * p.row_len;
  let m = workgroup_moments(held_moments(start, p.row_len, li), li);
  let mean = m.y;
  let scale = rstd(m);
  for (var j = 0u; j < HELD; j++) {
    let c = li + WG * j;
    if (c < p.row_len) { out[start + c] = (held[j] - mean) * scale * weight_at(c) + bias_at(c); }
  }
}
