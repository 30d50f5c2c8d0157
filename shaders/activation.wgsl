// Activations over flat f32 arrays: one invocation per output element; the grid is folded into
// x*y workgroups when it is larger than 65535 (see grid1d in recorder.ts).

struct Params {
  // Output elements.
  count: u32,
  // geglu only: D, the width of each half of an input row of 2D (hidden | gate).
  half_width: u32,
  // scaled_tanh only: s in tanh(x / s) * s.
  scale: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
const FRAC_1_SQRT_2: f32 = 0.70710678118654752;

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

// 1 + erf(z), accurate to about 1e-7 absolute. Where it is small (z <= -0.875) it comes straight from
// exp, without the cancellation of 1 + (-1 + tiny), so GELU of negative inputs keeps its relative
// accuracy too (within 1.4e-4 relative down to z = -4, measured in f32 against mpmath).
// WGSL has no erf. This follows Arm Optimized Routines' erff (math/erff.c, erff_data.c, MIT;
// minimax coefficients by Arm; worst case 1.09 ulp with a correctly rounded expf):
//   |z| < 0.875:       erf(z) = z + z * A(z^2)
//   0.875 <= |z| < 4:  erf(|z|) = 1 - exp(-(|z| + |z| * B(|z|)))
//   |z| >= 4:          erf(|z|) = 1 (1 - erf(4) = 1.5e-8)
// Measured on SwiftShader (its builtin exp included) against a float64 erf over [-6, 6]: at most
// 1.14e-7 from 1 + erf(z), about one ulp of a value in [1, 2).
fn one_plus_erf(z: f32) -> f32 {
  let a = abs(z);
  if (a < 0.875) {
    let z2 = z * z;
    var r = -0x1.3a1a82p-11f;
    r = r * z2 + 0x1.473f48p-08f;
    r = r * z2 - 0x1.b68bd2p-06f;
    r = r * z2 + 0x1.ce1a46p-04f;
    r = r * z2 - 0x1.8126e0p-02f;
    r = r * z2 + 0x1.06eba6p-03f;
    return 1.0 + (r * z + z);
  }
  if (a < 4.0) {
    var r = 0x1.222900p-16f;
    r = r * a - 0x1.91d2ccp-12f;
    r = r * a + 0x1.fd1336p-9f;
    r = r * a - 0x1.8d6300p-6f;
    r = r * a + 0x1.b55cb0p-4f;
    r = r * a + 0x1.450aa0p-1f;
    r = r * a + 0x1.079d0cp-3f;
    // 1 - erf(|z|), in (0, 0.22).
    let tail = exp(-(r * a + a));
    return select(2.0 - tail, tail, z < 0.0);
  }
  // NaN also lands here: 0.5 * NaN * 2 keeps it NaN.
  return select(2.0, 0.0, z < 0.0);
}

// GELU(x) = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))), the exact form (torch's default
// approximate='none', diffusers GELU and GEGLU).
fn gelu_of(v: f32) -> f32 {
  return 0.5 * v * one_plus_erf(v * FRAC_1_SQRT_2);
}

@compute @workgroup_size(WG)
fn gelu(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  out[i] = gelu_of(x[i]);
}

// CLIP's quick_gelu: x * sigmoid(1.702 x) (transformers activations.QuickGELUActivation).
// For very negative x, exp overflows to inf and x / inf = -0, as it should.
@compute @workgroup_size(WG)
fn quick_gelu(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let v = x[i];
  out[i] = v / (1.0 + exp(-1.702 * v));
}

@compute @workgroup_size(WG)
fn relu(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  out[i] = max(x[i], 0.0);
}

// TAESD's Clamp: tanh(x / s) * s. The argument is clamped to +-10 first (tanh(10) is 1 - 4e-9, 1 in
// f32) because some backends build tanh from exp and return inf / inf = NaN for large inputs.
@compute @workgroup_size(WG)
fn scaled_tanh(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  out[i] = tanh(clamp(x[i] / p.scale, -10.0, 10.0)) * p.scale;
}

// diffusers GEGLU after its projection: hidden, gate = x.chunk(2, dim=-1); hidden * gelu(gate).
// Output row r, column j reads x[r, j] and x[r, D + j] of the input row of width 2D.
@compute @workgroup_size(WG)
fn geglu(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let d = p.half_width;
  let row = i / d;
  let hidden = row * 2u * d + (i - row * d);
  out[i] = x[hidden] * gelu_of(x[hidden + d]);
}
