// torch.nn.Linear over the last dimension, with an optional epilogue:
//   y[m, n] = (sum_k x[m, k] * weight[n, k] + bias[n]) * scale + residual[m, n]
// x is [M, K] row-major (all leading dimensions folded into M), weight is [N, K] (PyTorch layout),
// so both operands are read along K. `scale` is one f32 read at run time from a storage buffer (the
// attention "out" multiplier), so a slider changes it with a buffer write, no re-recording.
//
// The matrix product is the register-tiled core that conv2d shares (src/engine/kernels/gemm-core.ts,
// the classic SGEMM recipe of Simon Boehm's "How to optimize a CUDA matmul" and tfjs-backend-webgpu's
// matmul): its entry point `main` is written out by the launcher for the tile and appended to this
// file, which supplies the loads, the workgroup tiles and the epilogue. Outputs are row-major, so
// neighbouring invocations own neighbouring columns n.
//
// Global loads: both operands are contiguous along K, so each invocation loads X_RUN (W_RUN)
// consecutive k of one row of x (weight) per step. Loads beyond the matrix or the K range read zero,
// so any M, K and N work, including K = 4 or 37.
//
// Split K: with workgroups in z, workgroup z sums only K range [z*k_per_split, (z+1)*k_per_split)
// and writes its bare partial block to partial[z] (SPLIT_K on); `linear_split_sum` adds the partials
// and applies bias, scale and residual. Few tokens (SD's 8x8 and 16x16 levels, the text side) make too
// few output tiles to fill a GPU otherwise.

struct Params {
  rows: u32,        // M
  inner: u32,       // K
  cols: u32,        // N
  scale_index: u32, // where in `scale` the output multiplier lives
  // Split K: the K range of one z workgroup (a multiple of TILE_K), and the number of ranges.
  k_per_split: u32,
  splits: u32,
  // Non-zero: y (and residual) are NCHW [B, N, H, W] with H*W = nchw_plane, the rows of x being the
  // tokens b * H*W + pixel (a transformer's proj_out back to the image); else row-major [M, N].
  nchw_plane: u32,
  // GEGLU: D = N / 2, the width of y (see below).
  geglu_width: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// f32 bits, or two f16 per word when WEIGHT_F16 (see tensor.ts): one declaration serves both.
@group(0) @binding(2) var<storage, read> weight: array<u32>;
// Optional inputs: when a HAS_* constant is false the launcher binds a placeholder that is never read.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;
// The output, or with SPLIT_K the partial sums [splits, M, N].
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read> partial: array<f32>;

override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false;
override HAS_SCALE: bool = false;
override WEIGHT_F16: bool = false;
override SPLIT_K: bool = false;
// f16 weights with an even K: every run of 4 starts at an even index, in whole words.
override WEIGHT_PAIRS: bool = false;
// diffusers GEGLU in the epilogue (its projection ff.net.0.proj, then hidden * gelu(gate) with
// hidden, gate = the two halves of the N = 2D outputs): the product's columns are taken in the order
// hidden 0, gate 0, hidden 1, gate 1, ... (weight and bias rows j and D + j side by side), so that each
// invocation holds both halves of its outputs; y is [M, D]. gelu.wgsl is appended to this file.
override GEGLU: bool = false;
// SiLU after the bias (the time embedding's linear_1 and linear_2, each followed by SiLU in diffusers).
override SILU: bool = false;

// Tile shape: pipeline constants, checked by the launcher (linear.ts); the core is written out for
// the same numbers.
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;
override THREAD_M: u32 = 4u; // multiple of 4 (x is read as vec4s of rows)
override THREAD_N: u32 = 4u; // multiple of 4

override GROUP_N: u32 = TILE_N / THREAD_N;
override GROUP_M: u32 = TILE_M / THREAD_M;
override THREADS: u32 = GROUP_N * GROUP_M;
// Consecutive k that one invocation loads per step from one row of x and of weight; a row of a
// slice is TILE_K / X_RUN (TILE_K / W_RUN) neighbouring invocations.
override X_RUN: u32 = TILE_K * TILE_M / THREADS;
override W_RUN: u32 = TILE_K * TILE_N / THREADS;
// Tile rows [k] get one vec4 of padding: the stores walk down k, and unpadded rows of TILE_M floats
// would all start in the same memory bank.
override A_PITCH: u32 = TILE_M / 4u + 1u;
override B_PITCH: u32 = TILE_N / 4u + 1u;

var<workgroup> a_tile: array<vec4f, TILE_K * A_PITCH>;
var<workgroup> b_tile: array<vec4f, TILE_K * B_PITCH>;

fn weight_at(index: u32) -> f32 {
  if (WEIGHT_F16) {
    let pair = unpack2x16float(weight[index >> 1u]);
    return select(pair.x, pair.y, (index & 1u) == 1u);
  }
  return bitcast<f32>(weight[index]);
}

struct GemmRange { m0: u32, n0: u32, k_begin: u32, k_end: u32 }

fn gemm_range(wg: vec3u) -> GemmRange {
  let k_begin = wg.z * p.k_per_split;
  return GemmRange(wg.y * TILE_M, wg.x * TILE_N, k_begin, min(k_begin + p.k_per_split, p.inner));
}

// What an invocation loads each step: X_RUN k of row m_local of the x slice from k offset xk, and
// W_RUN k of row n_local of the weight slice from wk. x_row and w_row are where those rows start,
// clamped to the last row of the matrix (see gemm-core.ts).
struct GemmLoads {
  m_local: u32,
  xk: u32,
  x_row: u32,
  n_local: u32,
  wk: u32,
  w_row: u32,
}

/** The weight (and bias) row of product column n: n itself, or with GEGLU, hidden j = n / 2 for even
 * n and gate D + j for odd n. */
fn weight_row(n: u32) -> u32 {
  if (!GEGLU) { return n; }
  return (n >> 1u) + select(0u, p.geglu_width, (n & 1u) == 1u);
}

fn gemm_loads(range: GemmRange, li: u32) -> GemmLoads {
  let m_local = li / (TILE_K / X_RUN);
  let n_local = li / (TILE_K / W_RUN);
  return GemmLoads(
    m_local, (li % (TILE_K / X_RUN)) * X_RUN, min(range.m0 + m_local, p.rows - 1u) * p.inner,
    n_local, (li % (TILE_K / W_RUN)) * W_RUN, weight_row(min(range.n0 + n_local, p.cols - 1u)) * p.inner
  );
}

fn load_a4(l: GemmLoads, q: u32, k0: u32) -> vec4f {
  let i = l.x_row + k0 + l.xk + 4u * q;
  return vec4f(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

fn store_a4(l: GemmLoads, q: u32, v: vec4f) {
  let row = (l.xk + 4u * q) * A_PITCH + l.m_local / 4u;
  let c = l.m_local % 4u;
  a_tile[row][c] = v.x;
  a_tile[row + A_PITCH][c] = v.y;
  a_tile[row + 2u * A_PITCH][c] = v.z;
  a_tile[row + 3u * A_PITCH][c] = v.w;
}

fn load_b4(l: GemmLoads, q: u32, k0: u32) -> vec4f {
  let i = l.w_row + k0 + l.wk + 4u * q;
  if (WEIGHT_F16) {
    if (WEIGHT_PAIRS) { return vec4f(unpack2x16float(weight[i >> 1u]), unpack2x16float(weight[(i >> 1u) + 1u])); }
    return vec4f(weight_at(i), weight_at(i + 1u), weight_at(i + 2u), weight_at(i + 3u));
  }
  return vec4f(bitcast<f32>(weight[i]), bitcast<f32>(weight[i + 1u]), bitcast<f32>(weight[i + 2u]), bitcast<f32>(weight[i + 3u]));
}

fn store_b4(l: GemmLoads, q: u32, v: vec4f) {
  let row = (l.wk + 4u * q) * B_PITCH + l.n_local / 4u;
  let c = l.n_local % 4u;
  b_tile[row][c] = v.x;
  b_tile[row + B_PITCH][c] = v.y;
  b_tile[row + 2u * B_PITCH][c] = v.z;
  b_tile[row + 3u * B_PITCH][c] = v.w;
}

/** Where output (m, n) lives in y and residual. */
fn out_index(m: u32, n: u32) -> u32 {
  if (p.nchw_plane == 0u) { return m * p.cols + n; }
  return ((m / p.nchw_plane) * p.cols + n) * p.nchw_plane + m % p.nchw_plane;
}

/** The epilogue of output (m, n), which lives at y[index]: bias, scale, residual, or bias and SiLU. */
fn finish_output_at(index: u32, n: u32, value: f32) {
  var v = value;
  if (HAS_BIAS) { v += bias[n]; }
  if (SILU) { v = v / (1.0 + exp(-v)); } // x * sigmoid(x), as norm.wgsl's fused SiLU
  if (HAS_SCALE) { v *= scale[p.scale_index]; }
  if (HAS_RESIDUAL) { v += residual[index]; }
  y[index] = v;
}

fn write_output(m: u32, n: u32, value: f32, split: u32) {
  if (m >= p.rows || n >= p.cols) { return; }
  if (SPLIT_K) {
    // Partial sums in the output's layout, so that linear_split_sum reads and writes alike.
    y[split * p.rows * p.cols + out_index(m, n)] = value;
    return;
  }
  finish_output_at(out_index(m, n), n, value);
}

/** GEGLU's output j of row m from its product columns hidden and gate (no scale or residual). */
fn geglu_output(m: u32, j: u32, hidden: f32, gate: f32) {
  var h = hidden;
  var g = gate;
  if (HAS_BIAS) {
    h += bias[j];
    g += bias[p.geglu_width + j];
  }
  y[m * p.geglu_width + j] = h * gelu_of(g);
}

fn write_output4(m: u32, n: u32, values: vec4f, split: u32) {
  if (GEGLU && !SPLIT_K) {
    // n is a multiple of 4: columns n, n + 1 are hidden and gate of output n / 2, and n + 2, n + 3
    // of the next; N is even, so a pair is inside the matrix or outside it as a whole.
    if (m >= p.rows) { return; }
    if (n < p.cols) { geglu_output(m, n >> 1u, values.x, values.y); }
    if (n + 2u < p.cols) { geglu_output(m, (n >> 1u) + 1u, values.z, values.w); }
    return;
  }
  write_output(m, n, values.x, split);
  write_output(m, n + 1u, values.y, split);
  write_output(m, n + 2u, values.z, split);
  write_output(m, n + 3u, values.w, split);
}

// y = (sum over splits of partial + bias) * scale + residual. Each invocation sums SUM_VALUES
// outputs, SUM_GROUP apart, so that its loads of every split are all in flight at once and each is
// coalesced across the workgroup (with one output per invocation, SD 1.5's sums waited on their
// loads in turn, at about a quarter of the memory bandwidth).
override SUM_GROUP: u32 = 256u;
const SUM_VALUES: u32 = 4u;

@compute @workgroup_size(SUM_GROUP)
fn linear_split_sum(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let first = (wg.x + wg.y * nwg.x) * SUM_GROUP * SUM_VALUES + li;
  let count = p.rows * p.cols;
  if (GEGLU) {
    // Output j of GEGLU's row m from its product columns 2j and 2j + 1 (row-major partials).
    let outputs = p.rows * p.geglu_width;
    var hidden = array<f32, SUM_VALUES>();
    var gate = array<f32, SUM_VALUES>();
    for (var z = 0u; z < p.splits; z++) {
      for (var i = 0u; i < SUM_VALUES; i++) {
        // Outputs beyond the last read the last one's partials (in bounds) and are not written.
        let o = min(first + i * SUM_GROUP, outputs - 1u);
        let product = z * count + (o / p.geglu_width) * p.cols + 2u * (o % p.geglu_width);
        hidden[i] += partial[product];
        gate[i] += partial[product + 1u];
      }
    }
    for (var i = 0u; i < SUM_VALUES; i++) {
      let o = first + i * SUM_GROUP;
      if (o < outputs) { geglu_output(o / p.geglu_width, o % p.geglu_width, hidden[i], gate[i]); }
    }
    return;
  }
  var sums = array<f32, SUM_VALUES>();
  for (var z = 0u; z < p.splits; z++) {
    for (var i = 0u; i < SUM_VALUES; i++) { sums[i] += partial[z * count + min(first + i * SUM_GROUP, count - 1u)]; }
  }
  for (var i = 0u; i < SUM_VALUES; i++) {
    let index = first + i * SUM_GROUP;
    if (index >= count) { return; }
    // The column of y[index]: row-major [M, N], or NCHW [B, N, H, W].
    var n = index % p.cols;
    if (p.nchw_plane != 0u) { n = (index / p.nchw_plane) % p.cols; }
    finish_output_at(index, n, sums[i]);
  }
}
