// The noise schedule of diffusers' schedulers, computed with the same arithmetic: PyTorch's
// float32 ops where diffusers uses torch tensors (betas, alphas_cumprod, sigmas) and numpy's
// float64 where it uses numpy (timesteps, np.interp). Each torch op rounds to float32, which
// `f32` (Math.fround) reproduces; JavaScript's own arithmetic is IEEE float64 like numpy's.
import type { SchedulerConfig } from './scheduler-config';

export const f32 = Math.fround;

/**
 * torch.linspace(start, end, steps, dtype=torch.float32) on the CPU (aten RangeFactoriesKernel):
 * step = (end − start) / (steps − 1) in float32; the first half counts up from `start`, the
 * second down from `end`, each value as one fused multiply-add (start + step·i rounded once;
 * PyTorch's x86 builds contract it). Checked bit for bit against PyTorch 2.11 (AVX-512 and AVX2).
 * In float64, step·i is exact and so is the sum for beta-sized ranges, so one f32 rounding is the FMA's.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < half ? s + step * i : e - step * (steps - i - 1);
  return out;
}

/** diffusers' betas: float32, from trained_betas or the named schedule. */
export function betasFor(config: SchedulerConfig): Float32Array {
  const n = config.num_train_timesteps;
  let betas: Float32Array;
  if (config.trained_betas) betas = Float32Array.from(config.trained_betas);
  else if (config.beta_schedule === 'linear') betas = torchLinspaceF32(config.beta_start, config.beta_end, n);
  else if (config.beta_schedule === 'scaled_linear') {
    // torch.linspace(beta_start**0.5, beta_end**0.5, n) ** 2; the square roots are Python floats.
    betas = torchLinspaceF32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n).map((r) => r * r);
  } else betas = cosineBetas(n);
  return config.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(betas) : betas;
}

/**
 * Glide's cosine schedule (Nichol & Dhariwal 2021, eq. 17), diffusers' betas_for_alpha_bar:
 * float64 in Python, then one float32 tensor.
 */
function cosineBetas(n: number): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  return Float32Array.from({ length: n }, (_, i) => Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
}

/**
 * torch.cumprod(1 - betas) on the CPU: the running product is kept in double (ATen's
 * acc_type<float> is double on CPU) and each prefix is rounded to float32.
 */
export function alphasCumprodFor(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= f32(1 - betas[i]);
    out[i] = product;
  }
  return out;
}

/** Lin et al. 2023 (https://arxiv.org/abs/2305.08891), Algorithm 1, in float32 as diffusers runs it. */
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const root = alphasCumprodFor(betas).map(Math.sqrt);
  const first = root[0];
  const last = root[root.length - 1];
  const scale = f32(first / f32(first - last));
  const alphaBar = root.map((r) => {
    const shifted = f32(f32(r - last) * scale);
    return shifted * shifted;
  });
  return alphaBar.map((a, i) => f32(1 - (i === 0 ? a : f32(a / alphaBar[i - 1]))));
}

/** ((1 − ᾱ) / ᾱ) ** 0.5 in float32: the noise level of each training timestep (Karras et al. 2022, σ(t)). */
export function sigmasFor(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => Math.sqrt(f32(f32(1 - a) / a)));
}

/** numpy's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** np.linspace(start, stop, num) in float64: i · ((stop − start) / (num − 1)) + start, the last value exactly `stop`. */
export function numpyLinspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : i * step + start));
}

/**
 * np.arange(start, stop, step) with a float step: ceil((stop − start) / step) values
 * start + i·δ, where δ = (start + step) − start (numpy's DOUBLE_fill). The length can exceed
 * the step count by one (1000 / 61 steps gives 62 values), and diffusers keeps that value.
 */
export function numpyArange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  return Array.from({ length }, (_, i) => (i === 0 ? start : i === 1 ? start + step : start + i * delta));
}

/**
 * np.interp(x, arange(len(fp)), fp) in float64: linear between integer knots, exact at them,
 * clamped to the ends (numpy's arr_interp computes slope·(x − x_j) + f_j).
 */
export function interpAtTimestep(x: number, fp: Float32Array): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (x === j) return fp[j];
  return (fp[j + 1] - fp[j]) * (x - j) + fp[j];
}
