"""Whole images with diffusers' StableDiffusionPipeline in PyTorch, for the side-by-side numbers of
`npm run bench -- --only sd15-image,turbo-image` in BENCHMARKS.md: the same layouts
(scripts/bench/layouts/<layout>/: unet, text_encoder, vae and scheduler configs, model_index.json's
defaults), random weights as diffusers' and transformers' constructors initialise them, and the
layouts' trivial tokenizer (tokenization is not what is timed). Per image: text encoder (a new
prompt each time), every step with the layout's sampler, VAE decode, the image back on the CPU
(output_type="np"). Three precisions: fp32 with TF32 off, fp32 with TF32 on, fp16; always
torch.backends.cudnn.benchmark = True and diffusers' default attention processor (SDPA). Also one
UNet call of the same diffusers UNet, as scripts/bench.ts times ours.

python3 scripts/bench/torch_pipeline_bench.py [--iterations 5] [--only sd15,sd-turbo] [--json out.json]
(diffusers' source on PYTHONPATH if it is not installed)
"""
import argparse
import json
import os
import statistics
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYOUTS = os.path.join(ROOT, "scripts", "bench", "layouts")

SCHEDULERS = {"dpmpp2m": "DPMSolverMultistepScheduler", "euler": "EulerDiscreteScheduler"}


def read(layout, path):
    return json.load(open(os.path.join(LAYOUTS, layout, path)))


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


class LayoutTokenizer:
    """What StableDiffusionPipeline.encode_prompt asks of a tokenizer, over the tokenizers library:
    used where transformers' PreTrainedTokenizerFast cannot read the layouts' tokenizer.json."""

    added_tokens_encoder = {}

    def __init__(self, path, model_max_length, pad_id):
        import tokenizers
        self.tokenizer = tokenizers.Tokenizer.from_file(path)
        self.model_max_length = model_max_length
        self.pad_id = pad_id

    def tokenize(self, text):
        return self.tokenizer.encode(text).tokens

    def __call__(self, text, padding=None, max_length=None, truncation=False, return_tensors=None):
        from types import SimpleNamespace
        rows = [self.tokenizer.encode(t).ids for t in ([text] if isinstance(text, str) else text)]
        if truncation and max_length:
            rows = [r if len(r) <= max_length else r[: max_length - 1] + r[-1:] for r in rows]
        width = max_length if padding == "max_length" else max(len(r) for r in rows)
        ids = torch.tensor([r + [self.pad_id] * (width - len(r)) for r in rows])
        return SimpleNamespace(input_ids=ids, attention_mask=torch.ones_like(ids))

    def batch_decode(self, ids):
        return [self.tokenizer.decode(list(r)) for r in ids]


def make_tokenizer():
    tokenizer_dir = os.path.join(LAYOUTS, "tokenizer")
    config = json.load(open(os.path.join(tokenizer_dir, "tokenizer_config.json")))
    path = os.path.join(tokenizer_dir, "tokenizer.json")
    try:
        from transformers import PreTrainedTokenizerFast
        return PreTrainedTokenizerFast(tokenizer_file=path, model_max_length=config["model_max_length"],
                                       **{k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")})
    except Exception as e:  # noqa: BLE001 - any failure: the plain one below does the same job
        print(f"PreTrainedTokenizerFast failed ({e!r}); using the tokenizers library directly", flush=True)
        pad = json.load(open(path))["model"]["vocab"][config["pad_token"]]
        return LayoutTokenizer(path, config["model_max_length"], pad)


def build_pipeline(layout):
    import diffusers
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    defaults = read(layout, "model_index.json")["attention_lab"]["defaults"]
    scheduler_config = read(layout, "scheduler/scheduler_config.json")
    scheduler = getattr(diffusers, SCHEDULERS[defaults["sampler"]]).from_config(scheduler_config)
    tokenizer = make_tokenizer()
    with torch.device("cuda"):  # random initialisation on the GPU: seconds instead of a minute on the CPU
        torch.manual_seed(0)
        unet = UNet2DConditionModel.from_config(read(layout, "unet/config.json"))
        vae = AutoencoderKL.from_config(read(layout, "vae/config.json"))
        te = read(layout, "text_encoder/config.json")
        text_encoder = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in te.items() if k not in ("architectures", "model_type")}))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe = pipe.to("cuda")
    pipe.set_progress_bar_config(disable=True)
    return pipe, defaults


def time_images(pipe, defaults, iterations, warmup=2):
    prompt = defaults.get("prompt", "a photograph of an astronaut riding a horse")
    cfg = defaults["cfg"]

    def image(i, steps=defaults["steps"]):
        generator = torch.Generator("cuda").manual_seed(100 + i)
        out = pipe(prompt=f"{prompt} {i}", negative_prompt="" if cfg > 1 else None, num_inference_steps=steps,
                   guidance_scale=cfg, height=512, width=512, generator=generator, output_type="np")
        torch.cuda.synchronize()
        return out.images

    with torch.inference_mode():
        for i in range(warmup):  # cudnn.benchmark chooses its algorithms on the first calls of each shape
            image(-1 - i)
        torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(iterations):
            t0 = time.perf_counter()
            images = image(i)
            times.append((time.perf_counter() - t0) * 1000)
        # Outside the steps (text encoder, VAE decode, read-back): 2 t(steps) - t(2 steps).
        image(-10, 2 * defaults["steps"])
        doubled = []
        for i in range(3):
            t0 = time.perf_counter()
            image(1000 + i, 2 * defaults["steps"])
            doubled.append((time.perf_counter() - t0) * 1000)
    finite = bool(torch.isfinite(torch.from_numpy(images)).all())
    return {"ms_median": statistics.median(times), "ms_min": min(times), "n": len(times),
            "ms_outside_steps": 2 * statistics.median(times) - statistics.median(doubled),
            "peak_allocated_mib": torch.cuda.max_memory_allocated() / 2**20,
            "peak_reserved_mib": torch.cuda.max_memory_reserved() / 2**20, "finite": finite}


def time_unet_call(pipe, batch, iterations):
    unet = pipe.unet
    dtype = unet.dtype
    x = torch.randn(batch, unet.config.in_channels, 64, 64, device="cuda", dtype=dtype)
    t = torch.full((batch,), 500.0, device="cuda")
    ctx = torch.randn(batch, 77, unet.config.cross_attention_dim, device="cuda", dtype=dtype)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            unet(x, t, ctx)
        torch.cuda.synchronize()
        for _ in range(iterations):
            t0 = time.perf_counter()
            unet(x, t, ctx)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1000)
    return {"ms_median": statistics.median(times), "ms_min": min(times), "n": len(times)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--unet-iterations", type=int, default=20)
    parser.add_argument("--only", default="sd15,sd-turbo")
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    import diffusers
    import transformers
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "diffusers": diffusers.__version__,
               "transformers": transformers.__version__, "cudnn_benchmark": True, "results": []}
    print(f"{results['device']}; torch {torch.__version__}, diffusers {diffusers.__version__}, transformers {transformers.__version__}, "
          f"cudnn.benchmark {torch.backends.cudnn.benchmark}", flush=True)
    for layout in args.only.split(","):
        pipe, defaults = build_pipeline(layout)
        batch = 2 if defaults["cfg"] > 1 else 1
        settings = f"{defaults['sampler']}, {defaults['steps']} steps, CFG {defaults['cfg']}"
        print(f"{layout}: attention processor {type(next(iter(pipe.unet.attn_processors.values()))).__name__}, "
              f"scheduler {type(pipe.scheduler).__name__} ({pipe.scheduler.config.get('timestep_spacing')})", flush=True)
        for label, dtype, tf32 in (("fp32 (TF32 off)", torch.float32, False), ("fp32 (TF32 on)", torch.float32, True), ("fp16", torch.float16, False)):
            set_tf32(tf32)
            pipe.to(dtype=dtype)
            r = time_images(pipe, defaults, args.iterations)
            u = time_unet_call(pipe, batch, args.unet_iterations)
            r.update(layout=layout, precision=label, settings=settings, unet_batch=batch, unet_ms_median=u["ms_median"], unet_ms_min=u["ms_min"], unet_n=u["n"])
            results["results"].append(r)
            print(f"{layout:9s} {label:16s} image {r['ms_median']:8.1f} ms (min {r['ms_min']:.1f}, n {r['n']}; {settings}; outside the steps {r['ms_outside_steps']:.1f}); "
                  f"peak allocated {r['peak_allocated_mib']:.0f} MiB, reserved {r['peak_reserved_mib']:.0f} MiB; finite {r['finite']}; "
                  f"diffusers UNet call batch {batch}: {u['ms_median']:.2f} ms (min {u['ms_min']:.2f}, n {u['n']})", flush=True)
        del pipe
        torch.cuda.empty_cache()
    set_tf32(False)
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
