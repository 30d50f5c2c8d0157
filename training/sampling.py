"""The four samplers of the app, written from diffusers' formulas (deterministic ones exactly):

  ddim     DDIMScheduler, eta = 0
  euler    EulerDiscreteScheduler (s_churn = 0)
  euler_a  EulerAncestralDiscreteScheduler
  dpmpp2m  DPMSolverMultistepScheduler, algorithm_type dpmsolver++, solver_order 2, midpoint,
           lower_order_final, final_sigmas_type zero

with timestep_spacing leading / trailing / linspace, linear or scaled_linear betas, epsilon or
v_prediction. Classifier-free guidance as in diffusers' pipelines:
  out = uncond + cfg · (cond − uncond), and cfg ≤ 1 runs the conditional half alone.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def alphas_cumprod(config: dict) -> torch.Tensor:
    """As diffusers builds it: float32 betas, float32 cumulative product."""
    t = config["num_train_timesteps"]
    if config["beta_schedule"] == "linear":
        betas = torch.linspace(config["beta_start"], config["beta_end"], t, dtype=torch.float32)
    elif config["beta_schedule"] == "scaled_linear":
        betas = torch.linspace(config["beta_start"] ** 0.5, config["beta_end"] ** 0.5, t, dtype=torch.float32) ** 2
    else:
        raise NotImplementedError(config["beta_schedule"])
    if config.get("rescale_betas_zero_snr"):
        raise NotImplementedError("rescale_betas_zero_snr")
    return torch.cumprod(1.0 - betas, dim=0)


def _spaced(config: dict, n: int, kind: str) -> np.ndarray:
    """Timesteps of each scheduler's set_timesteps (they differ in dtype and in DPM's n+1 trick)."""
    T = config["num_train_timesteps"]
    spacing = config["timestep_spacing"]
    offset = config.get("steps_offset", 0)
    if kind == "dpm":
        if spacing == "linspace":
            return np.linspace(0, T - 1, n + 1).round()[::-1][:-1].copy().astype(np.int64)
        if spacing == "leading":
            step_ratio = T // (n + 1)
            return (np.arange(0, n + 1) * step_ratio).round()[::-1][:-1].copy().astype(np.int64) + offset
        if spacing == "trailing":
            return np.arange(T, 0, -T / n).round().copy().astype(np.int64) - 1
    elif kind == "ddim":
        if spacing == "linspace":
            return np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
        if spacing == "leading":
            return (np.arange(0, n) * (T // n)).round()[::-1].copy().astype(np.int64) + offset
        if spacing == "trailing":
            return np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
    else:  # euler family: float32 timesteps
        if spacing == "linspace":
            return np.linspace(0, T - 1, n, dtype=np.float32)[::-1].copy()
        if spacing == "leading":
            ts = (np.arange(0, n) * (T // n)).round()[::-1].copy().astype(np.float32)
            return ts + offset
        if spacing == "trailing":
            return np.arange(T, 0, -T / n).round().copy().astype(np.float32) - 1
    raise NotImplementedError(spacing)


def _interp_sigmas(ac: torch.Tensor, timesteps: np.ndarray) -> np.ndarray:
    sigmas = np.array(((1 - ac) / ac) ** 0.5)
    return np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)


class DDIM:
    def __init__(self, config: dict, n: int):
        self.config, self.n = config, n
        self.ac = alphas_cumprod(config)
        self.final_ac = torch.tensor(1.0) if config.get("set_alpha_to_one", True) else self.ac[0]
        self.timesteps = torch.from_numpy(_spaced(config, n, "ddim"))
        self.init_noise_sigma = 1.0

    def scale_model_input(self, x, i):
        return x

    def step(self, out, i, x, generator=None):
        c = self.config
        t = int(self.timesteps[i])
        prev_t = t - c["num_train_timesteps"] // self.n
        a_t = self.ac[t].item()
        a_prev = (self.ac[prev_t] if prev_t >= 0 else self.final_ac).item()
        b_t = 1 - a_t
        if c["prediction_type"] == "v_prediction":
            x0 = a_t ** 0.5 * x - b_t ** 0.5 * out
            eps = a_t ** 0.5 * out + b_t ** 0.5 * x
        elif c["prediction_type"] == "epsilon":
            x0 = (x - b_t ** 0.5 * out) / a_t ** 0.5
            eps = out
        else:
            raise NotImplementedError(c["prediction_type"])
        if c.get("clip_sample"):
            r = c.get("clip_sample_range", 1.0)
            x0 = x0.clamp(-r, r)
        return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps


class Euler:
    """EulerDiscreteScheduler; with ancestral=True, EulerAncestralDiscreteScheduler."""

    def __init__(self, config: dict, n: int, ancestral: bool = False):
        self.config, self.n, self.ancestral = config, n, ancestral
        ac = alphas_cumprod(config)
        ts = _spaced(config, n, "euler")
        sigmas = np.concatenate([_interp_sigmas(ac, ts), [0.0]]).astype(np.float32)
        self.sigmas = torch.from_numpy(sigmas)
        self.timesteps = torch.from_numpy(ts.astype(np.float32))
        max_sigma = float(self.sigmas.max())
        self.init_noise_sigma = max_sigma if config["timestep_spacing"] in ("linspace", "trailing") else (max_sigma ** 2 + 1) ** 0.5

    def scale_model_input(self, x, i):
        return x / ((self.sigmas[i].item() ** 2 + 1) ** 0.5)

    def _x0(self, out, x, sigma):
        p = self.config["prediction_type"]
        if p == "v_prediction":
            return out * (-sigma / (sigma ** 2 + 1) ** 0.5) + x / (sigma ** 2 + 1)
        if p == "epsilon":
            return x - sigma * out
        raise NotImplementedError(p)

    def step(self, out, i, x, generator=None):
        sigma, sigma_next = self.sigmas[i].item(), self.sigmas[i + 1].item()
        x0 = self._x0(out, x, sigma)
        derivative = (x - x0) / sigma
        if not self.ancestral:
            return x + derivative * (sigma_next - sigma)
        sigma_up = (sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2) ** 0.5
        sigma_down = (sigma_next ** 2 - sigma_up ** 2) ** 0.5
        prev = x + derivative * (sigma_down - sigma)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return prev + noise * sigma_up


class DPMSolverPP2M:
    def __init__(self, config: dict, n: int):
        self.config, self.n = config, n
        ac = alphas_cumprod(config)
        ts = _spaced(config, n, "dpm")
        if config.get("final_sigmas_type", "zero") == "zero":
            last = 0.0
        else:
            last = float(((1 - ac[0]) / ac[0]) ** 0.5)
        self.sigmas = torch.from_numpy(np.concatenate([_interp_sigmas(ac, ts), [last]]).astype(np.float32))
        self.timesteps = torch.from_numpy(ts)
        self.init_noise_sigma = 1.0
        self.outputs: list = [None, None]
        self.lower_order_nums = 0

    def scale_model_input(self, x, i):
        return x

    @staticmethod
    def _alpha_sigma(sigma: float):
        alpha = 1.0 / (sigma ** 2 + 1) ** 0.5
        return alpha, sigma * alpha

    @staticmethod
    def _lambda(alpha: float, sigma: float) -> float:
        # log(alpha) - log(sigma); sigma = 0 gives +inf, as torch.log(0) does in diffusers.
        return math.log(alpha) - (math.log(sigma) if sigma > 0 else -math.inf)

    def step(self, out, i, x, generator=None):
        c = self.config
        n = len(self.timesteps)
        lower_order_final = i == n - 1 and (
            c.get("euler_at_final", False) or (c.get("lower_order_final", True) and n < 15)
            or c.get("final_sigmas_type", "zero") == "zero")
        lower_order_second = i == n - 2 and c.get("lower_order_final", True) and n < 15
        sigma = self.sigmas[i].item()
        alpha_s0, sigma_s0 = self._alpha_sigma(sigma)
        if c["prediction_type"] == "v_prediction":
            x0 = alpha_s0 * x - sigma_s0 * out
        elif c["prediction_type"] == "epsilon":
            x0 = (x - sigma_s0 * out) / alpha_s0
        else:
            raise NotImplementedError(c["prediction_type"])
        self.outputs = [self.outputs[1], x0]
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[i + 1].item())
        lambda_t = self._lambda(alpha_t, sigma_t)
        lambda_s0 = self._lambda(alpha_s0, sigma_s0)
        h = lambda_t - lambda_s0
        phi = math.exp(-h) - 1.0  # exp(-inf) = 0 at the zero final sigma
        if self.lower_order_nums < 1 or lower_order_final:
            prev = (sigma_t / sigma_s0) * x - (alpha_t * phi) * x0
        else:
            assert lower_order_second or c.get("solver_order", 2) == 2
            alpha_s1, sigma_s1 = self._alpha_sigma(self.sigmas[i - 1].item())
            lambda_s1 = self._lambda(alpha_s1, sigma_s1)
            m0, m1 = self.outputs[1], self.outputs[0]
            r0 = (lambda_s0 - lambda_s1) / h
            d1 = (1.0 / r0) * (m0 - m1)
            prev = (sigma_t / sigma_s0) * x - (alpha_t * phi) * m0 - 0.5 * (alpha_t * phi) * d1
        if self.lower_order_nums < c.get("solver_order", 2):
            self.lower_order_nums += 1
        return prev


def make_scheduler(name: str, config: dict, steps: int):
    if name == "ddim":
        return DDIM(config, steps)
    if name == "euler":
        return Euler(config, steps)
    if name == "euler_a":
        return Euler(config, steps, ancestral=True)
    if name == "dpmpp2m":
        return DPMSolverPP2M(config, steps)
    raise ValueError(name)


@torch.no_grad()
def sample(unet, cond: torch.Tensor, uncond: torch.Tensor, noise: torch.Tensor, sampler: str, steps: int,
           cfg: float, config: dict, generator: torch.Generator | None = None, trace: dict | None = None):
    """cond: [B, L, D] text encoder states; uncond: [1 or B, L, D]; noise: [B, C, H, W] standard normal.
    Returns the final sample (the image in [-1, 1] for a pixel-space model), float32."""
    sched = make_scheduler(sampler, config, steps)
    b = noise.shape[0]
    uncond = uncond.expand(b, -1, -1)
    x = noise.float() * sched.init_noise_sigma
    use_cfg = cfg > 1.0
    context = torch.cat([uncond, cond]) if use_cfg else cond
    for i, t in enumerate(sched.timesteps):
        xin = sched.scale_model_input(x, i)
        t_in = t.to(x.device)
        if use_cfg:
            out_u, out_c = unet(torch.cat([xin, xin]).to(context.dtype), t_in, context).float().chunk(2)
            out = out_u + cfg * (out_c - out_u)
            if trace is not None and i == 0:
                trace["first_uncond"], trace["first_cond"] = out_u.clone(), out_c.clone()
        else:
            out = unet(xin.to(context.dtype), t_in, context).float()
            if trace is not None and i == 0:
                trace["first_cond"] = out.clone()
        x = sched.step(out, i, x, generator)
    if trace is not None:
        trace["timesteps"] = sched.timesteps.float().clone()
        trace["sigmas"] = getattr(sched, "sigmas", torch.zeros(0)).float().clone()
        trace["init_noise_sigma"] = float(sched.init_noise_sigma)
    return x
