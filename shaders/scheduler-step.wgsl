// The sampler's work between two UNet calls, on the GPU, so that a whole sampling runs without
// reading anything back (src/engine/sampling/gpu-denoise.ts). One invocation per latent value.
//
//   model_input:  model_in = [x / divisor, x / divisor]  (the second copy only with guidance; one
//                 more for perturbed-attention guidance's perturbed item)
//   step:         eps = u + g·(c − u) (or the model output as is) [+ s·(c − perturbed)], then the scheduler's update of
//                 x and its x0 prediction, with the step's float32 coefficients from its
//                 stepFormula(); the formulas mirror the schedulers' step() (scheduler-*.ts):
//     dpmpp2m  x0 = α·x − σ̃·v  or  (x − σ̃·ε)/α;   x' = s·x − c·x0 [− k·r·(x0 − x0_prev)]
//     euler    x0 = v·o + x/d  or  x − σ·ε;   x' = x + (x − x0)/σ·dt [+ σ_up·noise]
//     ddim     x0, ε from x and the output;  x0 clamped;  x' = √ᾱ_prev·x0 + √(1−ᾱ_prev)·ε
// x is updated in place; pred_original holds x0 (DPM++ 2M reads it back as x0_prev next step).
// A non-finite x or x0 records its step in first_bad_step.

struct Params {
  // Latent values per copy (every image of the batch).
  count: u32,
  // 1: the model output is [uncond, cond] (classifier-free guidance), 2 * count values.
  guided: u32,
  // 0 DPM++ 2M, 1 Euler (and ancestral), 2 DDIM.
  formula: u32,
  // bit 0: v-prediction; bit 1: DPM++ second order, or Euler ancestral.
  flags: u32,
  guidance: f32,
  input_divisor: f32,
  // The formula's coefficients, in the order gpu-denoise.ts writes them.
  c0: f32,
  c1: f32,
  c2: f32,
  c3: f32,
  c4: f32,
  c5: f32,
  // The step's index, for first_bad_step.
  step: u32,
  // 1: the model output has a perturbed-attention item after cond (PAG), scaled by perturbed_scale.
  perturbed: u32,
  perturbed_scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> latents: array<f32>;
@group(0) @binding(2) var<storage, read> model_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> pred_original: array<f32>;
// Euler ancestral's draw for this step; the model output stands in where it is not read.
@group(0) @binding(4) var<storage, read> noise: array<f32>;
@group(0) @binding(5) var<storage, read_write> model_in: array<f32>;
// The first step whose x or x0 is NaN or ±Infinity (atomicMin; 0xffffffff while all are finite),
// read back with the image so a broken render is reported instead of shown as a flat picture.
@group(0) @binding(6) var<storage, read_write> first_bad_step: array<atomic<u32>>;

// By the bits, since compilers may assume float arithmetic never yields NaN or Infinity.
fn is_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

const WG: u32 = 256u;

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * WG + li;
}

@compute @workgroup_size(WG)
fn model_input(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  let value = latents[i] / p.input_divisor;
  model_in[i] = value;
  if (p.guided != 0u) { model_in[p.count + i] = value; }
  if (p.perturbed != 0u) { model_in[(1u + p.guided) * p.count + i] = value; }
}

@compute @workgroup_size(WG)
fn step(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= p.count) { return; }
  var out = model_out[i];
  if (p.guided != 0u) { out = out + p.guidance * (model_out[p.count + i] - out); }
  if (p.perturbed != 0u) {
    let cond = model_out[p.guided * p.count + i];
    out = out + p.perturbed_scale * (cond - model_out[(1u + p.guided) * p.count + i]);
  }
  let x = latents[i];
  let v_prediction = (p.flags & 1u) != 0u;
  let second = (p.flags & 2u) != 0u;
  var x0: f32;
  var next: f32;
  switch (p.formula) {
    case 0u: { // DPM++ 2M: c0 α, c1 σ̃, c2 sample scale, c3 x0 scale, c4 1/r, c5 correction scale
      x0 = select((x - p.c1 * out) / p.c0, p.c0 * x - p.c1 * out, v_prediction);
      next = p.c2 * x - p.c3 * x0;
      if (second) { next -= p.c5 * (p.c4 * (x0 - pred_original[i])); }
    }
    case 1u: { // Euler: c0 σ, c1 v scale, c2 v denominator, c3 dt, c4 σ_up
      x0 = select(x - p.c0 * out, out * p.c1 + x / p.c2, v_prediction);
      next = x + ((x - x0) / p.c0) * p.c3;
      if (second) { next += noise[i] * p.c4; }
    }
    default: { // DDIM: c0 √ᾱ, c1 √(1−ᾱ), c2 √ᾱ_prev, c3 √(1−ᾱ_prev), c4 clip range
      var eps = out;
      if (v_prediction) {
        x0 = p.c0 * x - p.c1 * out;
        eps = p.c0 * out + p.c1 * x;
      } else {
        x0 = (x - p.c1 * out) / p.c0;
      }
      x0 = clamp(x0, -p.c4, p.c4);
      next = p.c2 * x0 + p.c3 * eps;
    }
  }
  pred_original[i] = x0;
  latents[i] = next;
  if (!(is_finite(next) && is_finite(x0))) { atomicMin(&first_bad_step[0], p.step); }
}
