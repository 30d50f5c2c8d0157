"""Data, models and weight files shared by train.py, export.py and evaluate.py."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import torch

from model_config import UNET_CONFIG, text_config
from unet import UNet2DConditionModel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
MODEL_DIR = ROOT / "public" / "models" / "emoji-64"


class EmojiData:
    """images: uint8 [N, 3, 64, 64]; captions: int64 [N, VARIANTS, MAX_LEN] token ids; meta records."""

    def __init__(self, data_dir: Path = DATA):
        meta = json.loads((data_dir / "meta.json").read_text())
        self.meta = meta
        self.records = meta["records"]
        self.max_len = meta["maxLen"]
        self.variants = meta["variants"]
        self.vocab_size = meta["vocabSize"]
        n = len(self.records)
        raw = gzip.decompress((data_dir / "images.u8.gz").read_bytes())
        self.images = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).reshape(n, 64, 64, 3).copy()).permute(0, 3, 1, 2).contiguous()
        ids = np.fromfile(data_dir / "captions.i32", dtype="<i4").reshape(n, self.variants, self.max_len)
        self.captions = torch.from_numpy(ids.astype(np.int64))
        self.groups = torch.tensor([r["group"] for r in self.records])
        self.uncond_ids = torch.zeros(self.max_len, dtype=torch.int64)
        self.uncond_ids[0], self.uncond_ids[1] = 2, 3  # [BOS] [EOS] [PAD]...

    def sample_weights(self) -> torch.Tensor:
        """1/sqrt(#variants of the same emoji): skin-tone variants are seen, without taking over."""
        counts: dict[tuple, int] = {}
        for r in self.records:
            counts[(r["style"], r["base"])] = counts.get((r["style"], r["base"]), 0) + 1
        return torch.tensor([counts[(r["style"], r["base"])] ** -0.5 for r in self.records], dtype=torch.float64)

    def base_split(self, test_fraction: float = 0.2, seed: int = 0):
        """Held-out split by emoji (both styles and every skin tone of an emoji on the same side)."""
        bases = sorted({r["base"] for r in self.records})
        rng = np.random.RandomState(seed)
        test = set(np.array(bases)[rng.permutation(len(bases))[: int(len(bases) * test_fraction)]].tolist())
        is_test = np.array([r["base"] in test for r in self.records])
        return np.nonzero(~is_test)[0], np.nonzero(is_test)[0]


def build_models(vocab_size: int, max_len: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    unet = UNet2DConditionModel(UNET_CONFIG)
    tcfg = {k: v for k, v in text_config(vocab_size, max_len).items() if k not in ("architectures", "model_type")}
    text = CLIPTextModel(CLIPTextConfig(**tcfg))
    return unet, text


def encode_text(text_encoder, ids: torch.Tensor) -> torch.Tensor:
    """last_hidden_state (after the final LayerNorm), what SD's UNet cross-attends to."""
    return text_encoder(input_ids=ids).last_hidden_state


def params_state(module: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters only (no buffers such as position_ids), as the hub files hold."""
    return {prefix + k: v for k, v in module.named_parameters()}


def save_sharded(state: dict[str, torch.Tensor], out_dir: Path, stem: str, max_bytes: int = 15 * 2**20) -> list[Path]:
    """Writes ≤ max_bytes safetensors shards (files come back from the GPU machine ≤ 16 MiB each)."""
    from safetensors.torch import save_file

    shards: list[dict] = [{}]
    size = 0
    for k, v in state.items():
        nbytes = v.numel() * v.element_size()
        if size + nbytes > max_bytes and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][k] = v.detach().contiguous().cpu()
        size += nbytes
    paths = []
    for i, shard in enumerate(shards):
        p = out_dir / f"{stem}-{i:02d}.safetensors"
        tmp = p.with_suffix(".tmp")
        save_file(shard, str(tmp))
        os.replace(tmp, p)
        paths.append(p)
    return paths


def load_shards(paths) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for p in sorted(paths):
        state.update(load_file(str(p)))
    return state


def load_shipped(model_dir: Path = MODEL_DIR, device="cuda"):
    """The model as shipped: f16 files, computed in f32."""
    from safetensors.torch import load_file
    from transformers import CLIPTextConfig, CLIPTextModel

    ucfg = json.loads((model_dir / "unet" / "config.json").read_text())
    unet = UNet2DConditionModel(ucfg)
    usd = {k: v.float() for k, v in load_file(str(model_dir / "unet" / "diffusion_pytorch_model.safetensors")).items()}
    missing, unexpected = unet.load_state_dict(usd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    tcfg = json.loads((model_dir / "text_encoder" / "config.json").read_text())
    tcfg = {k: v for k, v in tcfg.items() if k not in ("architectures", "model_type", "torch_dtype", "dtype", "transformers_version")}
    text = CLIPTextModel(CLIPTextConfig(**tcfg))
    tsd = {k: v.float() for k, v in load_file(str(model_dir / "text_encoder" / "model.safetensors")).items()}
    if not any(k.startswith("text_model.") for k in text.state_dict()):  # transformers 5 drops the prefix
        tsd = {k[len("text_model."):]: v for k, v in tsd.items()}
    missing, unexpected = text.load_state_dict(tsd, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    assert not missing and not unexpected, (missing, unexpected)
    return unet.to(device).eval(), text.to(device).eval()
