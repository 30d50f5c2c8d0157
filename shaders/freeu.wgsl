// FreeU / FreeU_V2 (ComfyUI nodes_freelunch.py) on a decoder resnet's input, fused into the skip
// concatenation: out = cat([h scaled, Fourier_filter(hsp, 1, s)], dim=1).
//
// Fourier_filter with threshold 1 scales only the fftshifted block [crow−1:crow+1, ccol−1:ccol+1],
// the frequencies {0, −1} on each axis, so out_skip = hsp + (s − 1)·Re(inverse DFT of those four
// components). Since hsp is real, that real part is, with θy = 2πy/H, θx = 2πx/W:
//   (S + Ac cos θy + As sin θy + Bc cos θx + Bs sin θx + Cc cos(θy+θx) + Cs sin(θy+θx)) / (H·W)
// where S = Σ hsp, Ac/As = Σ hsp·cos/sin θy, Bc/Bs = Σ hsp·cos/sin θx, Cc/Cs = Σ hsp·cos/sin(θy+θx):
// seven sums per (item, channel) (skip_low_frequencies), no FFT. On an axis of length 1 the
// frequencies 0 and −1 are the same one, which the mask takes once: its terms are left out.
//
// The factors live in a storage buffer the UNet rewrites at run time (version, then b and s per
// level), so slider moves and step ranges never re-record the plan.

struct Params {
  // Elements of dst (freeu_concat) or planes (skip_low_frequencies) or pixels·items (channel_mean).
  count: u32,
  // Channels of h and of hsp.
  h_channels: u32,
  skip_channels: u32,
  height: u32,
  width: u32,
  // Which (b, s) of the factor buffer: 0 = model_channels·4, 1 = ·2.
  level: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read> hsp: array<f32>;
// [version, b of level 0, s of level 0, b of level 1, s of level 1, ...]
@group(0) @binding(3) var<storage, read> factors: array<f32>;
// Per (item, skip channel): S, Ac, As, Bc, Bs, Cc, Cs, unused.
@group(0) @binding(4) var<storage, read_write> sums: array<f32>;
// Per item and pixel: h's mean over channels; then per item: its min and max.
@group(0) @binding(5) var<storage, read_write> means: array<f32>;
@group(0) @binding(6) var<storage, read_write> ranges: array<f32>;
@group(0) @binding(7) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;
const TAU: f32 = 6.283185307179586;
const SUMS: u32 = 8u;

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

// (cos, sin) of 2π·k/n. Our own polynomials, not WGSL's cos and sin: those may be as coarse as 2^-11
// (Vulkan's bound; SwiftShader's errors reached 1.8e-4 of the output here). The angle is split exactly
// in integers into quarter turns q and a rest |a| ≤ π/4, where Taylor series to a^9 are float-exact.
fn twiddle(k: u32, n: u32) -> vec2f {
  let r = i32(k % n);
  let m = i32(n);
  let q = (8 * r + m) / (2 * m);
  let a = TAU * f32(4 * r - q * m) / f32(4 * m);
  let a2 = a * a;
  let s = a * (1.0 + a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 / 362880.0))));
  let c = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 / 40320.0)));
  switch (q % 4) {
    case 1: { return vec2f(-s, c); }
    case 2: { return vec2f(-c, -s); }
    case 3: { return vec2f(s, -c); }
    default: { return vec2f(c, s); }
  }
}

// The joint term's (cos, sin) of θy + θx, from those of θy and θx (a complex product).
fn rotate(a: vec2f, b: vec2f) -> vec2f {
  return vec2f(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

// The seven sums in two vec4s, (S, Ac, As, Bc) and (Bs, Cc, Cs, 0): whole-vector adds, no indexed
// arrays (SwiftShader spilled those to memory and took 40× longer).
const REDUCE_WG: u32 = 64u;
var<workgroup> partial_a: array<vec4f, REDUCE_WG>;
var<workgroup> partial_b: array<vec4f, REDUCE_WG>;

// One workgroup per (item, skip channel): the seven sums of its plane.
@compute @workgroup_size(REDUCE_WG)
fn skip_low_frequencies(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let plane = wg.x + wg.y * nwg.x;
  // Uniform across the workgroup, so the barriers below stay in uniform control flow.
  let in_range = plane < p.count;
  let hw = p.height * p.width;
  var a = vec4f(0.0);
  var b = vec4f(0.0);
  if (in_range) {
    for (var i = li; i < hw; i += REDUCE_WG) {
      let v = hsp[plane * hw + i];
      let ty = twiddle(i / p.width, p.height);
      let tx = twiddle(i % p.width, p.width);
      let txy = rotate(ty, tx);
      a += v * vec4f(1.0, ty.x, ty.y, tx.x);
      b += v * vec4f(tx.y, txy.x, txy.y, 0.0);
    }
  }
  partial_a[li] = a;
  partial_b[li] = b;
  for (var stride = REDUCE_WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (li < stride) {
      partial_a[li] += partial_a[li + stride];
      partial_b[li] += partial_b[li + stride];
    }
  }
  workgroupBarrier();
  if (in_range && li == 0u) {
    let k = plane * SUMS;
    let ta = partial_a[0];
    let tb = partial_b[0];
    sums[k] = ta.x;
    sums[k + 1u] = ta.y;
    sums[k + 2u] = ta.z;
    sums[k + 3u] = ta.w;
    sums[k + 4u] = tb.x;
    sums[k + 5u] = tb.y;
    sums[k + 6u] = tb.z;
  }
}

// One invocation per (item, pixel): h's mean over its channels (FreeU_V2's hidden_mean).
@compute @workgroup_size(WG)
fn channel_mean(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let hw = p.height * p.width;
  let item = i / hw;
  let pixel = i % hw;
  var total = 0.0;
  for (var c = 0u; c < p.h_channels; c++) { total += h[(item * p.h_channels + c) * hw + pixel]; }
  means[i] = total / f32(p.h_channels);
}

var<workgroup> low: array<f32, WG>;
var<workgroup> high: array<f32, WG>;

// One workgroup per item: the min and max of its channel means over the pixels.
@compute @workgroup_size(WG)
fn mean_range(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let item = wg.x;
  let hw = p.height * p.width;
  var lo = 3.4028234663852886e38;
  var hi = -3.4028234663852886e38;
  for (var i = li; i < hw; i += WG) {
    let v = means[item * hw + i];
    lo = min(lo, v);
    hi = max(hi, v);
  }
  low[li] = lo;
  high[li] = hi;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (li < stride) {
      low[li] = min(low[li], low[li + stride]);
      high[li] = max(high[li], high[li + stride]);
    }
  }
  if (li == 0u) {
    ranges[2u * item] = low[0];
    ranges[2u * item + 1u] = high[0];
  }
}

// dst = cat([h with its first half of channels scaled, hsp with its lowest frequencies scaled]).
// b = 1 and s = 1 (off, or outside the step range) copy h and hsp exactly, as a plain concat does.
@compute @workgroup_size(WG)
fn freeu_concat(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let hw = p.height * p.width;
  let h_item = p.h_channels * hw;
  let skip_item = p.skip_channels * hw;
  let item = i / (h_item + skip_item);
  let offset = i % (h_item + skip_item);
  let pixel = offset % hw;
  let b = factors[1u + 2u * p.level];
  let s = factors[2u + 2u * p.level];
  if (offset < h_item) {
    let v = h[item * h_item + offset];
    var factor = b;
    if (factors[0] == 2.0) {
      let lo = ranges[2u * item];
      let spread = ranges[2u * item + 1u] - lo;
      // A flat mean (max = min) is 0/0 in ComfyUI; we leave h unscaled there (hm = 0).
      let hm = select(0.0, (means[item * hw + pixel] - lo) / spread, spread > 0.0);
      factor = (b - 1.0) * hm + 1.0;
    }
    let scaled = offset / hw < p.h_channels / 2u && b != 1.0;
    dst[i] = select(v, v * factor, scaled);
    return;
  }
  let at = offset - h_item;
  let v = hsp[item * skip_item + at];
  if (s == 1.0) {
    dst[i] = v;
    return;
  }
  let plane = item * p.skip_channels + at / hw;
  let y = pixel / p.width;
  let x = pixel % p.width;
  let ty = twiddle(y, p.height);
  let tx = twiddle(x, p.width);
  let txy = rotate(ty, tx);
  let k = plane * SUMS;
  var low_pass = sums[k];
  let rows = p.height > 1u;
  let cols = p.width > 1u;
  if (rows) { low_pass += sums[k + 1u] * ty.x + sums[k + 2u] * ty.y; }
  if (cols) { low_pass += sums[k + 3u] * tx.x + sums[k + 4u] * tx.y; }
  if (rows && cols) { low_pass += sums[k + 5u] * txy.x + sums[k + 6u] * txy.y; }
  dst[i] = v + (s - 1.0) * low_pass / f32(hw);
}
