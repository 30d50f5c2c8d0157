"""Writes the shipped model folder (diffusers layout, f16) from the EMA weights of a run.

  public/models/emoji-64/
    model_index.json                       pipeline parts + "attention_lab" defaults and credits
    unet/config.json                       UNet2DConditionModel config
    unet/diffusion_pytorch_model.safetensors   F16, hub key names
    text_encoder/config.json               CLIPTextModel config
    text_encoder/model.safetensors         F16, keys text_model.*
    tokenizer/tokenizer.json               (written by prepare-data.mjs)
    tokenizer/tokenizer_config.json
    scheduler/scheduler_config.json
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from common import MODEL_DIR, load_shards
from model_config import SCHEDULER_BASE, SCHEDULER_CLASS, UNET_CONFIG, text_config

CREDITS = [
    "Emoji 64: a model trained for Attention Lab on the images below (training/README.md).",
    "Noto Emoji images, Copyright Google Inc., Apache License 2.0 (https://github.com/googlefonts/noto-emoji), via the npm package emoji-datasource-google.",
    "Twemoji images, Copyright Twitter, Inc. and other contributors, CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/), via the npm package emoji-datasource-twitter.",
    "emoji-datasource packaging by Cal Henderson, MIT License.",
    "Captions from emojibase-data (labels, tags, groups, skin tones), MIT License.",
]


def write_json(path: Path, obj, allow_nan: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, allow_nan=allow_nan) + "\n")


def scheduler_config(sampler: str) -> dict:
    return {"_class_name": SCHEDULER_CLASS[sampler], "_diffusers_version": UNET_CONFIG["_diffusers_version"], **SCHEDULER_BASE}


def model_index(defaults: dict, measured: dict | None = None) -> dict:
    return {
        "_class_name": "AttentionLabPixelDiffusionPipeline",
        "_diffusers_version": UNET_CONFIG["_diffusers_version"],
        "scheduler": ["diffusers", SCHEDULER_CLASS[defaults["sampler"]]],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": [None, None],
        "attention_lab": {
            "name": "Emoji 64",
            "pixel_space": True,
            "width": 64,
            "height": 64,
            "channels": 3,
            "sample_range": [-1, 1],
            "decode": "no VAE: the final sample is the RGB image; pixel = round(clamp((x + 1) / 2, 0, 1) * 255)",
            "defaults": defaults,
            "measured": measured or {},
            "credits": CREDITS,
        },
    }


def export(ema_files, out_dir: Path = MODEL_DIR, defaults: dict | None = None, vocab_size: int = 0, max_len: int = 32) -> dict:
    from safetensors.torch import save_file

    state = load_shards(ema_files)
    unet_sd = {k: v.to(torch.float16).contiguous() for k, v in state.items() if not k.startswith("text_encoder.")}
    # Hub layout: text_model.* (transformers 5 names its parameters without the prefix).
    text_sd = {}
    for k, v in state.items():
        if k.startswith("text_encoder."):
            k = k[len("text_encoder."):]
            text_sd[k if k.startswith("text_model.") else "text_model." + k] = v.to(torch.float16).contiguous()
    (out_dir / "unet").mkdir(parents=True, exist_ok=True)
    (out_dir / "text_encoder").mkdir(parents=True, exist_ok=True)
    save_file(unet_sd, str(out_dir / "unet" / "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
    save_file(text_sd, str(out_dir / "text_encoder" / "model.safetensors"), metadata={"format": "pt"})
    write_json(out_dir / "unet" / "config.json", UNET_CONFIG)
    import transformers

    tcfg = text_config(vocab_size, max_len)
    tcfg.update({"torch_dtype": "float16", "transformers_version": transformers.__version__})
    write_json(out_dir / "text_encoder" / "config.json", tcfg)
    defaults = defaults or {"sampler": "dpmpp2m", "steps": 8, "cfg": 3.0}
    write_json(out_dir / "scheduler" / "scheduler_config.json", scheduler_config(defaults["sampler"]))
    write_json(out_dir / "model_index.json", model_index(defaults))
    if out_dir != MODEL_DIR and (MODEL_DIR / "tokenizer").exists():
        shutil.copytree(MODEL_DIR / "tokenizer", out_dir / "tokenizer", dirs_exist_ok=True)
    sizes = {str(p.relative_to(out_dir)): p.stat().st_size for p in sorted(out_dir.rglob("*")) if p.is_file()}
    return {"files": sizes, "total_bytes": sum(sizes.values()),
            "unet_params": sum(v.numel() for v in unet_sd.values()),
            "text_params": sum(v.numel() for v in text_sd.values())}
