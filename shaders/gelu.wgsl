// Exact GELU for WGSL, shared by activation.wgsl and linear.wgsl's GEGLU epilogue (each launcher
// appends this file to its shader).
//
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
// Branch-free: both polynomials are evaluated and select() picks one, which gives the same values as
// branching. linear.wgsl's GEGLU epilogue writes GELU out up to 32 times per invocation, and many
// written-out copies of branchy code are what made SwiftShader take minutes to compile conv2d's loads
// (see load_a4 in conv2d.wgsl).
const FRAC_1_SQRT_2: f32 = 0.70710678118654752;

fn one_plus_erf(z: f32) -> f32 {
  let a = abs(z);
  let z2 = z * z;
  var r = -0x1.3a1a82p-11f;
  r = r * z2 + 0x1.473f48p-08f;
  r = r * z2 - 0x1.b68bd2p-06f;
  r = r * z2 + 0x1.ce1a46p-04f;
  r = r * z2 - 0x1.8126e0p-02f;
  r = r * z2 + 0x1.06eba6p-03f;
  let near = 1.0 + (r * z + z);
  // min(): keeps exp's argument finite beyond |z| = 4, where the result is the constant below.
  let b = min(a, 4.0);
  var t = 0x1.222900p-16f;
  t = t * b - 0x1.91d2ccp-12f;
  t = t * b + 0x1.fd1336p-9f;
  t = t * b - 0x1.8d6300p-6f;
  t = t * b + 0x1.b55cb0p-4f;
  t = t * b + 0x1.450aa0p-1f;
  t = t * b + 0x1.079d0cp-3f;
  // 1 - erf(|z|), in (0, 0.22).
  let tail = exp(-(t * b + b));
  let mid = select(2.0 - tail, tail, z < 0.0);
  // NaN falls through to the last select: 0.5 * NaN * 2 keeps it NaN.
  let far = select(2.0, 0.0, z < 0.0);
  return select(select(far, mid, a < 4.0), near, a < 0.875);
}

// GELU(x) = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))), the exact form (torch's default
// approximate='none', diffusers GELU and GEGLU).
fn gelu_of(v: f32) -> f32 {
  return 0.5 * v * one_plus_erf(v * FRAC_1_SQRT_2);
}
