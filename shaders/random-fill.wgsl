// Fills a buffer with reproducible uniform values in [-scale, scale): random weights made on the
// GPU, so that a benchmark of an 860M-parameter UNet uploads nothing. PCG-style hash of the index.

struct Params {
  // Words to write (f32 values, or pairs of f16 when PACK_F16).
  words: u32,
  seed: u32,
  scale: f32,
  _pad: u32,
}

override PACK_F16: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

fn hash(x: u32) -> u32 {
  var h = x * 747796405u + 2891336453u;
  h = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;
  return (h >> 22u) ^ h;
}

fn uniform_value(i: u32) -> f32 {
  // 24 random bits -> [-1, 1)
  let bits = hash(i ^ hash(p.seed)) >> 8u;
  return (f32(bits) / 8388608.0 - 1.0) * p.scale;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= p.words) { return; }
  if (PACK_F16) {
    out[i] = pack2x16float(vec2f(uniform_value(2u * i), uniform_value(2u * i + 1u)));
  } else {
    out[i] = bitcast<u32>(uniform_value(i));
  }
}
