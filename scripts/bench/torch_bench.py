"""PyTorch eager on the same UNet configs as `npm run bench`, on the same GPU, for the side-by-side
numbers in BENCHMARKS.md. Uses the training code's UNet (training/unet.py, diffusers layout).

python3 scripts/bench/torch_bench.py [--iterations 20] [--json out.json] [--only "SD-Turbo layout"] [--no-cudnn-benchmark]

torch.backends.cudnn.benchmark is on unless --no-cudnn-benchmark: without it PyTorch takes cuDNN's
heuristic choice, which for SD-Turbo's batch-1 fp32 convolutions is an FFT algorithm about 3x slower
than the best (the anchors before the seventh session were measured so). Precisions: fp32 with TF32
off, fp32 with TF32 on, fp16.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "training"))
from unet import UNet2DConditionModel  # noqa: E402

LAYOUTS = os.path.join(ROOT, "scripts", "bench", "layouts")  # scripts/bench/layouts.ts reads the same configs


def layout_config(folder: str) -> dict:
    return json.load(open(os.path.join(LAYOUTS, folder, "unet", "config.json")))


# The back-to-back timing of scripts/bench.ts: calls per group, groups timed.
BACK_TO_BACK = 10
BACK_TO_BACK_GROUPS = 5


def time_unet(config, batch, size, context_len, dtype, iterations):
    with torch.device("cuda"):  # initialised on the GPU: seconds instead of a minute on the CPU
        model = UNet2DConditionModel(config).to(dtype).eval()
    x = torch.randn(batch, config.get("in_channels", 4), size, size, device="cuda", dtype=dtype)
    t = torch.full((batch,), 500.0, device="cuda")
    ctx_dim = config["cross_attention_dim"]
    ctx = torch.randn(batch, context_len, ctx_dim, device="cuda", dtype=dtype)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            model(x, t, ctx)
        torch.cuda.synchronize()
        for _ in range(iterations):
            t0 = time.perf_counter()
            model(x, t, ctx)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1000)
        # As the steps of a sampling run: BACK_TO_BACK calls queued before one wait (median of groups).
        back_to_back = []
        for group in range(BACK_TO_BACK_GROUPS + 1):
            t0 = time.perf_counter()
            for _ in range(BACK_TO_BACK):
                model(x, t, ctx)
            torch.cuda.synchronize()
            if group > 0:  # group 0 warms up
                back_to_back.append((time.perf_counter() - t0) * 1000 / BACK_TO_BACK)
    del model
    torch.cuda.empty_cache()
    return {"ms_median": statistics.median(times), "ms_min": min(times), "n": len(times),
            "ms_back_to_back": statistics.median(back_to_back)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--json")
    parser.add_argument("--model", default=os.path.join(ROOT, "public/models/emoji-64"))
    parser.add_argument("--only", help="comma-separated run names (default: all)")
    parser.add_argument("--no-cudnn-benchmark", action="store_true")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
    runs = [("SD 1.5 layout", layout_config("sd15"), 2, 64, 77), ("SD-Turbo layout", layout_config("sd-turbo"), 1, 64, 77)]
    unet_config = os.path.join(args.model, "unet", "config.json")
    if os.path.exists(unet_config):
        cfg = json.load(open(unet_config))
        te = json.load(open(os.path.join(args.model, "text_encoder", "config.json")))
        lab = json.load(open(os.path.join(args.model, "model_index.json"))).get("attention_lab", {})
        batch = 2 if lab.get("defaults", lab).get("cfg", 1) != 1 else 1
        runs.insert(0, ("default model", cfg, batch, cfg.get("sample_size", 64), te["max_position_embeddings"]))
    if args.only:
        runs = [r for r in runs if r[0] in args.only.split(",")]
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cudnn_benchmark": torch.backends.cudnn.benchmark, "results": []}
    print(f"{results['device']}; torch {torch.__version__}; cudnn.benchmark {torch.backends.cudnn.benchmark}", flush=True)
    for name, cfg, batch, size, ctx in runs:
        for label, dtype, tf32 in (("fp32 (TF32 off)", torch.float32, False), ("fp32 (TF32 on)", torch.float32, True), ("fp16", torch.float16, False)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            r = time_unet(cfg, batch, size, ctx, dtype, args.iterations)
            r.update(name=name, precision=label, batch=batch, latent=size)
            results["results"].append(r)
            print(f"{name:18s} batch {batch} {size}x{size} {label:16s} {r['ms_median']:8.2f} ms (min {r['ms_min']:.2f}, n {r['n']}; back to back {r['ms_back_to_back']:.2f})", flush=True)
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
