// GroupNorm (optionally fused with SiLU) and LayerNorm, as torch.nn defines them.
import normWgsl from '../../../shaders/norm.wgsl?raw';
import reduceSubgroupWgsl from '../../../shaders/norm-reduce-subgroup.wgsl?raw';
import reduceWorkgroupWgsl from '../../../shaders/norm-reduce-workgroup.wgsl?raw';
import type { GpuContext } from '../gpu/gpu-context';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { numel, sameShape, shapeString, type Tensor } from '../gpu/tensor';

/** The shader with its workgroup reduction: through subgroups where the device has them. */
function shaderFor(gpu: GpuContext): string {
  return gpu.features.has('subgroups') ? `enable subgroups;\n${normWgsl}\n${reduceSubgroupWgsl}` : `${normWgsl}\n${reduceWorkgroupWgsl}`;
}

/** Invocations per workgroup (the shader's WG override): GroupNorm works on long rows and chunks,
 * LayerNorm on rows of 320 to 1280 values, where 64 invocations hold 5 to 20 each. */
const GROUP_NORM_WORKGROUP = 256;
const LAYER_NORM_WORKGROUP = 64;
/** Values one GroupNorm workgroup reduces (16 per invocation): a 64x64 SD 1.5 UNet group of 40960
 * values becomes 10 chunks, so that batch 2's 64 groups keep 640 workgroups busy, not 64. */
const GROUP_NORM_CHUNK = 4096;
/** Values each invocation of group_norm_apply normalizes (APPLY_VALUES in norm.wgsl). */
const GROUP_NORM_APPLY_VALUES = 4;
/** Rows up to this long (48 values per invocation) are reduced and written by one workgroup each, in
 * one dispatch, when the rows alone make fewer workgroups than chunking would gain: on an H200 the
 * default model's groups (1536 to 10240 values, 64 rows) took one dispatch instead of three (10240:
 * 26 us against 36); at 16384 values the two were even, at 24576 one dispatch lost (51 us against 38). */
const GROUP_NORM_ROW_MAX = 12288;
/** Values one invocation holds in registers (MAX_HELD in norm.wgsl): a row or chunk of up to
 * WG * MAX_HELD values is loaded once and normalized from registers. */
const MAX_HELD = 48;

/** The shader's HELD for rows (or chunks) of `length` values on `workgroup` invocations. */
function heldValues(length: number, workgroup: number): number {
  const held = Math.max(1, Math.ceil(length / workgroup));
  if (held > MAX_HELD) throw new Error(`norm: ${length} values exceed ${workgroup} invocations x ${MAX_HELD} held values`);
  return held;
}

interface NormShape {
  rows: number;
  rowLen: number;
  chunkLen?: number;
  chunks?: number;
  count?: number;
  spatial?: number;
  channels?: number;
  channelsPerGroup?: number;
  eps: number;
}

function normParams(s: NormShape) {
  return params()
    .u32(s.rows, s.rowLen, s.chunkLen ?? 0, s.chunks ?? 1, s.count ?? 0, s.spatial ?? 0, s.channels ?? 0, s.channelsPerGroup ?? 0)
    .f32(s.eps)
    .u32(0, 0, 0);
}

function affineConstants(weight: Tensor, bias: Tensor): Record<string, number> {
  return { WEIGHT_F16: weight.dtype === 'f16' ? 1 : 0, BIAS_F16: bias.dtype === 'f16' ? 1 : 0 };
}

function checkAffine(what: string, weight: Tensor, bias: Tensor, channels: number): void {
  if (numel(weight.shape) !== channels || numel(bias.shape) !== channels) {
    throw new Error(`${what}: weight ${shapeString(weight.shape)} and bias ${shapeString(bias.shape)} must have ${channels} values (${weight.label})`);
  }
}

function outputFor(rec: Recorder, what: string, x: Tensor, out: Tensor | undefined, label: string): Tensor {
  if (!out) return rec.alloc(x.shape, label);
  if (!sameShape(out.shape, x.shape)) throw new Error(`${what}: out is ${shapeString(out.shape)}, expected ${shapeString(x.shape)} (${out.label})`);
  // WebGPU refuses a buffer bound both read-only and writable in one dispatch.
  if (out.buffer === x.buffer) throw new Error(`${what}: out may not share a buffer with the input (${x.label})`);
  return out;
}

/** torch.nn.GroupNorm over x [N, C, ...spatial] (channels split into `groups` groups; statistics in f32 over each group's C/groups*spatial elements, biased variance), then optional fused SiLU. */
export function groupNorm(
  rec: Recorder,
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  opts: { groups: number; eps: number; silu?: boolean; out?: Tensor; label?: string; rowWorkgroup?: number },
): Tensor {
  if (x.shape.length < 2) throw new Error(`groupNorm: expected [N, C, ...], got ${shapeString(x.shape)} (${x.label})`);
  const [n, channels] = x.shape;
  const { groups, eps } = opts;
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new Error(`groupNorm: ${channels} channels do not split into ${groups} groups (${x.label})`);
  }
  checkAffine('groupNorm', weight, bias, channels);
  const label = opts.label ?? `groupNorm(${x.label})`;
  const out = outputFor(rec, 'groupNorm', x, opts.out, label);
  const spatial = numel(x.shape.slice(2));
  const channelsPerGroup = channels / groups;
  const rows = n * groups;
  const rowLen = channelsPerGroup * spatial;
  const chunks = Math.max(1, Math.ceil(rowLen / GROUP_NORM_CHUNK));
  const count = numel(x.shape);
  const shape: NormShape = { rows, rowLen, chunkLen: GROUP_NORM_CHUNK, chunks, count, spatial, channels, channelsPerGroup, eps };
  const constants = { WG: GROUP_NORM_WORKGROUP };
  const applyConstants = { ...constants, ...affineConstants(weight, bias), SILU: opts.silu ? 1 : 0 };
  if (rowLen <= GROUP_NORM_ROW_MAX) {
    // opts.rowWorkgroup: a power of two (the reductions halve it), for sweeps.
    const rowWorkgroup = opts.rowWorkgroup ?? GROUP_NORM_WORKGROUP;
    rec.dispatch({
      label: `group_norm_row:${label}`,
      pipeline: rec.gpu.pipeline('norm', shaderFor(rec.gpu), 'group_norm_row', { ...applyConstants, WG: rowWorkgroup, HELD: heldValues(rowLen, rowWorkgroup) }),
      params: normParams(shape),
      bindings: [x, weight, bias, null, out],
      workgroups: grid1d(rows),
    });
    return out;
  }
  const moments = rec.alloc([rows * chunks, 4], `${label}:moments`);

  rec.dispatch({
    label: `group_norm_partials:${label}`,
    pipeline: rec.gpu.pipeline('norm', shaderFor(rec.gpu), 'group_norm_partials', { ...constants, HELD: heldValues(Math.min(rowLen, GROUP_NORM_CHUNK), GROUP_NORM_WORKGROUP) }),
    params: normParams(shape),
    bindings: [x, null, null, moments, null],
    workgroups: grid1d(rows * chunks),
  });
  if (chunks > 1) {
    rec.dispatch({
      label: `group_norm_merge:${label}`,
      pipeline: rec.gpu.pipeline('norm', shaderFor(rec.gpu), 'group_norm_merge', constants),
      params: normParams(shape),
      bindings: [null, null, null, moments, null],
      workgroups: grid1d(rows),
    });
  }
  rec.dispatch({
    label: `group_norm_apply:${label}`,
    pipeline: rec.gpu.pipeline('norm', shaderFor(rec.gpu), 'group_norm_apply', applyConstants),
    params: normParams(shape),
    bindings: [x, weight, bias, moments, out],
    workgroups: grid1d(Math.ceil(count / (GROUP_NORM_WORKGROUP * GROUP_NORM_APPLY_VALUES))),
  });
  rec.release(moments);
  return out;
}

/** torch.nn.LayerNorm over the last dimension of x [..., C]. */
export function layerNorm(rec: Recorder, x: Tensor, weight: Tensor, bias: Tensor, opts: { eps: number; out?: Tensor; label?: string; workgroup?: number }): Tensor {
  if (x.shape.length < 1) throw new Error(`layerNorm: x has no dimensions (${x.label})`);
  const channels = x.shape[x.shape.length - 1];
  checkAffine('layerNorm', weight, bias, channels);
  const label = opts.label ?? `layerNorm(${x.label})`;
  const out = outputFor(rec, 'layerNorm', x, opts.out, label);
  const rows = channels === 0 ? 0 : numel(x.shape) / channels;
  // opts.workgroup: a power of two (the reductions halve it), for sweeps. 64 invocations take rows
  // of up to 64 * MAX_HELD = 3072 values (every SD text encoder and UNet: 768 to 1280); with 256
  // for wider rows, merging four times as many partial moments doubled the rounding error of a row.
  const workgroup = opts.workgroup ?? LAYER_NORM_WORKGROUP;
  rec.dispatch({
    label: `layer_norm:${label}`,
    pipeline: rec.gpu.pipeline('norm', shaderFor(rec.gpu), 'layer_norm', { ...affineConstants(weight, bias), WG: workgroup, HELD: heldValues(channels, workgroup) }),
    params: normParams({ rows, rowLen: channels, eps: opts.eps }),
    bindings: [x, weight, bias, null, out],
    workgroups: grid1d(rows),
  });
  return out;
}

/** (x - mean) / sqrt(var + eps) * weight + bias over each row of `rowLen` values, in float64 with
 * two passes (mean, then squared deviations); value i of row r uses weight[affineIndex(r, i)]. */
function normalizeRows(
  x: ArrayLike<number>,
  rowLen: number,
  eps: number,
  affineIndex: (row: number, i: number) => number,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let row = 0; row * rowLen < x.length; row++) {
    const start = row * rowLen;
    let sum = 0;
    for (let i = 0; i < rowLen; i++) sum += x[start + i];
    const mean = sum / rowLen;
    let squares = 0;
    for (let i = 0; i < rowLen; i++) squares += (x[start + i] - mean) ** 2;
    const rstd = 1 / Math.sqrt(squares / rowLen + eps);
    for (let i = 0; i < rowLen; i++) {
      const c = affineIndex(row, i);
      out[start + i] = (x[start + i] - mean) * rstd * weight[c] + bias[c];
    }
  }
  return out;
}

// CPU references in float64, used by the tests.
export const reference = {
  /** x [N, C, ...spatial] flattened, spatial = the product of the trailing dimensions. Row r is
   * group r % groups; its value i lies in channel (r % groups) * C/groups + floor(i / spatial). */
  groupNorm: (x: ArrayLike<number>, channels: number, spatial: number, weight: ArrayLike<number>, bias: ArrayLike<number>, opts: { groups: number; eps: number; silu?: boolean }) => {
    const perGroup = channels / opts.groups;
    const out = normalizeRows(x, perGroup * spatial, opts.eps, (row, i) => (row % opts.groups) * perGroup + Math.floor(i / spatial), weight, bias);
    return opts.silu ? out.map((v) => v / (1 + Math.exp(-v))) : out;
  },
  /** x [..., C] flattened. */
  layerNorm: (x: ArrayLike<number>, channels: number, weight: ArrayLike<number>, bias: ArrayLike<number>, eps: number) =>
    normalizeRows(x, channels, eps, (_row, i) => i, weight, bias),
};
