// Multi-head scaled dot-product attention, flash-attention style (Dao et al., "FlashAttention",
// 2022; the loop order of FlashAttention-2): one workgroup owns BLOCK_Q queries of one (batch, head),
// streams the keys and values through workgroup memory BLOCK_K at a time, and keeps a running
// softmax (row max m, row sum l, unnormalised output o) so no Lq x Lk matrix ever reaches memory:
//   s_j = (q · k_j) * mq * mk / sqrt(D)
//   m' = max(m, max_j s_j);  o' = o * e^(m - m') + sum_j e^(s_j - m') v_j;  l' = l * e^(m - m') + sum_j e^(s_j - m')
//   out = o / l * mv
// Logits are kept in base 2 (q is pre-scaled by log2(e)), so every exponential is one exp2.
//
// q, k, v and out are [B, L, H*D] row-major; head h is columns h*D .. h*D+D-1. q, k and v may be
// column slices of wider rows: token t of q starts at q[q_offset + t * q_stride] (likewise k, v), so
// one fused projection [B, L, 3 H*D], bound to all three bindings, serves as q, k and v. The
// multipliers are read from a storage buffer at run time, so the sliders need no re-recording.
//
// Two entry points, plain f32 with workgroup memory: `main_row_per_thread` (head dims up to 80, one
// query row per thread, its keys optionally split across workgroups and merged by
// `merge_key_splits`; at the end of this file) and `main` (tiles of queries x keys shared by 128
// threads; any head dim, see "Heads wider than the tiles" below). attention.ts picks one, and its
// sizes as override constants, from the shape, the head dim and the device's workgroup memory.

struct Params {
  seq_q: u32,
  seq_k: u32,
  head_dim: u32,         // D
  out_stride: u32,       // H*D: floats from one token of `out` to the next
  causal: u32,           // 1: key j > query i is masked (CLIP's text encoder)
  multiplier_index: u32, // 4 * site: mq, mk, mv, mout
  softmax_scale: f32,    // log2(e) / sqrt(D)
  // Floats from one token of q (k, v) to the next, and where column 0 of token 0 is.
  q_stride: u32,
  k_stride: u32,
  v_stride: u32,
  q_offset: u32,
  k_offset: u32,
  v_offset: u32,
  // main_row_per_thread's key splits (1: none) and the keys of each (a multiple of BLOCK_K_ROWS);
  // rows: B * H * seq_q, the query rows of all heads, for the partial results' layout.
  key_splits: u32,
  keys_per_split: u32,
  rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
// Bound to a placeholder that is never read when HAS_MULTIPLIERS is false.
@group(0) @binding(4) var<storage, read> multipliers: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// Column `col` of token `token` (batch-major: b * L + position) of q, k and v.
fn q_at(token: u32, col: u32) -> f32 { return q[p.q_offset + token * p.q_stride + col]; }
fn k_at(token: u32, col: u32) -> f32 { return k[p.k_offset + token * p.k_stride + col]; }
fn v_at(token: u32, col: u32) -> f32 { return v[p.v_offset + token * p.v_stride + col]; }

override HAS_MULTIPLIERS: bool = false;
// Columns of a head the tiles hold: D rounded up to a multiple of 8 (the padding columns of the tiles
// hold zeros), or, in `main`, fewer for a head wider than the tiles.
override HEAD_DIM: u32 = 8u;
override BLOCK_Q: u32 = 64u;
override BLOCK_K: u32 = 32u;
// Scores: each thread computes ROWS_PER_THREAD x KEYS_PER_THREAD entries of the BLOCK_Q x BLOCK_K tile.
override ROWS_PER_THREAD: u32 = 4u;
override KEYS_PER_THREAD: u32 = 4u;

const THREADS: u32 = 128u;
// Private arrays need sizes known before the overrides: these bound what attention.ts may choose.
const MAX_SCORES_PER_THREAD: u32 = 16u;
const MAX_KEYS_PER_THREAD: u32 = 4u;
const MAX_OUT_PER_THREAD: u32 = 32u;
// Masked logits. Finite, so that max() and exp2() never meet infinities; key 0 is never masked, so
// every row's running max is a real logit after the first tile and exp2(NEG_BIG - m) is exactly 0.
const NEG_BIG: f32 = -1.0e30;

override KEY_GROUPS: u32 = BLOCK_K / KEYS_PER_THREAD;
override ROW_GROUPS: u32 = THREADS / KEY_GROUPS;
// Output: LANES_PER_ROW threads share a query row, each holding OUT_PER_THREAD of its D columns.
override LANES_PER_ROW: u32 = THREADS / BLOCK_Q;
override OUT_PER_THREAD: u32 = HEAD_DIM / LANES_PER_ROW;
// Rows padded by one float so that threads reading the same column of different rows hit
// different memory banks.
override TILE_STRIDE: u32 = HEAD_DIM + 1u;
override SCORE_STRIDE: u32 = BLOCK_K + 1u;
override Q_TILE_SIZE: u32 = BLOCK_Q * TILE_STRIDE;
override KV_TILE_SIZE: u32 = BLOCK_K * TILE_STRIDE;
override SCORE_TILE_SIZE: u32 = BLOCK_Q * SCORE_STRIDE;

var<workgroup> q_tile: array<f32, Q_TILE_SIZE>;
// Keys, then values, of the current block of keys.
var<workgroup> kv_tile: array<f32, KV_TILE_SIZE>;
// Logits, then probabilities e^(s - m').
var<workgroup> scores: array<f32, SCORE_TILE_SIZE>;
var<workgroup> row_max: array<f32, BLOCK_Q>;
var<workgroup> row_rescale: array<f32, BLOCK_Q>;

// Heads wider than the tiles (D > HEAD_DIM; SD's VAE has one head of 512): the head's columns are
// split into ceil(D / HEAD_DIM) chunks of HEAD_DIM, and workgroup y = head * chunks + chunk. Every
// workgroup still computes the full q·k over all D columns, summed chunk by chunk (q is then
// re-staged with each chunk of k), so each gets the same logits, running max and row sum; it
// accumulates and writes only its chunk of v's columns. Score work grows with the number of chunks
// (2x at D 512 in chunks of 256), but no Lq x Lk matrix is written. With D <= HEAD_DIM there is one
// chunk and q is staged once.

// Copies queries q0 .. q0+BLOCK_Q-1, columns col .. col+width-1 of the token rows, pre-scaled by
// `scale`, into q_tile; zero beyond the sequence and beyond `width`.
fn stage_queries(q0: u32, base: u32, col: u32, width: u32, scale: f32, t: u32) {
  for (var i = t; i < BLOCK_Q * HEAD_DIM; i += THREADS) {
    let r = i / HEAD_DIM;
    let d = i % HEAD_DIM;
    var value = 0.0;
    if (q0 + r < p.seq_q && d < width) { value = q_at(base + q0 + r, col + d) * scale; }
    q_tile[r * TILE_STRIDE + d] = value;
  }
}

// Copies keys (or values) first .. first+BLOCK_K-1, columns col .. col+width-1 of the token rows,
// into kv_tile; zero beyond the sequence and beyond `width`, so padded keys and columns add nothing.
fn stage_keys_or_values(values: bool, first: u32, base: u32, col: u32, width: u32, t: u32) {
  for (var i = t; i < BLOCK_K * HEAD_DIM; i += THREADS) {
    let j = i / HEAD_DIM;
    let d = i % HEAD_DIM;
    var value = 0.0;
    if (first + j < p.seq_k && d < width) {
      if (values) { value = v_at(base + first + j, col + d); } else { value = k_at(base + first + j, col + d); }
    }
    kv_tile[j * TILE_STRIDE + d] = value;
  }
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let q0 = wg.x * BLOCK_Q;
  let q_base = wg.z * p.seq_q;
  let k_base = wg.z * p.seq_k;
  // This workgroup's head, and its chunk of the head's columns: value_col .. value_col+value_dim-1
  // (all D of them, value_col 0, unless the head is wider than the tiles).
  let wide_head = p.head_dim > HEAD_DIM;
  let chunks = (p.head_dim + HEAD_DIM - 1u) / HEAD_DIM;
  let col0 = (wg.y / chunks) * p.head_dim;
  let value_col = (wg.y % chunks) * HEAD_DIM;
  let value_dim = min(HEAD_DIM, p.head_dim - value_col);

  var logit_scale = p.softmax_scale;
  var value_scale = 1.0;
  if (HAS_MULTIPLIERS) {
    logit_scale *= multipliers[p.multiplier_index] * multipliers[p.multiplier_index + 1u];
    value_scale = multipliers[p.multiplier_index + 2u];
  }

  // Queries, pre-scaled so that q · k is already the base-2 logit. A q·k multiplier of 0 makes every
  // logit 0: uniform attention, the mean of v. A wide head stages them with each chunk of keys.
  if (!wide_head) { stage_queries(q0, q_base, col0, p.head_dim, logit_scale, t); }
  if (t < BLOCK_Q) { row_max[t] = NEG_BIG; }

  // Roles: for the scores, thread t owns rows row_group + ROW_GROUPS*i and keys key_group + KEY_GROUPS*c;
  // for the output, it owns columns lane + LANES_PER_ROW*i of query row out_row.
  let key_group = t % KEY_GROUPS;
  let row_group = t / KEY_GROUPS;
  let out_row = t / LANES_PER_ROW;
  let lane = t % LANES_PER_ROW;
  var o: array<f32, MAX_OUT_PER_THREAD>;
  var row_sum = 0.0;

  // With a causal mask, keys after this block's last query are masked for all of its rows.
  var key_end = p.seq_k;
  if (p.causal != 0u) { key_end = min(key_end, q0 + BLOCK_Q); }
  for (var k0 = 0u; k0 < key_end; k0 += BLOCK_K) {
    // An explicit initializer: a bare `var acc: array<...>;` here kept the previous block's sums on
    // SwiftShader (WGSL zeroes it on every iteration; dawn.node 0.6.2 did not).
    var acc = array<f32, MAX_SCORES_PER_THREAD>();
    var key_reg: array<f32, MAX_KEYS_PER_THREAD>;
    // q · k over columns c0 .. c0+HEAD_DIM-1 at a time: once, unless the head is wider than the tiles.
    for (var c0 = 0u; c0 < p.head_dim; c0 += HEAD_DIM) {
      // The previous block's values (or the previous chunk's queries and keys) have been read (and,
      // the first time, the queries staged).
      workgroupBarrier();
      let width = min(HEAD_DIM, p.head_dim - c0);
      if (wide_head) { stage_queries(q0, q_base, col0 + c0, width, logit_scale, t); }
      stage_keys_or_values(false, k0, k_base, col0 + c0, width, t);
      workgroupBarrier();

      for (var d = 0u; d < HEAD_DIM; d++) {
        for (var c = 0u; c < KEYS_PER_THREAD; c++) { key_reg[c] = kv_tile[(key_group + KEY_GROUPS * c) * TILE_STRIDE + d]; }
        for (var i = 0u; i < ROWS_PER_THREAD; i++) {
          let qd = q_tile[(row_group + ROW_GROUPS * i) * TILE_STRIDE + d];
          for (var c = 0u; c < KEYS_PER_THREAD; c++) { acc[i * KEYS_PER_THREAD + c] += qd * key_reg[c]; }
        }
      }
    }
    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      let row = row_group + ROW_GROUPS * i;
      for (var c = 0u; c < KEYS_PER_THREAD; c++) {
        let key = key_group + KEY_GROUPS * c;
        let masked = k0 + key >= p.seq_k || (p.causal != 0u && k0 + key > q0 + row);
        scores[row * SCORE_STRIDE + key] = select(acc[i * KEYS_PER_THREAD + c], NEG_BIG, masked);
      }
    }
    workgroupBarrier();

    // The running max of each row, and how much the old sums shrink under it.
    if (t < BLOCK_Q) {
      let old_max = row_max[t];
      var new_max = old_max;
      for (var j = 0u; j < BLOCK_K; j++) { new_max = max(new_max, scores[t * SCORE_STRIDE + j]); }
      row_max[t] = new_max;
      row_rescale[t] = exp2(old_max - new_max);
    }
    workgroupBarrier();

    for (var i = t; i < BLOCK_Q * BLOCK_K; i += THREADS) {
      let slot = (i / BLOCK_K) * SCORE_STRIDE + i % BLOCK_K;
      scores[slot] = exp2(scores[slot] - row_max[i / BLOCK_K]);
    }
    stage_keys_or_values(true, k0, k_base, col0 + value_col, value_dim, t);
    workgroupBarrier();

    let rescale = row_rescale[out_row];
    row_sum *= rescale;
    for (var i = 0u; i < OUT_PER_THREAD; i++) { o[i] *= rescale; }
    for (var j = 0u; j < BLOCK_K; j++) {
      let weight = scores[out_row * SCORE_STRIDE + j];
      row_sum += weight;
      for (var i = 0u; i < OUT_PER_THREAD; i++) { o[i] += weight * kv_tile[j * TILE_STRIDE + lane + LANES_PER_ROW * i]; }
    }
  }

  // row_sum >= 1: the row's largest logit contributes e^0.
  let row = q0 + out_row;
  if (row < p.seq_q) {
    let norm = value_scale / row_sum;
    for (var i = 0u; i < OUT_PER_THREAD; i++) {
      let d = lane + LANES_PER_ROW * i;
      if (d < value_dim) { out[(q_base + row) * p.out_stride + col0 + value_col + d] = o[i] * norm; }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Row-per-thread variant, for head dims up to 80: each thread owns one query row and keeps q and
// its output in registers; keys and values pass through workgroup memory BLOCK_K_ROWS at a time and
// every thread reads the same key at once (a broadcast), so no scores are exchanged between threads
// and a block of keys costs two barriers. Same algorithm and bindings as `main`; HEAD_DIM >= D (one
// chunk: workgroup y is the head).
//
// (Several threads per row, each taking every n-th key and merged through subgroup shuffles or
// workgroup memory, were tried on an H200 and lost to the key splits below everywhere: the lanes of
// a row read different keys, and each workgroup stages its keys for fewer rows.)

override ROW_THREADS: u32 = 64u;
// Keys whose logits a thread holds at once: one rescale of the output per chunk, not per key.
override KEY_CHUNK: u32 = 32u;
const MAX_KEY_CHUNK: u32 = 32u;
const BLOCK_K_ROWS: u32 = 32u; // a multiple of KEY_CHUNK
const MAX_HEAD_VEC4: u32 = 20u; // head dims up to 80
override HEAD_VEC4: u32 = HEAD_DIM / 4u;
override ROW_TILE_SIZE: u32 = BLOCK_K_ROWS * HEAD_VEC4;

var<workgroup> k_rows: array<vec4<f32>, ROW_TILE_SIZE>;
var<workgroup> v_rows: array<vec4<f32>, ROW_TILE_SIZE>;

// Four columns col0 + d4*4 .. col0 + d4*4+3 of token `token` (zero beyond D).
fn load4_q(token: u32, col0: u32, d4: u32) -> vec4<f32> {
  var r = vec4(0.0);
  for (var c = 0u; c < 4u; c++) {
    if (d4 * 4u + c < p.head_dim) { r[c] = q_at(token, col0 + d4 * 4u + c); }
  }
  return r;
}

fn load4_kv(values: bool, token: u32, col0: u32, d4: u32) -> vec4<f32> {
  var r = vec4(0.0);
  for (var c = 0u; c < 4u; c++) {
    let d = d4 * 4u + c;
    if (d < p.head_dim) {
      if (values) { r[c] = v_at(token, col0 + d); } else { r[c] = k_at(token, col0 + d); }
    }
  }
  return r;
}

// Key splits (flash-decoding: Dao et al., "Flash-Decoding for long-context inference", 2023): with
// p.key_splits > 1, workgroup z is (batch, split) and takes only keys [split * keys_per_split, ...);
// it writes the row's unnormalised partial result (o, m, l) instead of out, and merge_key_splits
// merges the splits' partials into out. Layers with few query rows (the default model's 2 heads of
// 1024) get more workgroups that way, and each still stages its keys for ROW_THREADS rows.
// Partial results: record (split * rows + r) of HEAD_DIM + 2 floats, r = (b * H + h) * seq_q + i.
override PARTIAL_RECORD: u32 = HEAD_DIM + 2u;

@compute @workgroup_size(ROW_THREADS)
fn main_row_per_thread(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let q0 = wg.x * ROW_THREADS;
  let row = q0 + t;
  let col0 = wg.y * p.head_dim;
  let batch = wg.z / p.key_splits;
  let split = wg.z % p.key_splits;
  let q_base = batch * p.seq_q;
  let k_base = batch * p.seq_k;

  var logit_scale = p.softmax_scale;
  var value_scale = 1.0;
  if (HAS_MULTIPLIERS) {
    logit_scale *= multipliers[p.multiplier_index] * multipliers[p.multiplier_index + 1u];
    value_scale = multipliers[p.multiplier_index + 2u];
  }

  var q_row = array<vec4<f32>, MAX_HEAD_VEC4>();
  var o = array<vec4<f32>, MAX_HEAD_VEC4>();
  if (row < p.seq_q) {
    for (var d4 = 0u; d4 < HEAD_VEC4; d4++) { q_row[d4] = load4_q(q_base + row, col0, d4) * logit_scale; }
  }
  // A split that has seen only masked keys keeps m = NEG_BIG, l = 0, o = 0 (its weights are zeroed
  // below, not e^0), and so adds nothing when the splits merge.
  var row_max = NEG_BIG;
  var row_sum = 0.0;

  // Keys [key_first, key_last) of this split; beyond the last query row of a causal group, all masked.
  var key_last = p.seq_k;
  if (p.causal != 0u) { key_last = min(key_last, q0 + ROW_THREADS); }
  let key_first = split * p.keys_per_split;
  if (p.key_splits > 1u) { key_last = min(key_last, key_first + p.keys_per_split); }
  for (var k0 = key_first; k0 < key_last; k0 += BLOCK_K_ROWS) {
    workgroupBarrier();
    for (var i = t; i < BLOCK_K_ROWS * HEAD_VEC4; i += ROW_THREADS) {
      let j = i / HEAD_VEC4;
      let d4 = i % HEAD_VEC4;
      var key = vec4(0.0);
      var value = vec4(0.0);
      if (k0 + j < p.seq_k) {
        key = load4_kv(false, k_base + k0 + j, col0, d4);
        value = load4_kv(true, k_base + k0 + j, col0, d4);
      }
      k_rows[i] = key;
      v_rows[i] = value;
    }
    workgroupBarrier();

    for (var c0 = 0u; c0 < BLOCK_K_ROWS; c0 += KEY_CHUNK) {
      var logits = array<f32, MAX_KEY_CHUNK>();
      var chunk_max = NEG_BIG;
      for (var c = 0u; c < KEY_CHUNK; c++) {
        let j = c0 + c;
        var dot_qk = 0.0;
        for (var d4 = 0u; d4 < HEAD_VEC4; d4++) { dot_qk += dot(q_row[d4], k_rows[j * HEAD_VEC4 + d4]); }
        let masked = k0 + j >= key_last || (p.causal != 0u && k0 + j > row);
        logits[c] = select(dot_qk, NEG_BIG, masked);
        chunk_max = max(chunk_max, logits[c]);
      }
      // A chunk of only masked keys leaves the running max, and so the sums, as they were.
      let new_max = max(row_max, chunk_max);
      let rescale = exp2(row_max - new_max);
      row_max = new_max;
      row_sum *= rescale;
      for (var d4 = 0u; d4 < HEAD_VEC4; d4++) { o[d4] *= rescale; }
      for (var c = 0u; c < KEY_CHUNK; c++) {
        let weight = select(exp2(logits[c] - row_max), 0.0, logits[c] == NEG_BIG);
        row_sum += weight;
        for (var d4 = 0u; d4 < HEAD_VEC4; d4++) { o[d4] += weight * v_rows[(c0 + c) * HEAD_VEC4 + d4]; }
      }
    }
  }

  if (row >= p.seq_q) { return; }
  if (p.key_splits > 1u) {
    // This split's partial result for the row: o and l relative to m, unscaled by mv.
    let record = (split * p.rows + (batch * nwg.y + wg.y) * p.seq_q + row) * PARTIAL_RECORD;
    for (var d4 = 0u; d4 < HEAD_VEC4; d4++) {
      for (var c = 0u; c < 4u; c++) {
        if (d4 * 4u + c < p.head_dim) { out[record + d4 * 4u + c] = o[d4][c]; }
      }
    }
    out[record + p.head_dim] = row_max;
    out[record + p.head_dim + 1u] = row_sum;
    return;
  }
  // row_sum >= 1: the row's largest logit contributes e^0.
  let norm = value_scale / row_sum;
  let base = (q_base + row) * p.out_stride + col0;
  for (var d4 = 0u; d4 < HEAD_VEC4; d4++) {
    for (var c = 0u; c < 4u; c++) {
      if (d4 * 4u + c < p.head_dim) { out[base + d4 * 4u + c] = o[d4][c] * norm; }
    }
  }
}

// The key splits' partial results of one output value per invocation, merged into out: with
// m = max_s m_s, out = mv * sum_s e^(m_s - m) o_s / sum_s e^(m_s - m) l_s. The partials are bound
// where k is (this entry point reads no keys).
const MERGE_GROUP: u32 = 256u;

@compute @workgroup_size(MERGE_GROUP)
fn merge_key_splits(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * MERGE_GROUP + li;
  if (i >= p.rows * p.head_dim) { return; }
  let r = i / p.head_dim;
  let d = i % p.head_dim;
  var m = NEG_BIG;
  for (var s = 0u; s < p.key_splits; s++) { m = max(m, k[(s * p.rows + r) * PARTIAL_RECORD + p.head_dim]); }
  var l = 0.0;
  var o = 0.0;
  for (var s = 0u; s < p.key_splits; s++) {
    let record = (s * p.rows + r) * PARTIAL_RECORD;
    let weight = exp2(k[record + p.head_dim] - m);
    l += k[record + p.head_dim + 1u] * weight;
    o += k[record + d] * weight;
  }
  var value_scale = 1.0;
  if (HAS_MULTIPLIERS) { value_scale = multipliers[p.multiplier_index + 2u]; }
  let heads = p.out_stride / p.head_dim;
  let row = r % p.seq_q;
  let bh = r / p.seq_q;
  out[((bh / heads) * p.seq_q + row) * p.out_stride + (bh % heads) * p.head_dim + d] = o * value_scale / l;
}
