// Attention probe: reads attention probabilities at one site without writing an Lq × Lk matrix.
// For one batch item, p_hij = softmax_j(q_hi · k_hj · mq · mk / √D), the logits and multipliers of
// attention.wgsl (base 2: q is pre-scaled by log2(e)), averaged over the heads h:
//   row_stats:  per head and probed query row, the row's max m and sum l = Σ_j 2^(s_j − m)
//   query_rows: the head-averaged probabilities of the probed rows, one thread per (row, key)
//   key_totals: per key, the sum over all queries of the head-averaged probabilities
// Each recomputes q · k where it needs it (twice per score in all), so no score matrix is stored:
// the probed rows' stats are 2 floats per head and row.
//
// q and k are column slices of token rows as in attention.wgsl (offset, stride per token; head h is
// columns h*D .. h*D+D-1). Output: out[r * out_row_stride + j * out_key_stride] for row r and key j
// (the probed rows [rows, keys], or the keys-major [keys, queries] of a cross-attention map). With
// `accumulate`, out += step_weight[0] · value (a sum over sampling steps, weighted at run time);
// else out = value.

struct Params {
  seq_q: u32,
  seq_k: u32,
  heads: u32,
  head_dim: u32,
  q_stride: u32,
  k_stride: u32,
  q_offset: u32,
  k_offset: u32,
  batch_index: u32,      // which batch item is probed
  multiplier_index: u32, // 4 * site: mq, mk, mv, mout
  softmax_scale: f32,    // log2(e) / sqrt(D)
  rows: u32,             // probed query rows: the list's length, or seq_q
  out_row_stride: u32,
  out_key_stride: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
// Placeholder (never read) when HAS_MULTIPLIERS is false.
@group(0) @binding(3) var<storage, read> multipliers: array<f32>;
// The probed query indices; placeholder (never read) when HAS_QUERY_LIST is false (all queries).
@group(0) @binding(4) var<storage, read> queries: array<u32>;
// [heads, rows, 2]: m and l of each probed row (base-2 logits).
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read> step_weight: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

override HAS_MULTIPLIERS: bool = false;
override HAS_QUERY_LIST: bool = false;
const WORKGROUP: u32 = 64u;

fn flat_id(wg: vec3u, nwg: vec3u, li: u32) -> u32 { return (wg.x + wg.y * nwg.x) * WORKGROUP + li; }

fn logit_scale() -> f32 {
  var scale = p.softmax_scale;
  if (HAS_MULTIPLIERS) { scale *= multipliers[p.multiplier_index] * multipliers[p.multiplier_index + 1u]; }
  return scale;
}

// Query row r's index in the sequence: the r-th probed query, or r itself.
fn query_of(r: u32) -> u32 {
  if (HAS_QUERY_LIST) { return min(queries[r], p.seq_q - 1u); }
  return r;
}

// Base-2 logit of query `i` and key `j` in head `h` of the probed batch item.
fn logit(i: u32, j: u32, h: u32, scale: f32) -> f32 {
  let q_base = p.q_offset + (p.batch_index * p.seq_q + i) * p.q_stride + h * p.head_dim;
  let k_base = p.k_offset + (p.batch_index * p.seq_k + j) * p.k_stride + h * p.head_dim;
  var dot_qk = 0.0;
  for (var d = 0u; d < p.head_dim; d++) { dot_qk += q[q_base + d] * k[k_base + d]; }
  return dot_qk * scale;
}

// Head-averaged probability of probed row r (query i) for key j.
fn mean_probability(r: u32, i: u32, j: u32, scale: f32) -> f32 {
  var total = 0.0;
  for (var h = 0u; h < p.heads; h++) {
    let s = (h * p.rows + r) * 2u;
    total += exp2(logit(i, j, h, scale) - stats[s]) / stats[s + 1u];
  }
  return total / f32(p.heads);
}

fn store(index: u32, value: f32) {
  if (p.accumulate != 0u) { out[index] += step_weight[0] * value; } else { out[index] = value; }
}

// One invocation per (head, probed row): the max of its logits, then the sum of 2^(s − max).
@compute @workgroup_size(WORKGROUP)
fn row_stats(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let id = flat_id(wg, nwg, li);
  if (id >= p.heads * p.rows) { return; }
  let h = id / p.rows;
  let r = id % p.rows;
  let i = query_of(r);
  let scale = logit_scale();
  var m = logit(i, 0u, h, scale);
  for (var j = 1u; j < p.seq_k; j++) { m = max(m, logit(i, j, h, scale)); }
  var l = 0.0;
  for (var j = 0u; j < p.seq_k; j++) { l += exp2(logit(i, j, h, scale) - m); }
  stats[id * 2u] = m;
  stats[id * 2u + 1u] = l;
}

// One invocation per (probed row, key).
@compute @workgroup_size(WORKGROUP)
fn query_rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let id = flat_id(wg, nwg, li);
  if (id >= p.rows * p.seq_k) { return; }
  let r = id / p.seq_k;
  let j = id % p.seq_k;
  store(r * p.out_row_stride + j * p.out_key_stride, mean_probability(r, query_of(r), j, logit_scale()));
}

// One invocation per key: Σ over every query (the stats of all rows, no list) of the head-averaged
// probability. Each query row sums to 1, so the totals sum to seq_q.
@compute @workgroup_size(WORKGROUP)
fn key_totals(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let j = flat_id(wg, nwg, li);
  if (j >= p.seq_k) { return; }
  let scale = logit_scale();
  var total = 0.0;
  for (var i = 0u; i < p.seq_q; i++) { total += mean_probability(i, i, j, scale); }
  store(j * p.out_key_stride, total);
}
