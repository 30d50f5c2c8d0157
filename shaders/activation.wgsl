// Activations over flat f32 arrays: one invocation per output element; the grid is folded into
// x*y workgroups when it is larger than 65535 (see grid1d in recorder.ts).

struct Params {
  // Output elements.
  count: u32,
  _pad0: u32,
  // scaled_tanh only: s in tanh(x / s) * s.
  scale: f32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

// gelu_of(v), the exact GELU, comes from gelu.wgsl, which activation.ts appends.

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
