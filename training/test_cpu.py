"""CPU checks of unet.py and sampling.py, no GPU and no transformers needed:

  python3 training/test_cpu.py

- the UNet builds from our config and from SD 1.5 / SD 2.x configs with the hub's parameter counts,
  and runs forward at 64×64 with the right output shape;
- attention multipliers behave as defined (q·k on logits, v on the result, out on to_out);
- every deterministic sampler solves the probability-flow ODE: for Gaussian data x0 ~ N(0, s²) the
  exact v-prediction is known, and the ODE maps x_T to x_T · s / sqrt(a_T² s² + σ_T²).
"""

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

if not hasattr(F, "scaled_dot_product_attention"):  # torch < 2.0 (Debian's python3-torch)
    def _sdpa(q, k, v):
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        return w @ v
    F.scaled_dot_product_attention = _sdpa

from model_config import SCHEDULER_BASE, UNET_CONFIG  # noqa: E402
from sampling import alphas_cumprod, sample  # noqa: E402
from unet import UNet2DConditionModel, num_params  # noqa: E402

SD15 = dict(attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280], cross_attention_dim=768,
            down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], in_channels=4, out_channels=4,
            layers_per_block=2, up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3)
SD21 = dict(SD15, attention_head_dim=[5, 10, 20, 20], cross_attention_dim=1024, use_linear_projection=True)


def test_architectures():
    if hasattr(torch.device, "__enter__"):  # torch >= 2: build on the meta device, no memory
        with torch.device("meta"):
            assert num_params(UNet2DConditionModel(SD15)) == 859_520_964
            assert num_params(UNet2DConditionModel(SD21)) == 865_910_724
    else:
        print("torch < 2: SD 1.5 / SD 2.x parameter counts not checked")
    unet = UNet2DConditionModel(UNET_CONFIG).eval()
    x = torch.randn(2, 3, 64, 64)
    ctx = torch.randn(2, 32, UNET_CONFIG["cross_attention_dim"])
    with torch.no_grad():
        out = unet(x, torch.tensor([999, 10]), ctx)
        out_scalar = unet(x, 999.0, ctx)
    assert out.shape == (2, 3, 64, 64)
    assert torch.allclose(out[0], out_scalar[0], atol=1e-5)
    keys = list(unet.state_dict())
    assert "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight" in keys
    assert "up_blocks.0.upsamplers.0.conv.weight" in keys and "mid_block.resnets.1.conv2.weight" in keys
    print("architectures ok:", num_params(unet), "params,", len(keys), "tensors")


def test_multipliers():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(UNET_CONFIG).eval()
    for p in unet.parameters():  # non-zero everywhere
        p.data.normal_(0, 0.05)
    attn = unet.mid_block.attentions[0].transformer_blocks[0].attn1
    h = torch.randn(1, 16, attn.to_q.in_features)
    with torch.no_grad():
        ref_q = attn.to_q.weight.clone()
        attn.to_q.weight.mul_(2.0)
        attn.to_v.weight.mul_(0.5)
        w_out, b_out = attn.to_out[0].weight.clone(), attn.to_out[0].bias.clone()
        attn.to_out[0].weight.mul_(3.0)
        attn.to_out[0].bias.mul_(3.0)
        scaled_weights = attn(h)
        attn.to_q.weight.copy_(ref_q)
        attn.to_v.weight.mul_(2.0)
        attn.to_out[0].weight.copy_(w_out)
        attn.to_out[0].bias.copy_(b_out)
        attn.multipliers = (2.0, 1.0, 0.5, 3.0)
        by_multipliers = attn(h)
        attn.multipliers = None
    assert torch.allclose(scaled_weights, by_multipliers, atol=1e-5), (scaled_weights - by_multipliers).abs().max()
    print("multipliers ok")


def test_samplers_solve_the_ode():
    s = 0.5  # data std
    ac = alphas_cumprod(SCHEDULER_BASE).double()

    def exact_v(x, t, ctx):
        """E[v | x_t] for x0 ~ N(0, s²); x is the model input (VP scale)."""
        tt = t.double().round().long().clamp(0, 999)
        a, sig = ac[tt].sqrt().item(), (1 - ac[tt]).sqrt().item()
        return (a * sig * (1 - s * s) / (a * a * s * s + sig * sig) * x.double()).float()

    noise = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    a_T, sig_T = ac[999].sqrt().item(), (1 - ac[999]).sqrt().item()
    expected = noise * s / math.sqrt(a_T ** 2 * s * s + sig_T ** 2)
    ctx = torch.zeros(1, 1, 1)
    # first order (ddim, euler) and second order (dpmpp2m) convergence to the exact solution
    for name, steps, tol in (("ddim", 1000, 0.005), ("euler", 1000, 0.005), ("dpmpp2m", 100, 0.005)):
        x = sample(exact_v, ctx, ctx, noise, name, steps, 1.0, SCHEDULER_BASE)
        err = ((x - expected).abs().max() / expected.abs().max()).item()
        print(f"{name:8s} {steps:4d} steps: rel err {err:.5f}")
        assert err < tol, (name, steps, err)
    # DDIM (eta 0) is Euler's method on x / alpha: the same numbers for the same timesteps
    x_ddim = sample(exact_v, ctx, ctx, noise, "ddim", 8, 1.0, SCHEDULER_BASE)
    x_euler = sample(exact_v, ctx, ctx, noise, "euler", 8, 1.0, SCHEDULER_BASE)
    assert ((x_ddim - x_euler).abs().max() / x_ddim.abs().max()).item() < 1e-3
    x = sample(exact_v, ctx, ctx, torch.randn(256, 3, 8, 8), "euler_a", 1000, 1.0, SCHEDULER_BASE,
               generator=torch.Generator().manual_seed(1))
    assert abs(x.std().item() - s) < 0.015, x.std()  # ancestral: converges in distribution
    for spacing in ("leading", "linspace"):
        cfg = dict(SCHEDULER_BASE, timestep_spacing=spacing)
        for name in ("ddim", "euler", "dpmpp2m"):
            x = sample(exact_v, ctx, ctx, noise, name, 50, 1.0, cfg)
            assert torch.isfinite(x).all(), (spacing, name)
    print("samplers ok")


if __name__ == "__main__":
    test_architectures()
    test_multipliers()
    test_samplers_solve_the_ode()
