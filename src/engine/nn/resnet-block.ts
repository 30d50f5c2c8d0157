// diffusers ResnetBlock2D (resnet.py), "default" time-embedding norm:
//   h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb))[:, :, None, None]
//   h = conv2(silu(norm2(h)))                  (dropout is identity at inference)
//   out = (shortcut(x) + h) / output_scale_factor, shortcut = 1x1 conv_shortcut when channels change.
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import type { WeightStore } from '../weights/weight-store';
import { conv2d } from '../kernels/conv2d';
import { groupNorm } from '../kernels/norm';
import { linear } from '../kernels/linear';
import { addChannel, scale } from '../kernels/elementwise';

export interface ResnetBlockOptions {
  groups: number;
  eps: number;
  /** [N, temb_channels], already passed through SiLU (the caller computes it once per call). */
  temb?: Tensor;
  outputScaleFactor?: number;
  label?: string;
}

/** Records one ResnetBlock2D whose weights are under `prefix` (e.g. `down_blocks.0.resnets.1`). */
export function resnetBlock(rec: Recorder, x: Tensor, weights: WeightStore, prefix: string, opts: ResnetBlockOptions): Tensor {
  const w = (name: string) => weights.get(`${prefix}.${name}`);
  const label = opts.label ?? prefix;

  const h1 = groupNorm(rec, x, w('norm1.weight'), w('norm1.bias'), { groups: opts.groups, eps: opts.eps, silu: true, label: `${label}.norm1` });
  let h = conv2d(rec, h1, { weight: w('conv1.weight'), bias: w('conv1.bias') }, { label: `${label}.conv1` });
  rec.release(h1);

  if (opts.temb) {
    const t = linear(rec, opts.temb, w('time_emb_proj.weight'), w('time_emb_proj.bias'), { label: `${label}.time_emb_proj` });
    const withTime = addChannel(rec, h, t);
    rec.release(h, t);
    h = withTime;
  }

  const h2 = groupNorm(rec, h, w('norm2.weight'), w('norm2.bias'), { groups: opts.groups, eps: opts.eps, silu: true, label: `${label}.norm2` });
  rec.release(h);

  // The shortcut is added in conv2's epilogue.
  let shortcut = x;
  const hasShortcutConv = weights.has(`${prefix}.conv_shortcut.weight`);
  if (hasShortcutConv) {
    shortcut = conv2d(rec, x, { weight: w('conv_shortcut.weight'), bias: optional(weights, `${prefix}.conv_shortcut.bias`) }, { label: `${label}.conv_shortcut` });
  }
  let out = conv2d(rec, h2, { weight: w('conv2.weight'), bias: w('conv2.bias') }, { residual: shortcut, label: `${label}.conv2` });
  rec.release(h2);
  if (hasShortcutConv) rec.release(shortcut);

  const factor = opts.outputScaleFactor ?? 1;
  if (factor !== 1) {
    const scaled = scale(rec, out, 1 / factor);
    rec.release(out);
    out = scaled;
  }
  return out;
}

export function optional(weights: WeightStore, name: string): Tensor | undefined {
  return weights.has(name) ? weights.get(name) : undefined;
}
