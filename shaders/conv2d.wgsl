// 2D convolution as an implicit GEMM (cuDNN's "implicit GEMM" algorithm; tfjs-backend-webgpu's
// conv2d_mm): no im2col buffer is ever written.
//
//   out[m, n] = sum_k patch[m, k] * weight[n, k]  (+ bias[n]) (+ residual[m, n])
//   m = (b, oy, ox) output pixel,  n = output channel,  k = (ci, ky, kx) in PyTorch's weight order,
//   patch[m, k] = x[b, ci, oy*stride - padding + ky, ox*stride - padding + kx]  (0 outside: zero padding)
//
// A workgroup computes a TILE_M x TILE_N block of out, walking K in TILE_K steps: each step's patch and
// weight tiles are staged in workgroup memory, and the next step's are loaded into registers while this
// one is multiplied (one barrier-separated buffer, prefetched through registers). An invocation owns
// THREAD_M x THREAD_N outputs, in runs of 4 along m and along n so that it reads workgroup memory as
// vec4s; its runs are strided by the workgroup size, so neighbouring invocations read neighbouring
// vec4s and write neighbouring pixels.
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
}

// Kernel size, tile shape and the optional parts change the code, so they are pipeline constants;
// image sizes are uniforms.
override KERNEL_H: u32 = 3u;
override KERNEL_W: u32 = 3u;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;
override THREAD_M: u32 = 4u; // multiple of 4, at most MAX_THREAD
override THREAD_N: u32 = 4u; // multiple of 4, at most MAX_THREAD
// Weights (and bias) stored as f16 pairs packed in u32 words (see tensor.ts), or as f32 bits.
override WEIGHT_F16: bool = false;
override BIAS_F16: bool = false;
override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false;
// A bias per image and channel, after the bias: a ResNet block's time embedding, added in conv1's
// epilogue instead of a pass of its own.
override HAS_BATCH_BIAS: bool = false;
override SPLIT_K: bool = false;

// Sizes of private arrays must be constants: these bound THREAD_M, THREAD_N and the loads per
// invocation. The launcher checks its tiles against the same numbers (conv2d.ts).
const MAX_THREAD: u32 = 8u;
const MAX_LOADS: u32 = 16u;

override GROUP_M: u32 = TILE_M / THREAD_M;
override GROUP_N: u32 = TILE_N / THREAD_N;
override THREADS: u32 = GROUP_M * GROUP_N;
// Each invocation loads the same patch column (THREADS is a multiple of TILE_M) in PATCH_LOADS rows,
// and the same weight row k (THREADS is a multiple of TILE_K) in WEIGHT_LOADS columns.
override PATCH_LOADS: u32 = TILE_K * TILE_M / THREADS;
override WEIGHT_LOADS: u32 = TILE_K * TILE_N / THREADS;
// Weight tile rows get one vec4 of padding: its loads walk down k, and unpadded rows of TILE_N floats
// would all start in the same memory bank.
override WEIGHT_PITCH: u32 = TILE_N / 4u + 1u;

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

// patch_tile[k][m / 4] and weight_tile[k][n / 4]: one TILE_K step of both GEMM operands.
var<workgroup> patch_tile: array<vec4f, TILE_K * TILE_M / 4u>;
var<workgroup> weight_tile: array<vec4f, TILE_K * WEIGHT_PITCH>;

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

/** Where an output element lives in NCHW. */
fn out_index(m: u32, n: u32) -> u32 {
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

/** The output pixel whose patch column an invocation loads, decoded once. */
struct PatchColumn {
  valid: bool,
  iy0: i32,
  ix0: i32,
  x_base: u32,
}

fn patch_column(m: u32) -> PatchColumn {
  let out_plane = p.out_height * p.out_width;
  let pixel = m % out_plane;
  return PatchColumn(
    m < p.m,
    i32((pixel / p.out_width) * p.stride) - i32(p.padding),
    i32((pixel % p.out_width) * p.stride) - i32(p.padding),
    (m / out_plane) * p.in_channels * p.in_height * p.in_width,
  );
}

fn patch_at(column: PatchColumn, k: u32, k_end: u32) -> f32 {
  if (!column.valid || k >= k_end) { return 0.0; }
  let ci = k / (KERNEL_H * KERNEL_W);
  let tap = k % (KERNEL_H * KERNEL_W);
  let iy = column.iy0 + i32(tap / KERNEL_W);
  let ix = column.ix0 + i32(tap % KERNEL_W);
  if (iy < 0 || iy >= i32(p.in_height) || ix < 0 || ix >= i32(p.in_width)) { return 0.0; } // zero padding
  return x[column.x_base + (ci * p.in_height + u32(iy)) * p.in_width + u32(ix)];
}

/** One TILE_K step's global loads for this invocation, into registers. */
fn load_step(
  k0: u32,
  k_end: u32,
  column: PatchColumn,
  load_k: u32,
  n_first: u32,
  wk: u32,
  patch_next: ptr<function, array<f32, MAX_LOADS>>,
  weight_next: ptr<function, array<f32, MAX_LOADS>>,
) {
  for (var s = 0u; s < PATCH_LOADS; s++) {
    (*patch_next)[s] = patch_at(column, k0 + load_k + s * (THREADS / TILE_M), k_end);
  }
  let k = k0 + wk;
  for (var s = 0u; s < WEIGHT_LOADS; s++) {
    let n = n_first + s * (THREADS / TILE_K);
    (*weight_next)[s] = select(0.0, weight_at(n * p.k + k), n < p.out_channels && k < k_end);
  }
}

@compute @workgroup_size(GROUP_M, GROUP_N)
fn conv2d(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.x * TILE_M;
  let n0 = wg.y * TILE_N;
  let k_begin = wg.z * p.k_per_split;
  let k_end = min(k_begin + p.k_per_split, p.k);

  // What this invocation loads: one patch column (one output pixel) in PATCH_LOADS rows of k, and one
  // weight row k in WEIGHT_LOADS columns (consecutive invocations read consecutive k, contiguous in
  // PyTorch's layout).
  let load_m = li % TILE_M;
  let load_k = li / TILE_M;
  let column = patch_column(m0 + load_m);
  let load_wk = li % TILE_K;
  let load_wn = li / TILE_K;

  var patch_next: array<f32, MAX_LOADS>;
  var weight_next: array<f32, MAX_LOADS>;
  var acc: array<array<vec4f, MAX_THREAD / 4u>, MAX_THREAD>;

  load_step(k_begin, k_end, column, load_k, n0 + load_wn, load_wk, &patch_next, &weight_next);
  for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
    workgroupBarrier(); // everyone is done reading the previous step's tiles
    for (var s = 0u; s < PATCH_LOADS; s++) {
      patch_tile[(load_k + s * (THREADS / TILE_M)) * (TILE_M / 4u) + load_m / 4u][load_m % 4u] = patch_next[s];
    }
    for (var s = 0u; s < WEIGHT_LOADS; s++) {
      let col = load_wn + s * (THREADS / TILE_K);
      weight_tile[load_wk * WEIGHT_PITCH + col / 4u][col % 4u] = weight_next[s];
    }
    workgroupBarrier();
    // The next step's loads are in flight while this step multiplies.
    if (k0 + TILE_K < k_end) {
      load_step(k0 + TILE_K, k_end, column, load_k, n0 + load_wn, load_wk, &patch_next, &weight_next);
    }

    for (var kk = 0u; kk < TILE_K; kk++) {
      var b: array<vec4f, MAX_THREAD / 4u>;
      for (var j = 0u; j < THREAD_N / 4u; j++) {
        b[j] = weight_tile[kk * WEIGHT_PITCH + lid.y + j * GROUP_N];
      }
      for (var i = 0u; i < THREAD_M / 4u; i++) {
        let a = patch_tile[kk * (TILE_M / 4u) + lid.x + i * GROUP_M];
        for (var j = 0u; j < THREAD_N / 4u; j++) {
          acc[4u * i][j] = fma(vec4f(a.x), b[j], acc[4u * i][j]);
          acc[4u * i + 1u][j] = fma(vec4f(a.y), b[j], acc[4u * i + 1u][j]);
          acc[4u * i + 2u][j] = fma(vec4f(a.z), b[j], acc[4u * i + 2u][j]);
          acc[4u * i + 3u][j] = fma(vec4f(a.w), b[j], acc[4u * i + 3u][j]);
        }
      }
    }
  }

  let split_offset = wg.z * p.m * p.out_channels;
  for (var i = 0u; i < THREAD_M; i++) {
    let m = m0 + (lid.x + (i / 4u) * GROUP_M) * 4u + i % 4u;
    if (m >= p.m) { continue; }
    for (var j = 0u; j < THREAD_N; j++) {
      let n = n0 + (lid.y + (j / 4u) * GROUP_N) * 4u + j % 4u;
      if (n >= p.out_channels) { continue; }
      let index = out_index(m, n);
      let value = acc[i][j / 4u][j % 4u];
      if (SPLIT_K) {
        out[split_offset + index] = value;
      } else {
        out[index] = finish_output(value, index, m / (p.out_height * p.out_width), n);
      }
    }
  }
}

// out = sum over splits of partial (+ bias) (+ per-image bias) (+ residual), one invocation per output element.
override SUM_GROUP: u32 = 256u;

@compute @workgroup_size(SUM_GROUP)
fn conv2d_split_sum(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let index = (wg.x + wg.y * nwg.x) * SUM_GROUP + li;
  let count = p.m * p.out_channels;
  if (index >= count) { return; }
  var value = 0.0;
  for (var z = 0u; z < p.splits; z++) {
    value += partial[z * count + index];
  }
  let channel_row = index / (p.out_height * p.out_width);
  out[index] = finish_output(value, index, channel_row / p.out_channels, channel_row % p.out_channels);
}
