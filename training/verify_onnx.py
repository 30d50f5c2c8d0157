"""Checks the ONNX export of the default model with onnxruntime (CPU) against PyTorch:

  /tmp/onnxenv/bin/python training/verify_onnx.py [--model public/models/emoji-64] [--onnx <model>/onnx]

The weights reach ORT as the app will give them: an external data buffer built from the shipped f16
safetensors (f16 -> f32, at the manifest's offsets), passed in memory
(SessionOptions.add_external_initializers_from_files_in_memory, ORT-web's `externalData`).

Checks, each as max|onnx - ref| and rel = max|onnx - ref| / max|ref|:
- UNet vs training/unet.py on the CPU (rel <= 1e-4): the parity inputs at the first step (all
  multipliers 1); non-trivial multipliers on chosen self- and cross-attention sites, per-row
  timesteps (batch 3); the same multipliers done by scaling the to_q/to_k/to_v/to_out.0 weights;
  batch 1 at 32x32 with 16 tokens (the dynamic axes);
- text encoder vs export_onnx.py's CLIP in PyTorch (rel <= 1e-4);
- against tests/fixtures/default-model (PyTorch on CUDA with transformers' CLIPTextModel): text
  embeddings, the first UNet step (rel <= 1e-3), and whole 8-step DPM++ 2M samplings through ORT,
  with and without the fixture's self-attention multipliers (rel <= 1e-2, the parity check's bound).
Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from export_onnx import MODEL_DIR, enumerate_sites, load_text_encoder, load_unet  # noqa: E402  (patches F.sdpa on torch < 2)

ROOT = HERE.parent
FIXTURE = ROOT / "tests" / "fixtures" / "default-model"

TOL_TORCH_CPU = 1e-4
TOL_FIXTURE_STEP = 1e-3
TOL_FIXTURE_IMAGE = 1e-2


def external_data(manifest: dict, safetensors_path: Path) -> np.ndarray:
    """What src/engine/ort/onnx-weights.ts builds: each tensor in f32 at its offset."""
    raw = safetensors_path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    start = 8 + n
    out = np.zeros(manifest["external_data_bytes"], dtype=np.uint8)
    dtypes = {"F16": np.float16, "F32": np.float32, "BF16": None}
    for t in manifest["tensors"]:
        entry = header[t["safetensors_name"]]
        assert entry["shape"] == t["shape"] and dtypes[entry["dtype"]] is not None, t
        begin, end = entry["data_offsets"]
        values = np.frombuffer(raw[start + begin:start + end], dtype=dtypes[entry["dtype"]]).astype("<f4")
        assert values.nbytes == t["length"]
        out[t["offset"]:t["offset"] + t["length"]] = values.view(np.uint8)
    return out


def session(onnx_dir: Path, stem: str):
    import onnxruntime as ort

    manifest = json.loads((onnx_dir / f"{stem}.manifest.json").read_text())
    data = external_data(manifest, (onnx_dir / manifest["source"]).resolve())
    options = ort.SessionOptions()
    options.add_external_initializers_from_files_in_memory([manifest["external_data"]], [data], [data.size])
    sess = ort.InferenceSession((onnx_dir / manifest["onnx"]).read_bytes(), options, providers=["CPUExecutionProvider"])
    return sess, manifest


class Report:
    def __init__(self):
        self.failed = 0

    def check(self, name: str, got: np.ndarray, ref: np.ndarray, tol: float) -> None:
        got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
        assert got.shape == ref.shape, (name, got.shape, ref.shape)
        diff = np.abs(got - ref).max()
        rel = diff / np.abs(ref).max()
        ok = bool(rel <= tol and np.isfinite(got).all())
        self.failed += not ok
        print(json.dumps({"check": name, "max_abs": float(f"{diff:.3e}"), "rel": float(f"{rel:.3e}"),
                          "tol": tol, "ok": ok}))


def multiplier_table(sites: list[dict], rules: dict) -> np.ndarray:
    """rules: site path -> (q, k, v, out); other sites 1."""
    table = np.ones((len(sites), 4), dtype=np.float32)
    for s in sites:
        if s["path"] in rules:
            table[s["index"]] = rules[s["path"]]
    return table


def scaled_weights_unet(model_dir: Path, rules: dict):
    """The UNet with the multipliers folded into the weights, as ComfyUI's nodes do it."""
    unet = load_unet(model_dir)
    state = unet.state_dict()
    with torch.no_grad():
        for path, (q, k, v, o) in rules.items():
            state[f"{path}.to_q.weight"] *= q
            state[f"{path}.to_k.weight"] *= k
            state[f"{path}.to_v.weight"] *= v
            state[f"{path}.to_out.0.weight"] *= o
            state[f"{path}.to_out.0.bias"] *= o
    unet.load_state_dict(state)
    return unet


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--onnx", type=Path, default=None, help="default: <model>/onnx")
    a = parser.parse_args()
    onnx_dir = a.onnx or a.model / "onnx"
    report = Report()
    torch.set_grad_enabled(False)

    unet_sess, unet_manifest = session(onnx_dir, "unet")
    text_sess, _ = session(onnx_dir, "text_encoder")
    unet = load_unet(a.model)
    text = load_text_encoder(a.model)
    sites = enumerate_sites(unet.config)
    assert [s["path"] for s in unet_manifest["attention_sites"]] == [s["path"] for s in sites]

    def run_unet(sample, timestep, context, table):
        return unet_sess.run(["noise_pred"], {
            "sample": np.ascontiguousarray(sample, np.float32), "timestep": np.ascontiguousarray(timestep, np.float32),
            "encoder_hidden_states": np.ascontiguousarray(context, np.float32), "attention_multipliers": table})[0]

    def torch_unet(model, sample, timestep, context, rules=None):
        model.set_multipliers(lambda path, m: tuple(rules[path]) if rules and path in rules else None)
        return model(torch.from_numpy(sample), torch.from_numpy(timestep), torch.from_numpy(context)).numpy()

    def run_text(ids):
        return text_sess.run(["last_hidden_state"], {"input_ids": np.ascontiguousarray(ids, np.int32)})[0]

    from safetensors.numpy import load_file

    fx = load_file(str(FIXTURE / "parity.safetensors"))
    fx_desc = json.loads((FIXTURE / "parity.json").read_text())
    ids = np.concatenate([fx["uncond_input_ids"][None], fx["input_ids"]]).astype(np.int32)  # [3, 32]

    # Text encoder
    emb = run_text(ids)
    report.check("text_encoder vs PyTorch CLIP (CPU)", emb, text(torch.from_numpy(ids).long()).numpy(), TOL_TORCH_CPU)
    report.check("text_encoder vs fixture text_embeddings", emb[1:], fx["text_embeddings"], TOL_FIXTURE_STEP)
    report.check("text_encoder vs fixture uncond_text_embeddings", emb[0], fx["uncond_text_embeddings"], TOL_FIXTURE_STEP)
    report.check("text_encoder, 16 tokens vs PyTorch", run_text(ids[:, :16]), text(torch.from_numpy(ids[:, :16]).long()).numpy(), TOL_TORCH_CPU)

    # UNet, first step of the fixture: [uncond x2, cond x2] at t = 999, multipliers all 1
    x = fx["unet_input_step0"]
    count = x.shape[0]
    sample = np.concatenate([x, x])
    context = np.concatenate([np.repeat(fx["uncond_text_embeddings"][None], count, 0), fx["text_embeddings"]])
    timestep = np.full(2 * count, fx["timesteps"][0], np.float32)
    ones = multiplier_table(sites, {})
    out = run_unet(sample, timestep, context, ones)
    report.check("unet step 0 vs unet.py (CPU)", out, torch_unet(unet, sample, timestep, context), TOL_TORCH_CPU)
    report.check("unet step 0 uncond vs fixture", out[:count], fx["unet_out_step0_uncond"], TOL_FIXTURE_STEP)
    report.check("unet step 0 cond vs fixture", out[count:], fx["unet_out_step0_cond"], TOL_FIXTURE_STEP)

    # Non-trivial multipliers, a timestep per row
    rules = {}
    for s in sites:
        if s["kind"] == "attn1" and s["part"] in ("input", "middle"):
            rules[s["path"]] = (1.5, 0.8, 1.2, 0.9)
        elif s["kind"] == "attn2" and s["part"] == "output":
            rules[s["path"]] = (0.7, 1.3, 0.9, 1.1)
    rules[sites[-1]["path"]] = (2.0, 1.0, 0.5, 1.5)
    table = multiplier_table(sites, rules)
    rng = np.random.RandomState(0)
    sample3 = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    timestep3 = np.array([999, 500, 10], np.float32)
    context3 = emb
    out_m = run_unet(sample3, timestep3, context3, table)
    ref_m = torch_unet(unet, sample3, timestep3, context3, rules)
    report.check(f"unet multipliers on {len(rules)} of {len(sites)} sites vs unet.py (CPU)", out_m, ref_m, TOL_TORCH_CPU)
    report.check("unet multipliers vs scaled to_q/to_k/to_v/to_out.0 weights (CPU)", out_m,
                 torch_unet(scaled_weights_unet(a.model, rules), sample3, timestep3, context3), TOL_TORCH_CPU)
    same = np.abs(out_m - run_unet(sample3, timestep3, context3, ones)).max()
    print(json.dumps({"info": "max |multipliers - ones| on the same inputs (the input has an effect)", "value": float(same)}))

    # Dynamic axes: batch 1, 32x32, 16 tokens
    s1 = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    report.check("unet batch 1, 32x32, 16 tokens vs unet.py (CPU)", run_unet(s1, timestep3[1:2], emb[1:2, :16], table),
                 torch_unet(unet, s1, timestep3[1:2], np.ascontiguousarray(emb[1:2, :16]), rules), TOL_TORCH_CPU)

    # Whole samplings through ORT, against the fixture's images
    from model_config import SCHEDULER_BASE
    from sampling import sample as run_sampler

    class OrtUNet:
        def __init__(self, table):
            self.table = table

        def __call__(self, xin, t, ctx):
            b = xin.shape[0]
            tt = np.full(b, float(t), np.float32) if t.ndim == 0 else t.numpy().astype(np.float32)
            return torch.from_numpy(run_unet(xin.numpy(), tt, ctx.numpy(), self.table))

    cond, uncond = torch.from_numpy(emb[1:]), torch.from_numpy(emb[:1])
    noise = torch.from_numpy(fx["noise"])
    steps, cfg, sampler = fx_desc["steps"], fx_desc["cfg"], fx_desc["sampler"]
    image = run_sampler(OrtUNet(ones), cond, uncond, noise, sampler, steps, cfg, SCHEDULER_BASE)
    report.check(f"image ({sampler}, {steps} steps, cfg {cfg}) vs fixture", image.numpy(), fx["image"], TOL_FIXTURE_IMAGE)
    fx_rules = {s["path"]: (1.5, 1.0, 1.25, 0.8) for s in sites if s["kind"] == "attn1"}
    image_m = run_sampler(OrtUNet(multiplier_table(sites, fx_rules)), cond[:1], uncond, noise[:1], sampler, steps, cfg,
                          SCHEDULER_BASE)
    report.check("image_with_multipliers vs fixture", image_m[0].numpy(), fx["image_with_multipliers"], TOL_FIXTURE_IMAGE)

    print(json.dumps({"failed": report.failed}))
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
