// From a decoder's output to pixels.
//
// to_rgba8: image [N, C, H, W] in [-1, 1] -> one RGBA8 pixel per u32 (r in the low byte, so the
// bytes read r, g, b, a on little-endian hosts, as a canvas's ImageData wants). The mapping is
// diffusers' VaeImageProcessor.postprocess + numpy_to_pil: clamp(x / 2 + 0.5, 0, 1), then
// round(v * 255), where round is half to even in both numpy and WGSL. C = 1 is shown as grey.
//
// scale_shift: out = a * scale + shift, for the latent's 1 / scaling_factor (+ shift_factor) before
// a VAE, and TAESD's [0, 1] -> [-1, 1].

struct Params {
  count: u32,        // to_rgba8: pixels (H * W); scale_shift: elements
  channels: u32,     // to_rgba8: C, 1 or 3
  image_offset: u32, // to_rgba8: first element of image n, n * C * H * W
  _pad: u32,
  scale: f32,
  shift: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> pixels: array<u32>;

const WG: u32 = 256u;

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

fn to_byte(x: f32) -> u32 {
  return u32(round(clamp(x / 2.0 + 0.5, 0.0, 1.0) * 255.0));
}

@compute @workgroup_size(WG)
fn to_rgba8(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let base = p.image_offset + i;
  let r = to_byte(a[base]);
  var g = r;
  var b = r;
  if (p.channels == 3u) {
    g = to_byte(a[base + p.count]);
    b = to_byte(a[base + 2u * p.count]);
  }
  pixels[i] = r | (g << 8u) | (b << 16u) | (255u << 24u);
}

@compute @workgroup_size(WG)
fn scale_shift(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  out[i] = a[i] * p.scale + p.shift;
}
