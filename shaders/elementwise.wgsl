// Elementwise ops over flat f32 arrays. One invocation per element; the grid is folded into x*y
// workgroups when it is larger than 65535 (see grid1d in recorder.ts).

struct Params {
  count: u32,
  // For scale: the constant factor.
  factor: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

// out = a * factor (e.g. a ResNet block's 1 / output_scale_factor).
@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  out[i] = a[i] * p.factor;
}
