// Perturbed-attention guidance's self-attention for the perturbed batch items: softmax replaced by
// the identity, so each token's attention result is its own value row, v · mv (diffusers'
// PAGIdentitySelfAttnProcessor2_0: to_out(to_v(x))). Written over attention's output for items
// first_item..batch-1, after attention ran; to_out and its `out` multiplier then apply as usual.
// One invocation per output value.

struct Params {
  // Output values to write: (batch - first_item) · tokens · width.
  count: u32,
  // The first token row written: first_item · tokens.
  first_row: u32,
  // Columns of the output (heads · head dim).
  width: u32,
  // v's tensor columns and v's first column in it (v may be a slice of a fused to_qkv output).
  v_stride: u32,
  v_first: u32,
  // Index of mv in the multipliers buffer (4 · site + 2); has_multipliers 0: mv = 1.
  multiplier_index: u32,
  has_multipliers: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;
// Without multipliers, v stands in here and is never read.
@group(0) @binding(2) var<storage, read> multipliers: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * WG + li;
  if (i >= p.count) { return; }
  let row = p.first_row + i / p.width;
  let column = i % p.width;
  var mv = 1.0;
  if (p.has_multipliers != 0u) { mv = multipliers[p.multiplier_index]; }
  out[row * p.width + column] = v[row * p.v_stride + p.v_first + column] * mv;
}
