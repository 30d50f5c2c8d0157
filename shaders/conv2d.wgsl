// 2D convolution as an implicit GEMM (cuDNN's "implicit GEMM" algorithm; tfjs-backend-webgpu's
// conv2d_mm): no im2col buffer is ever written.
//
//   out[m, n] = sum_k patch[m, k] * weight[n, k]  (+ bias[n]) (+ residual[m, n])
//   m = (b, oy, ox) output pixel,  n = output channel,  k = (ci, ky, kx) in PyTorch's weight order,
//   patch[m, k] = x[b, ci, oy*stride - padding + ky, ox*stride - padding + kx]  (0 outside: zero padding)
//
// The matrix product is the register-tiled core that linear shares (src/engine/kernels/gemm-core.ts):
// its entry point `conv2d` is written out by the launcher for the tile and appended to this file,
// which supplies the loads, the workgroup tiles and the epilogue. Outputs are NCHW, so neighbouring
// invocations own neighbouring pixels m.
//
// Split K: with workgroups in z, workgroup z sums only K range [z*k_per_split, (z+1)*k_per_split) and
// writes its partial block to partial[z] (SPLIT_K on); `conv2d_split_sum` adds the partials, the bias
// and the residual. Small images with many channels (SD's 8x8 and 16x16 levels) have too few output
// tiles to fill a GPU otherwise.

struct Params {
  in_channels: u32,
  in_height: u32,
  in_width: u32,
  out_channels: u32,
  out_height: u32,
  out_width: u32,
  stride: u32,
  padding: u32,
  // GEMM sizes: M = batch * out_height * out_width, K = in_channels * KERNEL_H * KERNEL_W.
  m: u32,
  k: u32,
  // Split K: the K range of one z workgroup (a multiple of TILE_K), and the number of ranges.
  k_per_split: u32,
  splits: u32,
  // HAS_BATCH_BIAS: the value for (image b, channel n) is batch_bias[offset + b * stride + n].
  batch_bias_stride: u32,
  batch_bias_offset: u32,
  // 1: out (and residual) are tokens [N, Hout*Wout, Cout], as a transformer block reads them (a
  // transformer's proj_in), instead of NCHW.
  tokens_out: u32,
}

// Kernel size, tile shape and the optional parts change the code, so they are pipeline constants
// (the core is written out for the same tile); image sizes are uniforms.
override KERNEL_H: u32 = 3u;
override KERNEL_W: u32 = 3u;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;
override THREAD_M: u32 = 4u; // multiple of 4
override THREAD_N: u32 = 4u; // multiple of 4
// Weights (and bias) stored as f16 pairs packed in u32 words (see tensor.ts), or as f32 bits.
override WEIGHT_F16: bool = false;
override BIAS_F16: bool = false;
override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false;
// A bias per image and channel, after the bias: a ResNet block's time embedding, added in conv1's
// epilogue instead of a pass of its own.
override HAS_BATCH_BIAS: bool = false;
override SPLIT_K: bool = false;

override GROUP_M: u32 = TILE_M / THREAD_M;
override GROUP_N: u32 = TILE_N / THREAD_N;
override THREADS: u32 = GROUP_M * GROUP_N;
// Each invocation loads the same patch column (THREADS is a multiple of TILE_M) in PATCH_LOADS rows,
// and the same weight row k (THREADS is a multiple of TILE_K) in WEIGHT_LOADS columns.
override PATCH_LOADS: u32 = TILE_K * TILE_M / THREADS;
override WEIGHT_LOADS: u32 = TILE_K * TILE_N / THREADS;
// Patch tile rows are stored along m by neighbouring invocations: no padding needed. Weight tile rows
// get one vec4 of padding: its stores walk down k, and unpadded rows of TILE_N floats would all start
// in the same memory bank.
override A_PITCH: u32 = TILE_M / 4u;
override B_PITCH: u32 = TILE_N / 4u + 1u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<u32>;
// When HAS_BIAS / HAS_RESIDUAL is off the launcher binds x here: layout 'auto' keeps every binding
// the code names, and read-only bindings may alias.
@group(0) @binding(3) var<storage, read> bias: array<u32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
// The output, or with SPLIT_K the partial sums [splits, N, Cout, Hout, Wout].
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> partial: array<f32>;
// Without HAS_BATCH_BIAS the launcher binds another read-only input here.
@group(0) @binding(7) var<storage, read> batch_bias: array<f32>;

// a_tile[k][m / 4] (patches) and b_tile[k][n / 4] (weights): one TILE_K step of both GEMM operands.
var<workgroup> a_tile: array<vec4f, TILE_K * A_PITCH>;
var<workgroup> b_tile: array<vec4f, TILE_K * B_PITCH>;

fn unpack_at(words_f16: bool, word: u32, index: u32) -> f32 {
  if (words_f16) {
    let pair = unpack2x16float(word);
    return select(pair.x, pair.y, (index & 1u) == 1u);
  }
  return bitcast<f32>(word);
}

fn weight_at(index: u32) -> f32 {
  return unpack_at(WEIGHT_F16, weight[select(index, index >> 1u, WEIGHT_F16)], index);
}

fn bias_at(index: u32) -> f32 {
  return unpack_at(BIAS_F16, bias[select(index, index >> 1u, BIAS_F16)], index);
}

/** Where an output element lives: in NCHW, or in tokens [N, Hout*Wout, Cout] (m is image * plane + pixel). */
fn out_index(m: u32, n: u32) -> u32 {
  if (p.tokens_out != 0u) { return m * p.out_channels + n; }
  let plane = p.out_height * p.out_width;
  return ((m / plane) * p.out_channels + n) * plane + m % plane;
}

/** The epilogue after the K sum: bias, the per-image bias, the residual, at output index `index`
 * of image `image`, channel `n`. */
fn finish_output(value: f32, index: u32, image: u32, n: u32) -> f32 {
  var result = value;
  if (HAS_BIAS) { result += bias_at(n); }
  if (HAS_BATCH_BIAS) { result += batch_bias[p.batch_bias_offset + image * p.batch_bias_stride + n]; }
  if (HAS_RESIDUAL) { result += residual[index]; }
  return result;
}

struct GemmRange { m0: u32, n0: u32, k_begin: u32, k_end: u32 }

fn gemm_range(wg: vec3u) -> GemmRange {
  let k_begin = wg.z * p.k_per_split;
  return GemmRange(wg.x * TILE_M, wg.y * TILE_N, k_begin, min(k_begin + p.k_per_split, p.k));
}

// What an invocation loads each step: one patch column (one output pixel, decoded once) in
// PATCH_LOADS rows of k from k_row, every THREADS / TILE_M rows; and one weight row k (wk) in
// WEIGHT_LOADS columns from wn, every THREADS / TILE_K columns. Neighbouring invocations read
// neighbouring pixels of x, and neighbouring k of a weight row (contiguous in PyTorch's layout).
// Pixels and channels beyond the output are clamped to the last one (see gemm-core.ts).
struct GemmLoads {
  m_local: u32,
  k_row: u32,
  iy0: i32,
  ix0: i32,
  x_base: u32,
  wk: u32,
  wn: u32,
  n_first: u32,
  k_end: u32,
}

fn gemm_loads(range: GemmRange, li: u32) -> GemmLoads {
  let m_local = li % TILE_M;
  let m = min(range.m0 + m_local, p.m - 1u);
  let out_plane = p.out_height * p.out_width;
  let pixel = m % out_plane;
  return GemmLoads(
    m_local,
    li / TILE_M,
    i32((pixel / p.out_width) * p.stride) - i32(p.padding),
    i32((pixel % p.out_width) * p.stride) - i32(p.padding),
    (m / out_plane) * p.in_channels * p.in_height * p.in_width,
    li % TILE_K,
    li / TILE_K,
    range.n0,
    range.k_end,
  );
}

/** Row k of this invocation's patch column: x at tap (ky, kx) of input channel ci, zero outside the
 * image (zero padding) and beyond the K range. */
fn patch_at(l: GemmLoads, k: u32) -> f32 {
  let ci = k / (KERNEL_H * KERNEL_W);
  let tap = k % (KERNEL_H * KERNEL_W);
  let iy = l.iy0 + i32(tap / KERNEL_W);
  let ix = l.ix0 + i32(tap % KERNEL_W);
  if (k >= l.k_end || iy < 0 || iy >= i32(p.in_height) || ix < 0 || ix >= i32(p.in_width)) { return 0.0; }
  return x[l.x_base + (ci * p.in_height + u32(iy)) * p.in_width + u32(ix)];
}

fn patch_row(l: GemmLoads, q: u32, c: u32, k0: u32) -> u32 {
  return k0 + l.k_row + (4u * q + c) * (THREADS / TILE_M);
}

// A loop, not four calls written out: SwiftShader took minutes to compile sixteen inlined patch_at
// (the 64x16 tile's loads) as straight-line code; GPU compilers unroll a loop of four anyway.
fn load_a4(l: GemmLoads, q: u32, k0: u32) -> vec4f {
  var v: vec4f;
  for (var c = 0u; c < 4u; c++) { v[c] = patch_at(l, patch_row(l, q, c, k0)); }
  return v;
}

fn store_a4(l: GemmLoads, q: u32, v: vec4f) {
  let step = (THREADS / TILE_M) * A_PITCH;
  let row = (l.k_row + 4u * q * (THREADS / TILE_M)) * A_PITCH + l.m_local / 4u;
  let c = l.m_local % 4u;
  a_tile[row][c] = v.x;
  a_tile[row + step][c] = v.y;
  a_tile[row + 2u * step][c] = v.z;
  a_tile[row + 3u * step][c] = v.w;
}

/** Column s of this invocation's weight row at step k0: weight[n, k] for n = n_first + wn + s * step. */
fn weight_for(l: GemmLoads, s: u32, k: u32) -> f32 {
  let n = min(l.n_first + l.wn + s * (THREADS / TILE_K), p.out_channels - 1u);
  return weight_at(n * p.k + k);
}

fn load_b4(l: GemmLoads, q: u32, k0: u32) -> vec4f {
  let k = k0 + l.wk;
  return vec4f(weight_for(l, 4u * q, k), weight_for(l, 4u * q + 1u, k), weight_for(l, 4u * q + 2u, k), weight_for(l, 4u * q + 3u, k));
}

fn store_b4(l: GemmLoads, q: u32, v: vec4f) {
  let col = l.wn + 4u * q * (THREADS / TILE_K);
  let step = THREADS / TILE_K;
  let row = l.wk * B_PITCH;
  b_tile[row + col / 4u][col % 4u] = v.x;
  b_tile[row + (col + step) / 4u][(col + step) % 4u] = v.y;
  b_tile[row + (col + 2u * step) / 4u][(col + 2u * step) % 4u] = v.z;
  b_tile[row + (col + 3u * step) / 4u][(col + 3u * step) % 4u] = v.w;
}

fn write_output(m: u32, n: u32, value: f32, split: u32) {
  if (m >= p.m || n >= p.out_channels) { return; }
  let index = out_index(m, n);
  if (SPLIT_K) {
    out[split * p.m * p.out_channels + index] = value;
  } else {
    out[index] = finish_output(value, index, m / (p.out_height * p.out_width), n);
  }
}

fn write_output4(m: u32, n: u32, values: vec4f, split: u32) {
  write_output(m, n, values.x, split);
  write_output(m, n + 1u, values.y, split);
  write_output(m, n + 2u, values.z, split);
  write_output(m, n + 3u, values.w, split);
}

// out = sum over splits of partial (+ bias) (+ per-image bias) (+ residual). Each invocation sums
// SUM_VALUES outputs, SUM_GROUP apart, so that its loads of every split are all in flight at once and
// each is coalesced across the workgroup (with one output per invocation, SD 1.5's sums waited on
// their loads in turn, at about a quarter of the memory bandwidth).
override SUM_GROUP: u32 = 256u;
const SUM_VALUES: u32 = 4u;

@compute @workgroup_size(SUM_GROUP)
fn conv2d_split_sum(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let first = (wg.x + wg.y * nwg.x) * SUM_GROUP * SUM_VALUES + li;
  let count = p.m * p.out_channels;
  var sums = array<f32, SUM_VALUES>();
  for (var z = 0u; z < p.splits; z++) {
    // Outputs beyond the last read the last one's partials (in bounds) and are not written.
    for (var i = 0u; i < SUM_VALUES; i++) { sums[i] += partial[z * count + min(first + i * SUM_GROUP, count - 1u)]; }
  }
  let plane = p.out_height * p.out_width;
  for (var i = 0u; i < SUM_VALUES; i++) {
    let index = first + i * SUM_GROUP;
    if (index >= count) { return; }
    if (p.tokens_out != 0u) {
      out[index] = finish_output(sums[i], index, index / (plane * p.out_channels), index % p.out_channels);
    } else {
      let channel_row = index / plane;
      out[index] = finish_output(sums[i], index, channel_row / p.out_channels, channel_row % p.out_channels);
    }
  }
}
