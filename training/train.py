"""Trains the default model: UNet2DConditionModel + CLIP text encoder, jointly, on 64×64 emoji.

v-prediction with min-SNR-γ weighting (γ = 5), DDPM linear betas, 10 % caption dropout for
classifier-free guidance, EMA of the weights, AdamW, bf16 autocast, a wall-clock budget: the
learning rate follows a cosine over the budget, so a run ends on time wherever its steps/s land.

  python3 training/train.py --run runs/main --minutes 19
Writes <run>/state.pt (full state, for --resume), <run>/backup/ema-*.safetensors (EMA weights in
f16, ≤ 15 MiB files that come back from the GPU machine), <run>/train.log (JSON lines).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from common import HERE, EmojiData, build_models, encode_text, load_shards, params_state, save_sharded
from model_config import SCHEDULER_BASE
from sampling import alphas_cumprod


def zero_init_residual_outputs(unet) -> None:
    """ADM's zero_module: every residual branch starts as the identity, and so does the output."""
    for name, m in unet.named_modules():
        if name.endswith("conv2") or name.endswith("proj_out") or name == "conv_out":
            torch.nn.init.zeros_(m.weight)
            torch.nn.init.zeros_(m.bias)


def ema_state(unet, text, ema_params, names) -> dict[str, torch.Tensor]:
    state = {}
    for (prefix, name), p in zip(names, ema_params):
        state[prefix + name] = p.detach().to(torch.float16)
    return state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=str(HERE / "runs" / "main"))
    ap.add_argument("--minutes", type=float, default=19.0, help="training wall-clock budget")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke tests)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--ema", type=float, default=0.9995)
    ap.add_argument("--min-snr", type=float, default=5.0)
    ap.add_argument("--caption-dropout", type=float, default=0.1)
    ap.add_argument("--compile", type=int, default=0)
    ap.add_argument("--ckpt-minutes", type=float, default=2.0)
    ap.add_argument("--resume", action="store_true", help="from <run>/state.pt, else from backup EMA shards")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=500)
    args = ap.parse_args()

    run = Path(args.run)
    (run / "backup").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    dev = "cuda"

    data = EmojiData()
    images = data.images.to(dev)
    captions = data.captions.to(dev)
    uncond = data.uncond_ids.to(dev)
    weights = data.sample_weights().to(dev)
    n_img, n_var = captions.shape[0], captions.shape[1]

    unet, text = build_models(data.vocab_size, data.max_len)
    zero_init_residual_outputs(unet)
    unet.to(dev).train()
    text.to(dev).train()
    names = [("", k) for k, _ in unet.named_parameters()] + [("text_encoder.", k) for k, _ in text.named_parameters()]
    params = list(unet.parameters()) + list(text.parameters())
    n_unet = sum(p.numel() for p in unet.parameters())
    n_text = sum(p.numel() for p in text.parameters())

    decay, no_decay = [], []
    for p in params:
        (decay if p.ndim >= 2 else no_decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.99), eps=1e-8, fused=True)
    ema = [p.detach().clone().float() for p in params]

    step, trained_s = 0, 0.0
    state_path = run / "state.pt"
    if args.resume and state_path.exists():
        st = torch.load(state_path, map_location=dev)
        unet.load_state_dict(st["unet"])
        text.load_state_dict(st["text"])
        opt.load_state_dict(st["opt"])
        for e, s in zip(ema, st["ema"]):
            e.copy_(s)
        step, trained_s = st["step"], st["trained_s"]
        print(f"resumed from {state_path} at step {step}, {trained_s:.0f} s", flush=True)
    elif args.resume and list((run / "backup").glob("ema-*.safetensors")):
        sd = load_shards((run / "backup").glob("ema-*.safetensors"))
        meta = json.loads((run / "backup" / "progress.json").read_text())
        unet.load_state_dict({k: v.float() for k, v in sd.items() if not k.startswith("text_encoder.")})
        text.load_state_dict({k[len("text_encoder."):]: v.float() for k, v in sd.items() if k.startswith("text_encoder.")}, strict=False)
        for e, p in zip(ema, params):
            e.copy_(p.detach())
        step, trained_s = meta["step"], meta["trained_s"]
        print(f"resumed from EMA backup at step {step} (fresh optimizer)", flush=True)

    ac = alphas_cumprod(SCHEDULER_BASE).to(dev)
    sqrt_ac, sqrt_1mac = ac.sqrt(), (1 - ac).sqrt()
    snr = ac / (1 - ac)
    loss_weight = torch.clamp(snr, max=args.min_snr) / (snr + 1)  # min-SNR-γ for v-prediction

    unet_fwd = torch.compile(unet) if args.compile else unet
    budget_s = args.minutes * 60.0

    def train_step():
        idx = torch.multinomial(weights, args.batch, replacement=True)
        x0 = images[idx].float() / 127.5 - 1.0
        ids = captions[idx, torch.randint(0, n_var, (args.batch,), device=dev)]
        drop = torch.rand(args.batch, device=dev) < args.caption_dropout
        ids = torch.where(drop[:, None], uncond[None, :], ids)
        t = torch.randint(0, ac.shape[0], (args.batch,), device=dev)
        noise = torch.randn_like(x0)
        a, s = sqrt_ac[t][:, None, None, None], sqrt_1mac[t][:, None, None, None]
        xt = a * x0 + s * noise
        target = a * noise - s * x0
        with torch.autocast("cuda", dtype=torch.bfloat16):
            ctx = encode_text(text, ids)
            pred = unet_fwd(xt, t, ctx)
        per = F.mse_loss(pred.float(), target, reduction="none").mean(dim=(1, 2, 3))
        loss = (loss_weight[t] * per).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.detach(), per.mean().detach(), gnorm.detach()

    def lr_at(step_i, trained):
        frac = min(1.0, trained / budget_s) if budget_s > 0 else 0.0
        warm = min(1.0, (step_i + 1) / args.warmup)
        return args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    def checkpoint(final=False):
        torch.save({"unet": unet.state_dict(), "text": text.state_dict(), "opt": opt.state_dict(),
                    "ema": ema, "step": step, "trained_s": trained_s}, state_path.with_suffix(".tmp"))
        os.replace(state_path.with_suffix(".tmp"), state_path)
        save_sharded(ema_state(unet, text, ema, names), run / "backup", "ema")
        (run / "backup" / "progress.json").write_text(json.dumps(
            {"step": step, "trained_s": trained_s, "final": final, "unet_params": n_unet, "text_params": n_text}))

    log = open(run / "train.log", "a")
    print(json.dumps({"unet_params": n_unet, "text_params": n_text, "images": n_img, "batch": args.batch,
                      "compile": args.compile, "budget_min": args.minutes}), flush=True)
    t_last_ckpt = time.time()
    acc_loss, acc_mse, acc_n = 0.0, 0.0, 0
    t_window, steps_window = time.time(), 0
    while trained_s < budget_s and (args.max_steps == 0 or step < args.max_steps):
        t0 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, trained_s)
        loss, mse, gnorm = train_step()
        d = min(args.ema, (1 + step) / (10 + step))
        torch._foreach_lerp_(ema, [p.detach() for p in params], 1.0 - d)
        step += 1
        steps_window += 1
        if step % min(50, args.log_every) == 0 or step <= 3:
            torch.cuda.synchronize()
            acc_loss += loss.item(); acc_mse += mse.item(); acc_n += 1
        trained_s += time.time() - t0
        if step % args.log_every == 0 or (args.max_steps and step == args.max_steps):
            torch.cuda.synchronize()
            now = time.time()
            rec = {"step": step, "trained_min": round(trained_s / 60, 2), "loss": round(acc_loss / max(acc_n, 1), 5),
                   "mse": round(acc_mse / max(acc_n, 1), 5), "gnorm": round(gnorm.item(), 3),
                   "lr": round(opt.param_groups[0]["lr"], 7), "it_s": round(steps_window / (now - t_window), 2)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n"); log.flush()
            acc_loss, acc_mse, acc_n = 0.0, 0.0, 0
            t_window, steps_window = now, 0
        if time.time() - t_last_ckpt > args.ckpt_minutes * 60:
            checkpoint()
            t_last_ckpt = time.time()
    checkpoint(final=True)
    print(json.dumps({"done": True, "step": step, "trained_min": round(trained_s / 60, 2)}), flush=True)
    (run / "DONE").write_text(str(step))


if __name__ == "__main__":
    main()
