"""Exports a run and measures the shipped model (training/README.md, "Quality").

  python3 training/evaluate.py --run runs/main --out <dir>

1. export: EMA weights → f16 files in public/models/emoji-64 (the eval below loads those files).
2. tokenizer: the Python `tokenizers` library must give the ids the app's JS tokenizer gave.
3. group classifier: a small CNN on real images, held out by emoji (both styles, all skin tones).
4. sampler sweep: {ddim, euler, euler_a, dpmpp2m} × steps × cfg on held-out captions:
   text alignment (fraction classified into the caption's group) and FD in classifier features.
5. defaults: the cheapest deterministic setting within 3 points of the best alignment and within
   1.3× of the best FD; written into model_index.json and scheduler/scheduler_config.json.
6. final alignment at the defaults, f32 weights as shipped, ≥ 200 captions.
7. docs/samples.png: 8×8 named prompts across the groups.
8. tests/fixtures/default-model/: parity fixture (f32, TF32 off) for the WGSL engine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import DATA, MODEL_DIR, ROOT, EmojiData, encode_text, load_shipped
from export import export, model_index, scheduler_config, write_json
from model_config import EVAL_GROUPS, SCHEDULER_BASE
from sampling import make_scheduler, sample

SAMPLE_PROMPTS = [
    # smileys & emotion
    "noto grinning face", "twemoji face with tears of joy", "noto smiling face with heart eyes",
    "twemoji thinking face", "noto pile of poo", "twemoji red heart", "noto ghost",
    # people & body
    "twemoji waving hand medium skin tone", "noto thumbs up dark skin tone",
    "twemoji woman technologist light skin tone", "noto baby", "twemoji santa claus", "noto person running",
    "twemoji flexed biceps",
    # animals & nature
    "noto dog face", "twemoji cat face", "noto unicorn", "twemoji octopus", "noto cactus", "twemoji sunflower",
    "noto penguin", "twemoji tiger face",
    # food & drink
    "noto red apple", "twemoji pizza", "noto hamburger", "twemoji watermelon", "noto birthday cake",
    "twemoji hot beverage", "noto avocado",
    # travel & places
    "twemoji rocket", "noto automobile", "twemoji sun", "noto rainbow", "twemoji house", "noto volcano",
    "twemoji airplane",
    # activities
    "noto soccer ball", "twemoji basketball", "noto video game", "twemoji wrapped gift", "noto jack o lantern",
    "twemoji trophy", "noto artist palette",
    # objects
    "twemoji light bulb", "noto laptop", "twemoji crown", "noto guitar", "twemoji books", "noto hammer",
    "twemoji mobile phone",
    # symbols
    "noto check mark button", "twemoji warning", "noto recycling symbol", "twemoji no entry", "noto hundred points",
    "twemoji cross mark", "noto red question mark",
    # flags
    "twemoji flag japan", "noto flag united states", "twemoji flag brazil", "noto rainbow flag",
    "twemoji chequered flag", "noto flag germany", "twemoji pirate flag",
]
PARITY_PROMPTS = ["noto red apple", "twemoji waving hand medium skin tone"]
PARITY_SEEDS = [0, 1]
TOKENIZER_PROBES = ["", "noto grinning face", "Noto: Grinning-Face, blorf!", "twemoji piñata café",
                    "TWEMOJI flag: Japan", "a zyzzyva of unknown words"]


# ---------------------------------------------------------------------------------------------
# group classifier
class GroupNet(nn.Module):
    def __init__(self, n_classes: int):
        super().__init__()

        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(3, 32), *block(32, 32), nn.MaxPool2d(2),
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
            *block(64, 128), *block(128, 128), nn.MaxPool2d(2),
            *block(128, 256), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(256, n_classes))

    def forward(self, x, return_features=False):
        f = self.features(x)
        return (self.head(f), f) if return_features else self.head(f)


def to_unit(images_u8: torch.Tensor) -> torch.Tensor:
    return images_u8.float() / 127.5 - 1.0


def augment(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    pad = 6
    xp = F.pad(x, (pad, pad, pad, pad), value=1.0)  # white, like the composited backgrounds
    ox = torch.randint(0, 2 * pad + 1, (b,), device=x.device)
    oy = torch.randint(0, 2 * pad + 1, (b,), device=x.device)
    rows = (oy[:, None] + torch.arange(64, device=x.device)[None]).clamp(max=xp.shape[2] - 1)
    cols = (ox[:, None] + torch.arange(64, device=x.device)[None]).clamp(max=xp.shape[3] - 1)
    out = xp[torch.arange(b, device=x.device)[:, None, None, None], torch.arange(3, device=x.device)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]
    flip = torch.rand(b, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def train_classifier(data: EmojiData, train_idx, test_idx, dev, steps=1500, batch=256):
    cls_of = {g: i for i, g in enumerate(EVAL_GROUPS)}
    keep = lambda idx: np.array([i for i in idx if data.records[i]["group"] in cls_of])
    train_idx, test_idx = keep(train_idx), keep(test_idx)
    train_t, test_t = torch.as_tensor(train_idx, device=dev), torch.as_tensor(test_idx, device=dev)
    labels = torch.tensor([cls_of.get(r["group"], -1) for r in data.records], device=dev)
    images = data.images.to(dev)
    counts = torch.bincount(labels[train_t], minlength=len(EVAL_GROUPS)).float()
    w = (1.0 / counts)[labels[train_t]]
    net = GroupNet(len(EVAL_GROUPS)).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    tr = train_t
    t0 = time.time()
    net.train()
    for _ in range(steps):
        idx = tr[torch.multinomial(w, batch, replacement=True)]
        x = augment(to_unit(images[idx]))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(net(x), labels[idx], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    pred = classify(net, images[test_t])[0]
    y = labels[test_t]
    per_class = {int(EVAL_GROUPS[c]): float((pred[y == c] == c).float().mean()) for c in range(len(EVAL_GROUPS)) if (y == c).any()}
    return net, {
        "train_images": int(len(train_idx)), "test_images": int(len(test_idx)),
        "test_accuracy": float((pred == y).float().mean()),
        "test_balanced_accuracy": float(np.mean(list(per_class.values()))),
        "test_per_group": per_class, "seconds": round(time.time() - t0, 1),
    }, cls_of


@torch.no_grad()
def classify(net, images, batch=1024):
    """images: uint8 [N,3,64,64] or float [-1,1]. Returns (predicted class, features)."""
    preds, feats = [], []
    for i in range(0, images.shape[0], batch):
        x = images[i:i + batch]
        x = to_unit(x) if x.dtype == torch.uint8 else x.clamp(-1, 1)
        logits, f = net(x.float(), return_features=True)
        preds.append(logits.argmax(1))
        feats.append(f.float())
    return torch.cat(preds), torch.cat(feats)


def frechet(f1: torch.Tensor, f2: torch.Tensor) -> float:
    from scipy import linalg

    a, b = f1.double().cpu().numpy(), f2.double().cpu().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = (covmean[0] if isinstance(covmean, tuple) else covmean).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


# ---------------------------------------------------------------------------------------------
# generation
@torch.no_grad()
def generate(unet, text, ids: torch.Tensor, uncond_ids: torch.Tensor, sampler, steps, cfg, seed, dev,
             dtype=torch.bfloat16, batch=1024):
    gen = torch.Generator(device=dev).manual_seed(seed)
    noise = torch.randn((ids.shape[0], 3, 64, 64), generator=gen, device=dev)
    anc = torch.Generator(device=dev).manual_seed(seed + 1)
    outs = []
    for i in range(0, ids.shape[0], batch):
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            cond = encode_text(text, ids[i:i + batch].to(dev))
            unc = encode_text(text, uncond_ids[None].to(dev))
            x = sample(unet, cond, unc, noise[i:i + batch], sampler, steps, cfg, SCHEDULER_BASE, generator=anc)
        outs.append(x.float().clamp(-1, 1))
    return torch.cat(outs)


def eval_set(data: EmojiData, test_idx, per_group: int, seed: int):
    rng = np.random.RandomState(seed)
    chosen = []
    for g in EVAL_GROUPS:
        idx = [i for i in test_idx if data.records[i]["group"] == g]
        chosen += list(rng.permutation(idx)[:per_group])
    return np.array(chosen, dtype=np.int64)


def alignment(net, images, groups, cls_of) -> tuple[float, dict]:
    pred, feats = classify(net, images)
    target = torch.tensor([cls_of[int(g)] for g in groups], device=pred.device)
    ok = (pred == target).float()
    per = {int(g): float(ok[target == cls_of[g]].mean()) for g in EVAL_GROUPS if (target == cls_of[g]).any()}
    return float(ok.mean()), per, feats


def to_u8(x: torch.Tensor) -> np.ndarray:
    """[-1,1] CHW float → HWC uint8, as the app decodes a pixel-space sample."""
    return ((x.clamp(-1, 1) + 1) / 2 * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def samples_grid(images: torch.Tensor, prompts: list[str], path: Path, cols=8, scale=2):
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=11)
    except TypeError:
        font = ImageFont.load_default()
    cell_w, img_px, text_h = 64 * scale + 8, 64 * scale, 42
    rows = (len(prompts) + cols - 1) // cols
    grid = Image.new("RGB", (cols * cell_w, rows * (img_px + text_h + 6)), "white")
    draw = ImageDraw.Draw(grid)
    for k, (img, prompt) in enumerate(zip(images, prompts)):
        r, c = divmod(k, cols)
        x, y = c * cell_w + 4, r * (img_px + text_h + 6) + 4
        grid.paste(Image.fromarray(to_u8(img)).resize((img_px, img_px), Image.NEAREST), (x, y))
        lines, line = [], ""
        for word in prompt.split():
            trial = (line + " " + word).strip()
            if draw.textlength(trial, font=font) > img_px and line:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
        for j, text_line in enumerate(lines[:3]):
            draw.text((x, y + img_px + 2 + 13 * j), text_line, fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path, optimize=True)


# ---------------------------------------------------------------------------------------------
def check_tokenizer(data: EmojiData, model_dir: Path) -> dict:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer" / "tokenizer.json"))
    mismatches = 0
    caps = data.meta["captionVariants"]
    for i, variants in enumerate(caps):
        for v, c in enumerate(variants):
            if tok.encode(c).ids != data.captions[i, v].tolist():
                mismatches += 1
    probes = {p: tok.encode(p).ids for p in TOKENIZER_PROBES}
    return {"captions_checked": len(caps) * len(caps[0]), "mismatches": mismatches, "probes": probes}


def tokenize(model_dir: Path, prompts: list[str]) -> torch.Tensor:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer" / "tokenizer.json"))
    return torch.tensor([tok.encode(p).ids for p in prompts], dtype=torch.int64)


def choose_defaults(sweep: list[dict]) -> dict:
    det = [r for r in sweep if r["sampler"] != "euler_a"]
    best_align = max(r["align"] for r in det)
    best_fd = min(r["fd"] for r in det)
    cands = [r for r in det if r["align"] >= best_align - 0.03 and r["fd"] <= 1.3 * best_fd]
    pick = min(cands, key=lambda r: (r["unet_evals"], -r["align"], r["fd"]))
    return {"pick": pick, "best_align": best_align, "best_fd": best_fd,
            "rule": "cheapest deterministic setting (UNet evaluations per image) with alignment >= best - 0.03 and FD <= 1.3 x best"}


def parity_fixture(model_dir: Path, defaults: dict, out_dir: Path, dev) -> dict:
    from safetensors.torch import save_file

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    unet, text = load_shipped(model_dir, dev)
    ids = tokenize(model_dir, PARITY_PROMPTS).to(dev)
    uncond_ids = tokenize(model_dir, [""]).to(dev)
    noise = np.concatenate([np.random.RandomState(s).standard_normal((1, 3, 64, 64)).astype(np.float32) for s in PARITY_SEEDS])
    tensors = {"input_ids": ids.to(torch.int32).cpu(), "uncond_input_ids": uncond_ids[0].to(torch.int32).cpu(),
               "noise": torch.from_numpy(noise)}
    with torch.no_grad():
        cond = encode_text(text, ids).float()
        unc = encode_text(text, uncond_ids).float()
        tensors["text_embeddings"] = cond.cpu()
        tensors["uncond_text_embeddings"] = unc[0].cpu()
        trace: dict = {}
        image = sample(unet, cond, unc, torch.from_numpy(noise).to(dev), defaults["sampler"], defaults["steps"],
                       defaults["cfg"], SCHEDULER_BASE, trace=trace)
        tensors["image"] = image.cpu()
        sched = make_scheduler(defaults["sampler"], SCHEDULER_BASE, defaults["steps"])
        x_in = sched.scale_model_input(torch.from_numpy(noise).to(dev) * sched.init_noise_sigma, 0)
        tensors["unet_input_step0"] = x_in.cpu()
        tensors["unet_out_step0_cond"] = trace["first_cond"].cpu()
        if "first_uncond" in trace:
            tensors["unet_out_step0_uncond"] = trace["first_uncond"].cpu()
        tensors["timesteps"] = trace["timesteps"].cpu()
        if trace["sigmas"].numel():
            tensors["sigmas"] = trace["sigmas"].cpu()
        # The same first prompt and noise with attention multipliers on every self-attention site.
        mult = {"attn1": [1.5, 1.0, 1.25, 0.8], "attn2": [1.0, 1.0, 1.0, 1.0]}
        unet.set_multipliers(lambda path, m: tuple(mult["attn1"]) if path.endswith("attn1") else None)
        image_m = sample(unet, cond[:1], unc, torch.from_numpy(noise[:1]).to(dev), defaults["sampler"],
                         defaults["steps"], defaults["cfg"], SCHEDULER_BASE)
        unet.set_multipliers(lambda path, m: None)
        tensors["image_with_multipliers"] = image_m[0].cpu()
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "parity.safetensors"))
    desc = {
        "model": "public/models/emoji-64 (f16 files, computed in f32)",
        "precision": "PyTorch f32 on CUDA, TF32 off",
        "prompts": PARITY_PROMPTS,
        "seeds": PARITY_SEEDS,
        "noise": "noise[i] = numpy.random.RandomState(seeds[i]).standard_normal((1, 3, 64, 64)).astype(float32); "
                 "the sampler starts from noise * init_noise_sigma",
        "sampler": defaults["sampler"], "steps": defaults["steps"], "cfg": defaults["cfg"],
        "scheduler_config": "public/models/emoji-64/scheduler/scheduler_config.json",
        "init_noise_sigma": trace["init_noise_sigma"],
        "timesteps": trace["timesteps"].tolist(),
        "guidance": "out = uncond + cfg * (cond - uncond) on the raw UNet output (v); uncond = the empty prompt",
        "tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)} for k, v in tensors.items()},
        "meaning": {
            "input_ids": "[2, 32] ids of the prompts (tokenizer.json + tokenizer_config.json conventions)",
            "uncond_input_ids": "[32] ids of the empty prompt",
            "text_embeddings": "[2, 32, 256] CLIPTextModel last_hidden_state",
            "uncond_text_embeddings": "[32, 256]",
            "unet_input_step0": "[2, 3, 64, 64] scheduler.scale_model_input(noise * init_noise_sigma) at step 0",
            "unet_out_step0_cond": "[2, 3, 64, 64] UNet output for the prompts at timesteps[0]",
            "unet_out_step0_uncond": "[2, 3, 64, 64] UNet output for the empty prompt at timesteps[0]",
            "image": "[2, 3, 64, 64] final sample in [-1, 1] (before clamping)",
            "image_with_multipliers": "[3, 64, 64] prompt 0, seed 0, with every attn1 site at "
                                      "(q, k, v, out) = " + str(mult["attn1"]) + " and attn2 at 1: "
                                      "logits x q*k, attention result x v, to_out output x out",
        },
        "suggested_check": "rel = max|engine - torch| / max|torch| <= 1e-2 per tensor",
    }
    write_json(out_dir / "parity.json", desc)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return desc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--model-dir", default=str(MODEL_DIR))
    ap.add_argument("--samples", default=str(ROOT / "docs" / "samples.png"))
    ap.add_argument("--fixture-dir", default=str(ROOT / "tests" / "fixtures" / "default-model"))
    ap.add_argument("--results", required=True)
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny classifier, two sweep points")
    ap.add_argument("--sweep-seconds", type=float, default=200.0)
    args = ap.parse_args()
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    results_path = Path(args.results)
    results: dict = {}

    def save():
        write_json(results_path, results, allow_nan=True)

    t_all = time.time()
    data = EmojiData(DATA)
    model_dir = Path(args.model_dir)
    run = Path(args.run)
    results["export"] = export(sorted((run / "backup").glob("ema-*.safetensors")), model_dir,
                               vocab_size=data.vocab_size, max_len=data.max_len)
    results["training"] = json.loads((run / "backup" / "progress.json").read_text())
    results["tokenizer"] = check_tokenizer(data, model_dir)
    save()
    print(json.dumps({"export": results["export"]["total_bytes"], "tokenizer": results["tokenizer"]["mismatches"]}), flush=True)

    unet, text = load_shipped(model_dir, dev)
    train_idx, test_idx = data.base_split()
    net, cls_report, cls_of = train_classifier(data, train_idx, test_idx, dev, steps=100 if args.quick else 1500)
    results["classifier"] = cls_report
    save()
    print(json.dumps({"classifier": {k: v for k, v in cls_report.items() if k != "test_per_group"}}), flush=True)

    # sweep
    sweep_idx = torch.as_tensor(eval_set(data, test_idx, 8 if args.quick else 30, seed=1))
    sweep_ids = data.captions[sweep_idx, 0]
    sweep_groups = [data.records[int(i)]["group"] for i in sweep_idx]
    real_pred_acc, _, real_feats = alignment(net, data.images[sweep_idx].to(dev), sweep_groups, cls_of)
    grid = [("dpmpp2m", 8, 3.0), ("euler", 4, 1.0)] if args.quick else [
        (s, n, g) for s in ("dpmpp2m", "euler", "ddim", "euler_a") for n in (4, 6, 8, 12, 20) for g in (1.0, 2.0, 3.0, 5.0)]
    sweep = []
    t0 = time.time()
    for s, n, g in grid:
        if time.time() - t0 > args.sweep_seconds:
            print(f"sweep: time budget reached after {len(sweep)} of {len(grid)} points", flush=True)
            break
        imgs = generate(unet, text, sweep_ids, data.uncond_ids, s, n, g, seed=1234, dev=dev)
        acc, per, feats = alignment(net, imgs, sweep_groups, cls_of)
        sweep.append({"sampler": s, "steps": n, "cfg": g, "align": round(acc, 4), "fd": round(frechet(feats, real_feats), 3),
                      "unet_evals": n * (2 if g > 1 else 1)})
    results["sweep"] = {"captions": int(len(sweep_idx)), "real_images_accuracy": real_pred_acc, "grid_points": len(grid),
                        "seconds": round(time.time() - t0, 1), "precision": "bf16 autocast", "points": sweep}
    choice = choose_defaults(sweep)
    pick = choice["pick"]
    defaults = {"sampler": pick["sampler"], "steps": pick["steps"], "cfg": pick["cfg"], "prompt": "noto red apple",
                "negativePrompt": ""}
    results["defaults"] = {"chosen": defaults, **choice}
    save()
    print(json.dumps({"sweep_s": results["sweep"]["seconds"], "defaults": defaults, "pick": pick}), flush=True)

    # final alignment at the defaults, f32
    final_idx = torch.as_tensor(eval_set(data, test_idx, 8 if args.quick else 60, seed=2))
    groups = [data.records[int(i)]["group"] for i in final_idx]
    real_acc, real_per, real_feats = alignment(net, data.images[final_idx].to(dev), groups, cls_of)
    final = {"captions": int(len(final_idx)), "precision": "f32 (TF32 matmuls)", "settings": defaults,
             "real_images_accuracy": real_acc, "real_images_per_group": real_per}
    for variant, name in ((0, "canonical"), (1, "short")):
        imgs = generate(unet, text, data.captions[final_idx, variant], data.uncond_ids, defaults["sampler"],
                        defaults["steps"], defaults["cfg"], seed=99, dev=dev, dtype=torch.float32)
        acc, per, feats = alignment(net, imgs, groups, cls_of)
        final[name] = {"alignment": acc, "per_group": per, "fd": frechet(feats, real_feats),
                       "example_caption": data.meta["captionVariants"][int(final_idx[0])][variant]}
    results["final"] = final
    save()
    print(json.dumps({"final_canonical": final["canonical"]["alignment"], "final_short": final["short"]["alignment"]}), flush=True)

    measured = {"text_alignment": round(final["canonical"]["alignment"], 4),
                "text_alignment_short_prompts": round(final["short"]["alignment"], 4),
                "alignment_captions": final["captions"],
                "classifier_held_out_accuracy": round(cls_report["test_accuracy"], 4),
                "details": "training/README.md"}
    write_json(model_dir / "model_index.json", model_index(defaults, measured))
    write_json(model_dir / "scheduler" / "scheduler_config.json", scheduler_config(defaults["sampler"]))

    # samples grid
    ids = tokenize(model_dir, SAMPLE_PROMPTS)
    imgs = torch.cat([generate(unet, text, ids[i:i + 1], data.uncond_ids, defaults["sampler"], defaults["steps"],
                               defaults["cfg"], seed=i, dev=dev, dtype=torch.float32) for i in range(len(SAMPLE_PROMPTS))])
    samples_grid(imgs, SAMPLE_PROMPTS, Path(args.samples))
    results["samples"] = {"path": "docs/samples.png", "prompts": SAMPLE_PROMPTS, "seeds": "index in the grid (0..63)"}

    results["parity"] = {k: v for k, v in parity_fixture(model_dir, defaults, Path(args.fixture_dir), dev).items() if k != "tensors"}
    results["seconds"] = round(time.time() - t_all, 1)
    save()
    print(json.dumps({"eval_done_s": results["seconds"]}), flush=True)


if __name__ == "__main__":
    main()
