// torch.nn.Linear over the last dimension, with an optional epilogue:
//   y[m, n] = (sum_k x[m, k] * weight[n, k] + bias[n]) * scale + residual[m, n]
// x is [M, K] row-major (all leading dimensions folded into M), weight is [N, K] (PyTorch layout),
// so both operands are read along K. `scale` is one f32 read at run time from a storage buffer (the
// attention "out" multiplier), so a slider changes it with a buffer write, no re-recording.
//
// Register tiling as in the classic SGEMM recipe (e.g. tfjs-backend-webgpu's matmul, Simon Boehm's
// "How to optimize a CUDA matmul"): a workgroup of 16x16 threads owns a 64x64 block of y and walks K in
// steps of 16, staging a 64x16 slice of x and of weight in workgroup memory; each thread accumulates
// a 4x4 block of y in registers, so one workgroup-memory read feeds four multiply-adds. Every load is
// bounds-checked (zero outside), so any M, K and N work, including K = 4 or 37.

struct Params {
  rows: u32,        // M
  inner: u32,       // K
  cols: u32,        // N
  scale_index: u32, // where in `scale` the output multiplier lives
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// f32 bits, or two f16 per word when WEIGHT_F16 (see tensor.ts): one declaration serves both.
@group(0) @binding(2) var<storage, read> weight: array<u32>;
// Optional inputs: when a HAS_* constant is false the launcher binds a placeholder that is never read.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false;
override HAS_SCALE: bool = false;
override WEIGHT_F16: bool = false;

const TILE: u32 = 64u;       // rows and columns of y per workgroup
const TILE_K: u32 = 16u;     // K per step
const THREADS: u32 = 16u;    // per side: 16x16 threads, each 4x4 outputs
const VEC_PER_K: u32 = TILE / 4u;

// Transposed slices, [k][m] and [k][n] as vec4s, so a thread reads its 4 rows (or 4 columns) at once.
var<workgroup> x_tile: array<vec4<f32>, TILE_K * VEC_PER_K>;
var<workgroup> w_tile: array<vec4<f32>, TILE_K * VEC_PER_K>;

fn weight_at(index: u32) -> f32 {
  if (WEIGHT_F16) {
    return unpack2x16float(weight[index >> 1u])[index & 1u];
  }
  return bitcast<f32>(weight[index]);
}

// One thread's share of a 64x16 slice of x and of weight, starting at k0: 4 rows of each, at column
// k0 + li % 16. Sixteen neighbouring threads read 16 consecutive k of a row, so global reads coalesce.
struct Staged {
  x: vec4<f32>,
  w: vec4<f32>,
}

fn fetch(k0: u32, m0: u32, n0: u32, li: u32) -> Staged {
  var staged = Staged(vec4(0.0), vec4(0.0));
  let k = k0 + li % TILE_K;
  if (k >= p.inner) { return staged; }
  for (var j = 0u; j < 4u; j++) {
    let row = li / TILE_K + j * (TILE / 4u);
    if (m0 + row < p.rows) { staged.x[j] = x[(m0 + row) * p.inner + k]; }
    if (n0 + row < p.cols) { staged.w[j] = weight_at((n0 + row) * p.inner + k); }
  }
  return staged;
}

@compute @workgroup_size(THREADS, THREADS)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * TILE;
  let n0 = wg.x * TILE;
  var acc: array<vec4<f32>, 4>;

  // Software pipelining: the next slice's global loads are issued before this slice's arithmetic,
  // so their latency hides behind it.
  var staged = fetch(0u, m0, n0, li);
  for (var k0 = 0u; k0 < p.inner; k0 += TILE_K) {
    for (var j = 0u; j < 4u; j++) {
      let row = li / TILE_K + j * (TILE / 4u);
      let slot = (li % TILE_K) * VEC_PER_K + row / 4u;
      x_tile[slot][row % 4u] = staged.x[j];
      w_tile[slot][row % 4u] = staged.w[j];
    }
    workgroupBarrier();
    if (k0 + TILE_K < p.inner) { staged = fetch(k0 + TILE_K, m0, n0, li); }
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a = x_tile[kk * VEC_PER_K + lid.y];
      let b = w_tile[kk * VEC_PER_K + lid.x];
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }

  var s = 1.0;
  if (HAS_SCALE) { s = scale[p.scale_index]; }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    if (m >= p.rows) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n >= p.cols) { break; }
      var v = acc[i][j];
      if (HAS_BIAS) { v += bias[n]; }
      v *= s;
      if (HAS_RESIDUAL) { v += residual[m * p.cols + n]; }
      y[m * p.cols + n] = v;
    }
  }
}
