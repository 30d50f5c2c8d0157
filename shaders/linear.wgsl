// torch.nn.Linear over the last dimension, with an optional epilogue:
//   y[m, n] = (sum_k x[m, k] * weight[n, k] + bias[n]) * scale + residual[m, n]
// x is [M, K] row-major (all leading dimensions folded into M), weight is [N, K] (PyTorch layout),
// so both operands are read along K. `scale` is one f32 read at run time from a storage buffer (the
// attention "out" multiplier), so a slider changes it with a buffer write, no re-recording.
//
// Register tiling as in the classic SGEMM recipe (Simon Boehm's "How to optimize a CUDA matmul",
// tfjs-backend-webgpu's matmul), with the structure of conv2d.wgsl: a workgroup owns a TILE_M x TILE_N
// block of y and walks K in TILE_K steps; each step's slices of x and weight are staged in workgroup
// memory, transposed to [k][m] and [k][n], while the next step's are already loading into registers.
// An invocation owns THREAD_M x THREAD_N outputs, in runs of 4 along n (read from workgroup memory as
// vec4s) strided by the workgroup's width, so neighbouring invocations write neighbouring columns.
//
// Global loads: both operands are contiguous along K, so each invocation loads X_RUN (W_RUN)
// consecutive k of one row of x (weight); an f16 weight run of even start is read as whole words.
// Runs that cross the edge of the matrix or of the K range take a checked, element-wise path (zero
// outside), so any M, K and N work, including K = 4 or 37.
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

// Tile shape: pipeline constants, checked by the launcher (linear.ts) against the bounds below.
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;
override THREAD_M: u32 = 4u; // multiple of 4 (x is read as vec4s of rows), at most MAX_THREAD
override THREAD_N: u32 = 4u; // multiple of 4, at most MAX_THREAD

// Sizes of private arrays must be constants.
const MAX_THREAD: u32 = 8u;
const MAX_RUN: u32 = 8u;

override GROUP_N: u32 = TILE_N / THREAD_N;
override GROUP_M: u32 = TILE_M / THREAD_M;
override THREADS: u32 = GROUP_N * GROUP_M;
// Consecutive k that one invocation loads per step from one row of x and of weight; a row of a
// slice is TILE_K / X_RUN (TILE_K / W_RUN) neighbouring invocations.
override X_RUN: u32 = TILE_K * TILE_M / THREADS;
override W_RUN: u32 = TILE_K * TILE_N / THREADS;
// Tile rows [k] get one vec4 of padding: the stores walk down k, and unpadded rows of TILE_M floats
// would all start in the same memory bank.
override X_PITCH: u32 = TILE_M / 4u + 1u;
override W_PITCH: u32 = TILE_N / 4u + 1u;

var<workgroup> x_tile: array<vec4f, TILE_K * X_PITCH>;
var<workgroup> w_tile: array<vec4f, TILE_K * W_PITCH>;

fn weight_at(index: u32) -> f32 {
  if (WEIGHT_F16) {
    let pair = unpack2x16float(weight[index >> 1u]);
    return select(pair.x, pair.y, (index & 1u) == 1u);
  }
  return bitcast<f32>(weight[index]);
}

/** X_RUN values of x from row m, k = k .. k + X_RUN - 1, zero outside [0, rows) x [.., k_end). */
fn load_x(m: u32, k: u32, k_end: u32, run: ptr<function, array<f32, MAX_RUN>>) {
  let base = m * p.inner + k;
  if (m < p.rows && k + X_RUN <= k_end) {
    for (var s = 0u; s < X_RUN; s++) { (*run)[s] = x[base + s]; }
  } else {
    for (var s = 0u; s < X_RUN; s++) {
      var v = 0.0;
      if (m < p.rows && k + s < k_end) { v = x[base + s]; }
      (*run)[s] = v;
    }
  }
}

/** W_RUN values of weight from row n, as load_x. */
fn load_w(n: u32, k: u32, k_end: u32, run: ptr<function, array<f32, MAX_RUN>>) {
  let base = n * p.inner + k;
  if (n < p.cols && k + W_RUN <= k_end) {
    if (WEIGHT_F16 && (base & 1u) == 0u && W_RUN % 2u == 0u) {
      for (var s = 0u; s < W_RUN / 2u; s++) {
        let pair = unpack2x16float(weight[(base >> 1u) + s]);
        (*run)[2u * s] = pair.x;
        (*run)[2u * s + 1u] = pair.y;
      }
    } else {
      for (var s = 0u; s < W_RUN; s++) { (*run)[s] = weight_at(base + s); }
    }
  } else {
    for (var s = 0u; s < W_RUN; s++) {
      var v = 0.0;
      if (n < p.cols && k + s < k_end) { v = weight_at(base + s); }
      (*run)[s] = v;
    }
  }
}

@compute @workgroup_size(GROUP_N, GROUP_M)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let n0 = wg.x * TILE_N;
  let m0 = wg.y * TILE_M;
  let k_begin = wg.z * p.k_per_split;
  let k_end = min(k_begin + p.k_per_split, p.inner);

  // What this invocation loads each step: row load_xm of the x slice at k offset load_xk, and row
  // load_wn of the weight slice at load_wk.
  let load_xk = (li % (TILE_K / X_RUN)) * X_RUN;
  let load_xm = li / (TILE_K / X_RUN);
  let load_wk = (li % (TILE_K / W_RUN)) * W_RUN;
  let load_wn = li / (TILE_K / W_RUN);

  var x_next: array<f32, MAX_RUN>;
  var w_next: array<f32, MAX_RUN>;
  var acc: array<array<vec4f, MAX_THREAD / 4u>, MAX_THREAD>;

  load_x(m0 + load_xm, k_begin + load_xk, k_end, &x_next);
  load_w(n0 + load_wn, k_begin + load_wk, k_end, &w_next);
  for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
    workgroupBarrier(); // everyone is done reading the previous step's tiles
    for (var s = 0u; s < X_RUN; s++) {
      x_tile[(load_xk + s) * X_PITCH + load_xm / 4u][load_xm % 4u] = x_next[s];
    }
    for (var s = 0u; s < W_RUN; s++) {
      w_tile[(load_wk + s) * W_PITCH + load_wn / 4u][load_wn % 4u] = w_next[s];
    }
    workgroupBarrier();
    // The next step's loads are in flight while this step multiplies.
    if (k0 + TILE_K < k_end) {
      load_x(m0 + load_xm, k0 + TILE_K + load_xk, k_end, &x_next);
      load_w(n0 + load_wn, k0 + TILE_K + load_wk, k_end, &w_next);
    }

    for (var kk = 0u; kk < TILE_K; kk++) {
      var b: array<vec4f, MAX_THREAD / 4u>;
      for (var j = 0u; j < THREAD_N / 4u; j++) {
        b[j] = w_tile[kk * W_PITCH + lid.x + j * GROUP_N];
      }
      for (var i = 0u; i < THREAD_M / 4u; i++) {
        let a = x_tile[kk * X_PITCH + lid.y + i * GROUP_M];
        for (var j = 0u; j < THREAD_N / 4u; j++) {
          acc[4u * i][j] = fma(vec4f(a.x), b[j], acc[4u * i][j]);
          acc[4u * i + 1u][j] = fma(vec4f(a.y), b[j], acc[4u * i + 1u][j]);
          acc[4u * i + 2u][j] = fma(vec4f(a.z), b[j], acc[4u * i + 2u][j]);
          acc[4u * i + 3u][j] = fma(vec4f(a.w), b[j], acc[4u * i + 3u][j]);
        }
      }
    }
  }

  var s = 1.0;
  if (HAS_SCALE && !SPLIT_K) { s = scale[p.scale_index]; }
  let split_offset = wg.z * p.rows * p.cols;
  for (var i = 0u; i < THREAD_M; i++) {
    let m = m0 + (lid.y + (i / 4u) * GROUP_M) * 4u + i % 4u;
    if (m >= p.rows) { continue; }
    for (var j = 0u; j < THREAD_N; j++) {
      let n = n0 + (lid.x + (j / 4u) * GROUP_N) * 4u + j % 4u;
      if (n >= p.cols) { continue; }
      let index = m * p.cols + n;
      var v = acc[i][j / 4u][j % 4u];
      if (SPLIT_K) {
        y[split_offset + index] = v;
      } else {
        if (HAS_BIAS) { v += bias[n]; }
        v *= s;
        if (HAS_RESIDUAL) { v += residual[index]; }
        y[index] = v;
      }
    }
  }
}

// y = (sum over splits of partial + bias) * scale + residual, one invocation per output element.
override SUM_GROUP: u32 = 256u;

@compute @workgroup_size(SUM_GROUP)
fn linear_split_sum(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let index = (wg.x + wg.y * nwg.x) * SUM_GROUP + li;
  let count = p.rows * p.cols;
  if (index >= count) { return; }
  var v = 0.0;
  for (var z = 0u; z < p.splits; z++) {
    v += partial[z * count + index];
  }
  if (HAS_BIAS) { v += bias[index % p.cols]; }
  if (HAS_SCALE) { v *= scale[p.scale_index]; }
  if (HAS_RESIDUAL) { v += residual[index]; }
  y[index] = v;
}
