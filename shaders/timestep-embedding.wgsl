// Sinusoidal timestep embedding, diffusers get_timestep_embedding (models/embeddings.py), float32:
//   exponent[k] = -ln(max_period) * k / (half - freq_shift),  k = 0 .. half-1
//   arg[n, k]   = t[n] * exp(exponent[k])
//   emb[n]      = cat(sin(arg[n]), cos(arg[n]))  (flip_sin_to_cos: cat(cos, sin)), zero-padded to dim
// The timesteps are read from a buffer at run time, so one plan serves every sampling step.
//
// Arguments reach t * 1 = 1000 radians. GPU sin, cos and exp can be far less accurate than libm:
// WGSL bounds sin and cos only on [-pi, pi], and SwiftShader's builtin sin is off by 2e-4 below 100
// radians, its exp by 1.6e-6 relative (measured). So this file evaluates all three with + - * floor
// and ldexp, which WGSL computes exactly or correctly rounded, the same on every GPU. What remains is
// exp within 1 ulp, as in torch itself: the result is within 6.1e-5 (one ulp of a 1000-radian
// argument) of diffusers' float32 arithmetic, and within 1e-4 of the unrounded formula.

struct Params {
  // N * dim output values.
  count: u32,
  dim: u32,
  half_dim: u32,
  // 1: cat(cos, sin); 0: cat(sin, cos).
  flip_sin_to_cos: u32,
  // f32(-ln(max_period)).
  neg_log_max_period: f32,
  // f32(1 / f32(half - freq_shift)): torch on CUDA divides by a scalar as a * (1 / b); on the CPU it
  // divides, which can differ by an ulp of the exponent.
  inv_freq_denominator: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> timesteps: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

// exp(x) for |x| < 88, within 1 ulp: Cephes expf.c (S. L. Moshier). x = k ln2 + r with ln2 split in
// two (C1 has 9 significant bits, so k * C1 is exact), |r| <= ln2 / 2, then a degree-7 minimax polynomial.
fn exp_f32(x: f32) -> f32 {
  let k = floor(x * 1.44269504088896341 + 0.5);
  let r = (x - k * 0.693359375) - k * -2.12194440e-4;
  var q = 1.9875691500e-4;
  q = q * r + 1.3981999507e-3;
  q = q * r + 8.3334519073e-3;
  q = q * r + 4.1665795894e-2;
  q = q * r + 1.6666665459e-1;
  q = q * r + 5.0000001201e-1;
  return ldexp(q * (r * r) + r + 1.0, i32(k));
}

// (sin x, cos x) within 8e-8 for |x| < 8192: Cephes sinf.c / cosf.c (S. L. Moshier). Reduce by
// pi/4 with a three-part constant (DP1 and DP2 have 8 and 9 significant bits, so y * DP1 and y * DP2
// are exact), then minimax polynomials on [-pi/4, pi/4] and the quadrant's symmetry.
fn sin_cos(x: f32) -> vec2f {
  let a = abs(x);
  var octant = u32(a * 1.27323954473516);  // floor(|x| / (pi/4))
  octant += octant & 1u;                   // to the nearest even octant: |r| <= pi/4
  let y = f32(octant);
  let r = ((a - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  // |x| = q pi/2 + r: sin and cos of q pi/2 + r for q = 0..3.
  let quadrant = (octant >> 1u) & 3u;
  var sc: vec2f;
  switch quadrant {
    case 0u: { sc = vec2f(s, c); }
    case 1u: { sc = vec2f(c, -s); }
    case 2u: { sc = vec2f(-s, -c); }
    default: { sc = vec2f(-c, s); }
  }
  return vec2f(select(sc.x, -sc.x, x < 0.0), sc.y);
}

@compute @workgroup_size(WG)
fn timestep_embedding(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * WG + li;
  if (i >= p.count) { return; }
  let n = i / p.dim;
  let j = i - n * p.dim;
  let half_dim = p.half_dim;
  // An odd dim gets one zero column at the end.
  if (j >= 2u * half_dim) {
    out[i] = 0.0;
    return;
  }
  let k = select(j, j - half_dim, j >= half_dim);
  let exponent = (p.neg_log_max_period * f32(k)) * p.inv_freq_denominator;
  let sc = sin_cos(timesteps[n] * exp_f32(exponent));
  let first_half = j < half_dim;
  out[i] = select(sc.y, sc.x, first_half != (p.flip_sin_to_cos != 0u));
}
