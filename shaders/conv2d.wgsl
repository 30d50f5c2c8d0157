// 2D convolution as an implicit GEMM (as in cuDNN's "implicit GEMM" algorithm and
// tfjs-backend-webgpu's conv2d_mm): no im2col buffer is ever written.
//
//   out[m, n] = sum_k patch[m, k] * weight[n, k]  (+ bias[n]) (+ residual[m, n])
//   m = (b, oy, ox) output pixel,  n = output channel,  k = (ci, ky, kx) in PyTorch's weight order,
//   patch[m, k] = x[b, ci, oy*stride - padding + ky, ox*stride - padding + kx]  (0 outside: zero padding)
//
// Each workgroup computes a TILE_M x TILE_N block of out; each invocation a 4 x 4 sub-block, strided by
// the workgroup size so that neighbouring invocations read neighbouring workgroup memory and write
// neighbouring output pixels. K is walked in TILE_K steps: the patch and weight tiles for a step are
// staged in workgroup memory, then every invocation accumulates its 16 outputs in f32.

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
}

// Kernel size and tile shape change the code, so they are pipeline constants; image sizes are uniforms.
override KERNEL_H: u32 = 3u;
override KERNEL_W: u32 = 3u;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;
// Weights (and bias) stored as f16 pairs packed in u32 words (see tensor.ts), or as f32 bits.
override WEIGHT_F16: bool = false;
override BIAS_F16: bool = false;
override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false;

// Outputs per invocation along M and N. The launcher only knows TILE_M and TILE_N; it makes them
// multiples of 4*(a power of two) so that every loop below divides evenly.
const THREAD_M: u32 = 4u;
const THREAD_N: u32 = 4u;
override GROUP_M: u32 = TILE_M / THREAD_M;
override GROUP_N: u32 = TILE_N / THREAD_N;
override THREADS: u32 = GROUP_M * GROUP_N;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<u32>;
// When HAS_BIAS / HAS_RESIDUAL is off the launcher binds x here: layout 'auto' keeps every binding
// the code names, and read-only bindings may alias.
@group(0) @binding(3) var<storage, read> bias: array<u32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// patch_tile[k][m] and weight_tile[k][n]: one TILE_K step of both GEMM operands.
var<workgroup> patch_tile: array<f32, TILE_K * TILE_M>;
var<workgroup> weight_tile: array<f32, TILE_K * TILE_N>;

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

@compute @workgroup_size(GROUP_M, GROUP_N)
fn conv2d(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.x * TILE_M;
  let n0 = wg.y * TILE_N;
  let in_plane = p.in_height * p.in_width;
  let out_plane = p.out_height * p.out_width;

  // The patch tile is loaded row by row of k, with `li % TILE_M` as its column: THREADS is a multiple
  // of TILE_M, so each invocation always loads the same output pixel. Decode that pixel once.
  let load_m = li % TILE_M;
  let load_k = li / TILE_M;
  let patch_m = m0 + load_m;
  let patch_valid = patch_m < p.m;
  let patch_b = patch_m / out_plane;
  let patch_pixel = patch_m % out_plane;
  let iy0 = i32((patch_pixel / p.out_width) * p.stride) - i32(p.padding);
  let ix0 = i32((patch_pixel % p.out_width) * p.stride) - i32(p.padding);
  let x_base = patch_b * p.in_channels * in_plane;

  // The weight tile is loaded along k (contiguous in PyTorch's layout) so that reads coalesce.
  let load_wk = li % TILE_K;
  let load_wn = li / TILE_K;

  var acc: array<array<f32, THREAD_N>, THREAD_M>;
  for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
    for (var row = load_k; row < TILE_K; row += THREADS / TILE_M) {
      let k = k0 + row;
      var value = 0.0;
      if (patch_valid && k < p.k) {
        let ci = k / (KERNEL_H * KERNEL_W);
        let tap = k % (KERNEL_H * KERNEL_W);
        let iy = iy0 + i32(tap / KERNEL_W);
        let ix = ix0 + i32(tap % KERNEL_W);
        if (iy >= 0 && iy < i32(p.in_height) && ix >= 0 && ix < i32(p.in_width)) {
          value = x[x_base + ci * in_plane + u32(iy) * p.in_width + u32(ix)];
        }
      }
      patch_tile[row * TILE_M + load_m] = value;
    }
    for (var col = load_wn; col < TILE_N; col += THREADS / TILE_K) {
      let n = n0 + col;
      let k = k0 + load_wk;
      var value = 0.0;
      if (n < p.out_channels && k < p.k) {
        value = weight_at(n * p.k + k);
      }
      weight_tile[load_wk * TILE_N + col] = value;
    }
    workgroupBarrier();

    for (var kk = 0u; kk < TILE_K; kk++) {
      var a: array<f32, THREAD_M>;
      var b: array<f32, THREAD_N>;
      for (var i = 0u; i < THREAD_M; i++) {
        a[i] = patch_tile[kk * TILE_M + lid.x + i * GROUP_M];
      }
      for (var j = 0u; j < THREAD_N; j++) {
        b[j] = weight_tile[kk * TILE_N + lid.y + j * GROUP_N];
      }
      for (var i = 0u; i < THREAD_M; i++) {
        for (var j = 0u; j < THREAD_N; j++) {
          acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < THREAD_M; i++) {
    let m = m0 + lid.x + i * GROUP_M;
    if (m >= p.m) { continue; }
    let base = (m / out_plane) * p.out_channels * out_plane + m % out_plane;
    for (var j = 0u; j < THREAD_N; j++) {
      let n = n0 + lid.y + j * GROUP_N;
      if (n >= p.out_channels) { continue; }
      let index = base + n * out_plane;
      var value = acc[i][j];
      if (HAS_BIAS) { value += bias_at(n); }
      if (HAS_RESIDUAL) { value += residual[index]; }
      out[index] = value;
    }
  }
}
