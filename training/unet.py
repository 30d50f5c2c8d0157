"""UNet2DConditionModel in plain PyTorch, built from a diffusers config.json.

Module names follow diffusers exactly, so `state_dict()` keys are the Hugging Face hub keys
(`down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight`, ...) and a checkpoint saved
here loads in diffusers and in our WGSL engine, and a hub checkpoint loads here.

Covers the configs of Stable Diffusion 1.x / 2.x and our small pixel-space model: CrossAttnDownBlock2D,
DownBlock2D, UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D, UpBlock2D; attention_head_dim (which
diffusers reads as the number of heads) int or per block; use_linear_projection;
transformer_layers_per_block int or per block; cross_attention_dim int or per block. Anything else
(class or addition embeddings, dual cross-attention, ...) is rejected rather than silently ignored.

Semantics checked against diffusers' unet_2d_condition.py, unet_2d_blocks.py, resnet.py,
attention.py (BasicTransformerBlock, FeedForward, GEGLU), attention_processor.py (AttnProcessor2_0),
transformer_2d.py and embeddings.py (get_timestep_embedding, TimestepEmbedding).

Every attention module takes ComfyUI-style multipliers (`Attention.multipliers = (q, k, v, out)`):
logits × q·k, attention result × v, to_out output × out — what scaling the to_q, to_k, to_v and
to_out.0 weights (and to_out.0 bias) does, as ComfyUI's UNetSelfAttentionMultiply does.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def get_timestep_embedding(
    timesteps: torch.Tensor,
    embedding_dim: int,
    flip_sin_to_cos: bool = False,
    downscale_freq_shift: float = 1.0,
    scale: float = 1.0,
    max_period: int = 10000,
) -> torch.Tensor:
    """diffusers.models.embeddings.get_timestep_embedding (DDPM sinusoidal embedding), in float32."""
    half_dim = embedding_dim // 2
    exponent = -math.log(max_period) * torch.arange(half_dim, dtype=torch.float32, device=timesteps.device)
    exponent = exponent / (half_dim - downscale_freq_shift)
    emb = timesteps[:, None].float() * torch.exp(exponent)[None, :]
    emb = scale * emb
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half_dim:], emb[:, :half_dim]], dim=-1)
    if embedding_dim % 2 == 1:
        emb = F.pad(emb, (0, 1, 0, 0))
    return emb


class Timesteps(nn.Module):
    def __init__(self, num_channels: int, flip_sin_to_cos: bool, downscale_freq_shift: float):
        super().__init__()
        self.num_channels = num_channels
        self.flip_sin_to_cos = flip_sin_to_cos
        self.downscale_freq_shift = downscale_freq_shift

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        return get_timestep_embedding(
            timesteps, self.num_channels, self.flip_sin_to_cos, self.downscale_freq_shift
        )


class TimestepEmbedding(nn.Module):
    def __init__(self, in_channels: int, time_embed_dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, time_embed_dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(time_embed_dim, time_embed_dim)

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(sample)))


class ResnetBlock2D(nn.Module):
    """resnet.py ResnetBlock2D with time_embedding_norm="default", no up/down-sampling."""

    def __init__(self, in_channels, out_channels, temb_channels, groups, eps, output_scale_factor=1.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps, affine=True)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps, affine=True)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.conv_shortcut = (
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0)
            if in_channels != out_channels
            else None
        )
        self.output_scale_factor = output_scale_factor

    def forward(self, input_tensor: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(input_tensor)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if self.conv_shortcut is not None:
            input_tensor = self.conv_shortcut(input_tensor)
        return (input_tensor + h) / self.output_scale_factor


class Attention(nn.Module):
    """attention_processor.Attention with AttnProcessor2_0: no bias on q/k/v, bias on to_out.0,
    softmax scale 1/sqrt(head_dim)."""

    def __init__(self, query_dim: int, cross_attention_dim: int | None, heads: int, dim_head: int):
        super().__init__()
        inner_dim = heads * dim_head
        kv_dim = cross_attention_dim if cross_attention_dim is not None else query_dim
        self.heads = heads
        self.dim_head = dim_head
        self.to_q = nn.Linear(query_dim, inner_dim, bias=False)
        self.to_k = nn.Linear(kv_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(kv_dim, inner_dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner_dim, query_dim), nn.Dropout(0.0)])
        # ComfyUI-style (q, k, v, out) factors; None = all 1.
        self.multipliers: tuple[float, float, float, float] | None = None

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None):
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        b, n, _ = hidden_states.shape
        q = self.to_q(hidden_states).view(b, -1, self.heads, self.dim_head).transpose(1, 2)
        k = self.to_k(context).view(b, -1, self.heads, self.dim_head).transpose(1, 2)
        v = self.to_v(context).view(b, -1, self.heads, self.dim_head).transpose(1, 2)
        m = self.multipliers
        if m is not None and m[0] * m[1] != 1.0:
            q = q * (m[0] * m[1])  # logits are linear in q and in k
        out = F.scaled_dot_product_attention(q, k, v)
        if m is not None and m[2] != 1.0:
            out = out * m[2]  # softmax rows sum to 1: scaling v scales the result
        out = out.transpose(1, 2).reshape(b, n, self.heads * self.dim_head)
        out = self.to_out[1](self.to_out[0](out))
        if m is not None and m[3] != 1.0:
            out = out * m[3]
        return out


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)  # exact (erf) GELU, as diffusers' GEGLU


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        inner = dim * mult
        self.net = nn.ModuleList([GEGLU(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.net:
            x = module(x)
        return x


class BasicTransformerBlock(nn.Module):
    """attention.BasicTransformerBlock, norm_type="layer_norm": self-attn, cross-attn, GEGLU FF."""

    def __init__(self, dim: int, heads: int, dim_head: int, cross_attention_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5, elementwise_affine=True)
        self.attn1 = Attention(dim, None, heads, dim_head)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5, elementwise_affine=True)
        self.attn2 = Attention(dim, cross_attention_dim, heads, dim_head)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5, elementwise_affine=True)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        x = self.ff(self.norm3(x)) + x
        return x


class Transformer2DModel(nn.Module):
    """transformers/transformer_2d.py, continuous input: GroupNorm (eps 1e-6), proj_in (1×1 conv, or
    linear after flattening when use_linear_projection), transformer blocks, proj_out, residual."""

    def __init__(self, heads, dim_head, in_channels, num_layers, cross_attention_dim, groups, use_linear_projection):
        super().__init__()
        inner = heads * dim_head
        self.use_linear_projection = use_linear_projection
        self.norm = nn.GroupNorm(groups, in_channels, eps=1e-6, affine=True)
        if use_linear_projection:
            self.proj_in = nn.Linear(in_channels, inner)
        else:
            self.proj_in = nn.Conv2d(in_channels, inner, kernel_size=1, stride=1, padding=0)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, cross_attention_dim) for _ in range(num_layers)]
        )
        if use_linear_projection:
            self.proj_out = nn.Linear(inner, in_channels)
        else:
            self.proj_out = nn.Conv2d(inner, in_channels, kernel_size=1, stride=1, padding=0)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        residual = x
        x = self.norm(x)
        if not self.use_linear_projection:
            x = self.proj_in(x)
            inner = x.shape[1]
            x = x.permute(0, 2, 3, 1).reshape(b, h * w, inner)
        else:
            inner = x.shape[1]
            x = self.proj_in(x.permute(0, 2, 3, 1).reshape(b, h * w, inner))
            inner = x.shape[-1]
        for block in self.transformer_blocks:
            x = block(x, context)
        if not self.use_linear_projection:
            x = self.proj_out(x.reshape(b, h, w, inner).permute(0, 3, 1, 2).contiguous())
        else:
            x = self.proj_out(x).reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous()
        return x + residual


class Downsample2D(nn.Module):
    def __init__(self, channels: int, padding: int):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1), mode="constant", value=0)
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=output_size, mode="nearest")
        return self.conv(x)


def _per_layer(value, n: int) -> list:
    return [value] * n if isinstance(value, int) else list(value)


class DownBlock(nn.Module):
    """CrossAttnDownBlock2D (with_attention) or DownBlock2D."""

    def __init__(self, with_attention, num_layers, transformer_layers, in_ch, out_ch, temb_ch, add_downsample,
                 eps, groups, cross_dim, heads, downsample_padding, use_linear_projection, out_scale):
        super().__init__()
        self.has_cross_attention = with_attention
        layers = _per_layer(transformer_layers, num_layers)
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(in_ch if i == 0 else out_ch, out_ch, temb_ch, groups, eps, out_scale) for i in range(num_layers)]
        )
        if with_attention:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(heads, out_ch // heads, out_ch, layers[i], cross_dim, groups, use_linear_projection)
                 for i in range(num_layers)]
            )
        self.downsamplers = nn.ModuleList([Downsample2D(out_ch, downsample_padding)]) if add_downsample else None

    def forward(self, x, temb, context):
        outputs = ()
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, temb)
            if self.has_cross_attention:
                x = self.attentions[i](x, context)
            outputs += (x,)
        if self.downsamplers is not None:
            for down in self.downsamplers:
                x = down(x)
            outputs += (x,)
        return x, outputs


class UpBlock(nn.Module):
    """CrossAttnUpBlock2D (with_attention) or UpBlock2D."""

    def __init__(self, with_attention, num_layers, transformer_layers, in_ch, out_ch, prev_out_ch, temb_ch,
                 add_upsample, eps, groups, cross_dim, heads, use_linear_projection, out_scale):
        super().__init__()
        self.has_cross_attention = with_attention
        layers = _per_layer(transformer_layers, num_layers)
        resnets = []
        for i in range(num_layers):
            res_skip = in_ch if i == num_layers - 1 else out_ch
            resnet_in = prev_out_ch if i == 0 else out_ch
            resnets.append(ResnetBlock2D(resnet_in + res_skip, out_ch, temb_ch, groups, eps, out_scale))
        self.resnets = nn.ModuleList(resnets)
        if with_attention:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(heads, out_ch // heads, out_ch, layers[i], cross_dim, groups, use_linear_projection)
                 for i in range(num_layers)]
            )
        self.upsamplers = nn.ModuleList([Upsample2D(out_ch)]) if add_upsample else None

    def forward(self, x, res_samples, temb, context, upsample_size=None):
        for i, resnet in enumerate(self.resnets):
            skip = res_samples[-1]
            res_samples = res_samples[:-1]
            x = torch.cat([x, skip], dim=1)
            x = resnet(x, temb)
            if self.has_cross_attention:
                x = self.attentions[i](x, context)
        if self.upsamplers is not None:
            for up in self.upsamplers:
                x = up(x, upsample_size)
        return x


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, channels, temb_ch, eps, groups, out_scale, transformer_layers, cross_dim, heads, use_linear_projection):
        super().__init__()
        self.has_cross_attention = True
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(channels, channels, temb_ch, groups, eps, out_scale) for _ in range(2)]
        )
        self.attentions = nn.ModuleList(
            [Transformer2DModel(heads, channels // heads, channels, transformer_layers, cross_dim, groups, use_linear_projection)]
        )

    def forward(self, x, temb, context):
        x = self.resnets[0](x, temb)
        for attn, resnet in zip(self.attentions, self.resnets[1:]):
            x = attn(x, context)
            x = resnet(x, temb)
        return x


# Config keys this module does not implement, with the values that mean "off".
_OFF = {
    "class_embed_type": (None,), "addition_embed_type": (None,), "num_class_embeds": (None,),
    "encoder_hid_dim": (None,), "encoder_hid_dim_type": (None,), "time_embedding_act_fn": (None,),
    "timestep_post_act": (None,), "time_cond_proj_dim": (None,), "dual_cross_attention": (False, None),
    "only_cross_attention": (False, None), "resnet_time_scale_shift": ("default",),
    "time_embedding_type": ("positional",), "num_attention_heads": (None,),
    "resnet_skip_time_act": (False, None), "center_input_sample": (False, None),
    "attention_type": ("default",), "class_embeddings_concat": (False, None), "cross_attention_norm": (None,),
}


class UNet2DConditionModel(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        c = dict(config)
        for key, off in _OFF.items():
            if key in c and c[key] not in off:
                raise NotImplementedError(f"unet.py does not implement {key}={c[key]!r}")
        if c.get("norm_num_groups", 32) is None:
            raise NotImplementedError("norm_num_groups=None")
        self.config = c
        down_types: list[str] = list(c.get("down_block_types"))
        up_types: list[str] = list(c.get("up_block_types"))
        mid_type = c.get("mid_block_type", "UNetMidBlock2DCrossAttn")
        if mid_type != "UNetMidBlock2DCrossAttn":
            raise NotImplementedError(f"mid_block_type={mid_type}")
        n = len(down_types)
        boc: list[int] = list(c.get("block_out_channels"))
        lpb = _per_layer(c.get("layers_per_block", 2), n)
        # diffusers' naming quirk: attention_head_dim is the number of heads.
        heads = _per_layer(c.get("attention_head_dim", 8), n)
        cross = _per_layer(c.get("cross_attention_dim", 1280), n)
        tlpb = _per_layer(c.get("transformer_layers_per_block", 1), n)
        rev_tlpb = c.get("reverse_transformer_layers_per_block") or list(reversed(tlpb))
        groups = c.get("norm_num_groups", 32)
        eps = c.get("norm_eps", 1e-5)
        linear = bool(c.get("use_linear_projection", False))
        out_scale = c.get("resnet_out_scale_factor", 1.0)
        in_k, out_k = c.get("conv_in_kernel", 3), c.get("conv_out_kernel", 3)

        self.conv_in = nn.Conv2d(c.get("in_channels", 4), boc[0], kernel_size=in_k, padding=(in_k - 1) // 2)
        temb_dim = c.get("time_embedding_dim") or boc[0] * 4
        self.time_proj = Timesteps(boc[0], c.get("flip_sin_to_cos", True), c.get("freq_shift", 0))
        self.time_embedding = TimestepEmbedding(boc[0], temb_dim)

        self.down_blocks = nn.ModuleList()
        out_ch = boc[0]
        for i, kind in enumerate(down_types):
            in_ch, out_ch = out_ch, boc[i]
            if kind not in ("CrossAttnDownBlock2D", "DownBlock2D"):
                raise NotImplementedError(kind)
            self.down_blocks.append(DownBlock(
                kind == "CrossAttnDownBlock2D", lpb[i], tlpb[i], in_ch, out_ch, temb_dim, i < n - 1, eps, groups,
                cross[i], heads[i], c.get("downsample_padding", 1), linear, out_scale))

        self.mid_block = UNetMidBlock2DCrossAttn(
            boc[-1], temb_dim, eps, groups, c.get("mid_block_scale_factor", 1.0), tlpb[-1], cross[-1], heads[-1], linear)

        self.num_upsamplers = 0
        self.up_blocks = nn.ModuleList()
        rboc, rheads, rlpb, rcross = boc[::-1], heads[::-1], lpb[::-1], cross[::-1]
        out_ch = rboc[0]
        for i, kind in enumerate(up_types):
            if kind not in ("CrossAttnUpBlock2D", "UpBlock2D"):
                raise NotImplementedError(kind)
            prev_out, out_ch = out_ch, rboc[i]
            in_ch = rboc[min(i + 1, n - 1)]
            add_up = i < n - 1
            self.num_upsamplers += int(add_up)
            self.up_blocks.append(UpBlock(
                kind == "CrossAttnUpBlock2D", rlpb[i] + 1, rev_tlpb[i], in_ch, out_ch, prev_out, temb_dim, add_up,
                eps, groups, rcross[i], rheads[i], linear, out_scale))

        self.conv_norm_out = nn.GroupNorm(groups, boc[0], eps=eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(boc[0], c.get("out_channels", 4), kernel_size=out_k, padding=(out_k - 1) // 2)

    def attention_modules(self) -> Iterable[tuple[str, Attention]]:
        return ((name, m) for name, m in self.named_modules() if isinstance(m, Attention))

    def set_multipliers(self, rule) -> None:
        """rule(path, module) -> (q, k, v, out) or None, e.g. lambda p, m: (1, 1, 2, 1) if p.endswith('attn1') else None."""
        for name, m in self.attention_modules():
            m.multipliers = rule(name, m)

    def forward(self, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        up_factor = 2 ** self.num_upsamplers
        forward_upsample_size = any(d % up_factor != 0 for d in sample.shape[-2:])

        t = timestep
        if not torch.is_tensor(t):
            t = torch.tensor([t], dtype=torch.float32 if isinstance(t, float) else torch.int64, device=sample.device)
        elif t.ndim == 0:
            t = t[None].to(sample.device)
        t = t.expand(sample.shape[0])
        emb = self.time_embedding(self.time_proj(t).to(dtype=sample.dtype))

        x = self.conv_in(sample)
        res_samples = (x,)
        for block in self.down_blocks:
            x, res = block(x, emb, encoder_hidden_states)
            res_samples += res

        x = self.mid_block(x, emb, encoder_hidden_states)

        for i, block in enumerate(self.up_blocks):
            is_final = i == len(self.up_blocks) - 1
            skips = res_samples[-len(block.resnets):]
            res_samples = res_samples[: -len(block.resnets)]
            upsample_size = res_samples[-1].shape[2:] if (not is_final and forward_upsample_size) else None
            x = block(x, skips, emb, encoder_hidden_states, upsample_size)

        x = self.conv_act(self.conv_norm_out(x))
        return self.conv_out(x)


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def expected_state_keys(config: dict) -> Sequence[str]:
    return list(UNet2DConditionModel(config).state_dict().keys())
