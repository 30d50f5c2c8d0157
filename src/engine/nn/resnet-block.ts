// diffusers ResnetBlock2D (resnet.py), "default" time-embedding norm:
//   h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb))[:, :, None, None]
//   h = conv2(silu(norm2(h)))                  (dropout is identity at inference)
//   out = (shortcut(x) + h) / output_scale_factor, shortcut = 1x1 conv_shortcut when channels change.
import type { GpuContext } from '../gpu/gpu-context';
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import { withRowStacks } from '../weights/stacked-weights';
import type { WeightStore } from '../weights/weight-store';
import { conv2d, type BatchBias } from '../kernels/conv2d';
import { groupNorm } from '../kernels/norm';
import { linear } from '../kernels/linear';
import { scale } from '../kernels/elementwise';

export interface ResnetBlockOptions {
  groups: number;
  eps: number;
  /** [N, temb_channels], already passed through SiLU (the caller computes it once per call). */
  temb?: Tensor;
  /** This block's time_emb_proj(temb) already computed, as columns of a wider tensor (the UNet
   * projects for every block in one linear: stackTimeProjections); replaces `temb`. */
  timeProjection?: BatchBias;
  outputScaleFactor?: number;
  label?: string;
}

/** Records one ResnetBlock2D whose weights are under `prefix` (e.g. `down_blocks.0.resnets.1`). */
export function resnetBlock(rec: Recorder, x: Tensor, weights: WeightStore, prefix: string, opts: ResnetBlockOptions): Tensor {
  const w = (name: string) => weights.get(`${prefix}.${name}`);
  const label = opts.label ?? prefix;

  const h1 = groupNorm(rec, x, w('norm1.weight'), w('norm1.bias'), { groups: opts.groups, eps: opts.eps, silu: true, label: `${label}.norm1` });
  // The time embedding is added per image and channel in conv1's epilogue.
  let timeProjection = opts.timeProjection;
  let projected: Tensor | undefined;
  if (!timeProjection && opts.temb) {
    projected = linear(rec, opts.temb, w('time_emb_proj.weight'), w('time_emb_proj.bias'), { label: `${label}.time_emb_proj` });
    timeProjection = { tensor: projected, stride: projected.shape[1], offset: 0 };
  }
  const h = conv2d(rec, h1, { weight: w('conv1.weight'), bias: w('conv1.bias') }, { batchBias: timeProjection, label: `${label}.conv1` });
  rec.release(h1);
  if (projected) rec.release(projected);

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

/** The stacked time_emb_proj of ResNet blocks, and where each block's columns start. */
export interface TimeProjectionStack {
  weight: string;
  bias: string;
  /** Column offset of each block (by prefix) in the stack's output [N, sum of channels]. */
  offsets: Map<string, number>;
}

const STACKED_TIME_WEIGHT = 'time_emb_proj.stacked.weight';
const STACKED_TIME_BIAS = 'time_emb_proj.stacked.bias';

/** `weights` plus the time_emb_proj weights and biases of the ResNet blocks under `prefixes` stacked
 * into one matrix and one vector (made once on the GPU), so that one linear projects the time
 * embedding for every block; `stack` is undefined where they cannot be stacked (the blocks then
 * project their own). */
export function stackTimeProjections(gpu: GpuContext, weights: WeightStore, prefixes: readonly string[]): { weights: WeightStore; stack?: TimeProjectionStack } {
  const blocks = prefixes.filter((p) => weights.has(`${p}.time_emb_proj.weight`) && weights.has(`${p}.time_emb_proj.bias`));
  if (blocks.length < 2) return { weights };
  const stacked = withRowStacks(gpu, weights, [
    { name: STACKED_TIME_WEIGHT, parts: blocks.map((p) => `${p}.time_emb_proj.weight`) },
    { name: STACKED_TIME_BIAS, parts: blocks.map((p) => `${p}.time_emb_proj.bias`) },
  ]);
  if (!stacked.has(STACKED_TIME_WEIGHT) || !stacked.has(STACKED_TIME_BIAS)) return { weights: stacked };
  const offsets = new Map<string, number>();
  let offset = 0;
  for (const p of blocks) {
    offsets.set(p, offset);
    offset += weights.get(`${p}.time_emb_proj.weight`).shape[0];
  }
  return { weights: stacked, stack: { weight: STACKED_TIME_WEIGHT, bias: STACKED_TIME_BIAS, offsets } };
}
