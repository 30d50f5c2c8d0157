// Attention probe: the probabilities of one attention site, averaged over heads, for one batch item,
// without an Lq × Lk matrix (shaders/attention-probe.wgsl). Three reads of them:
// - probeKeyTotals: per key, the sum over all queries (SAG's mask: ComfyUI nodes_sag.py);
// - probeQueryRows with a query list: the rows of a few probed queries (self-attention maps);
// - probeQueryRows over all queries, keys-major: [keys, queries] (DAAM's cross-attention maps).
// The logits are attention.ts's, with the q·k multipliers of the site table read at run time.
import wgsl from '../../../shaders/attention-probe.wgsl?raw';
import { grid1d, type Binding, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { assertShape, shapeString, type Tensor } from '../gpu/tensor';
import type { AttentionInput, TensorColumns } from './attention';

const WORKGROUP = 64;

export interface ProbeOptions {
  heads: number;
  /** The batch item probed (the cond item of a CFG batch [uncond, cond] is 1). */
  batchIndex: number;
  /** The site table and this site's index in it: the q·k multipliers, read at run time. */
  multipliers?: { buffer: GPUBuffer; site: number };
  label?: string;
}

export interface QueryRowsOptions extends ProbeOptions {
  /** The probed query indices (u32, row-major h·w) and how many: a buffer written at run time, so a
   * new point needs no new plan. Absent: every query. Indices past the last query read the last. */
  queries?: { buffer: GPUBuffer; count: number };
  /** 'rows': out [rows, keys]; 'keys-major': out [keys, rows] (a cross-attention map per token). */
  layout: 'rows' | 'keys-major';
  /** Where the values go; with `stepWeight`, out += stepWeight[0] · value (a sum over steps). */
  out: Tensor;
  stepWeight?: GPUBuffer;
}

export interface KeyTotalsOptions extends ProbeOptions {
  out?: Tensor;
  stepWeight?: GPUBuffer;
}

function asColumns(input: AttentionInput): TensorColumns {
  return 'tensor' in input ? input : { tensor: input, first: 0, count: input.shape[input.shape.length - 1] };
}

/** Shapes, checks, and the uniforms shared by the three entry points. */
function setUp(qInput: AttentionInput, kInput: AttentionInput, opts: ProbeOptions, rows: number, strides: { row: number; key: number }, accumulate: boolean) {
  const [q, k] = [qInput, kInput].map(asColumns);
  const label = opts.label ?? `attention-probe(${q.tensor.label})`;
  if (q.tensor.shape.length !== 3) throw new Error(`${label}: q must be [B, L, H*D], got ${shapeString(q.tensor.shape)}`);
  const [batch, seqQ] = q.tensor.shape;
  assertShape(k.tensor, [batch, undefined, undefined], `${label}: k`);
  const seqK = k.tensor.shape[1];
  if (k.count !== q.count) throw new Error(`${label}: k has ${k.count} channels, q has ${q.count}`);
  const { heads, batchIndex } = opts;
  if (!Number.isInteger(heads) || heads < 1 || q.count % heads !== 0) throw new Error(`${label}: ${q.count} channels do not split into ${heads} heads`);
  if (!Number.isInteger(batchIndex) || batchIndex < 0 || batchIndex >= batch) throw new Error(`${label}: batch item ${batchIndex} of ${batch}`);
  if (seqK < 1 || seqQ < 1) throw new Error(`${label}: no queries or no keys`);
  const headDim = q.count / heads;
  const uniforms = params()
    .u32(seqQ, seqK, heads, headDim, q.tensor.shape[2], k.tensor.shape[2], q.first, k.first, batchIndex, 4 * (opts.multipliers?.site ?? 0))
    .f32(Math.LOG2E / Math.sqrt(headDim))
    .u32(rows, strides.row, strides.key, accumulate ? 1 : 0);
  return { q: q.tensor, k: k.tensor, label, seqQ, seqK, heads, uniforms };
}

/** The probed rows' softmax statistics ([heads, rows, 2]: max and sum), released by the caller. */
function rowStats(rec: Recorder, s: ReturnType<typeof setUp>, rows: number, multipliers: Binding, queries: Binding, constants: Record<string, number>): Tensor {
  const stats = rec.alloc([s.heads, rows, 2], `${s.label}:row-stats`);
  rec.dispatch({
    label: `${s.label}:row-stats`,
    pipeline: rec.gpu.pipeline('attention-probe', wgsl, 'row_stats', constants),
    params: s.uniforms,
    bindings: [s.q, s.k, multipliers, queries, stats, null, null],
    workgroups: grid1d(Math.ceil((s.heads * rows) / WORKGROUP)),
  });
  return stats;
}

/** Head-averaged probabilities of the probed query rows of batch item `batchIndex` against every
 * key, written (or, with a step weight, added) into `opts.out`. */
export function probeQueryRows(rec: Recorder, qInput: AttentionInput, kInput: AttentionInput, opts: QueryRowsOptions): Tensor {
  const seqQ = asColumns(qInput).tensor.shape[1];
  const seqK = asColumns(kInput).tensor.shape[1];
  const rows = opts.queries?.count ?? seqQ;
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`attention-probe: ${rows} probed queries`);
  const strides = opts.layout === 'rows' ? { row: seqK, key: 1 } : { row: 1, key: rows };
  const s = setUp(qInput, kInput, opts, rows, strides, !!opts.stepWeight);
  assertShape(opts.out, opts.layout === 'rows' ? [rows, seqK] : [seqK, rows], `${s.label}: out`);
  const constants = { HAS_MULTIPLIERS: opts.multipliers ? 1 : 0, HAS_QUERY_LIST: opts.queries ? 1 : 0 };
  // Placeholders for bindings the shader never reads under these constants.
  const multipliers = opts.multipliers?.buffer ?? s.q;
  const queries = opts.queries?.buffer ?? s.q;
  const stats = rowStats(rec, s, rows, multipliers, queries, constants);
  rec.dispatch({
    label: `${s.label}:query-rows`,
    pipeline: rec.gpu.pipeline('attention-probe', wgsl, 'query_rows', constants),
    params: s.uniforms,
    bindings: [s.q, s.k, multipliers, queries, stats, opts.stepWeight ?? s.q, opts.out],
    workgroups: grid1d(Math.ceil((rows * seqK) / WORKGROUP)),
  });
  rec.release(stats);
  return opts.out;
}

/**
 * Per key j, Σ over all queries i of mean over heads of p_hij, for batch item `batchIndex`: [keys].
 * SAG's mask is (this > 1) (ComfyUI nodes_sag.py: attn.mean(heads).sum(queries) > 1.0). The totals
 * sum to the number of queries. Written to `opts.out` (or a fresh [keys] tensor the caller releases
 * or keeps); with `stepWeight`, added to it times stepWeight[0].
 */
export function probeKeyTotals(rec: Recorder, qInput: AttentionInput, kInput: AttentionInput, opts: KeyTotalsOptions): Tensor {
  const seqQ = asColumns(qInput).tensor.shape[1];
  const s = setUp(qInput, kInput, opts, seqQ, { row: 0, key: 1 }, !!opts.stepWeight);
  const out = opts.out ?? rec.alloc([s.seqK], `${s.label}:key-totals`);
  assertShape(out, [s.seqK], `${s.label}: out`);
  const constants = { HAS_MULTIPLIERS: opts.multipliers ? 1 : 0, HAS_QUERY_LIST: 0 };
  const multipliers = opts.multipliers?.buffer ?? s.q;
  const stats = rowStats(rec, s, seqQ, multipliers, s.q, constants);
  rec.dispatch({
    label: `${s.label}:key-totals`,
    pipeline: rec.gpu.pipeline('attention-probe', wgsl, 'key_totals', constants),
    params: s.uniforms,
    bindings: [s.q, s.k, multipliers, null, stats, opts.stepWeight ?? s.q, out],
    workgroups: grid1d(Math.ceil(s.seqK / WORKGROUP)),
  });
  rec.release(stats);
  return out;
}

export interface ProbeShape {
  batch: number;
  seqQ: number;
  seqK: number;
  heads: number;
  batchIndex: number;
  /** [mq, mk]; default 1. */
  multipliers?: readonly number[];
}

// CPU reference (f64): the full head-averaged matrix of one batch item, then its reads.
export const probeReference = {
  /** [seqQ, seqK]: mean over heads of softmax(q·kᵀ · mq · mk / √D) of batch item `batchIndex`. */
  meanProbabilities(q: Float32Array, k: Float32Array, s: ProbeShape): Float64Array {
    const width = q.length / (s.batch * s.seqQ);
    const headDim = width / s.heads;
    const [mq, mk] = s.multipliers ?? [1, 1];
    const scale = (mq * mk) / Math.sqrt(headDim);
    const mean = new Float64Array(s.seqQ * s.seqK);
    const logits = new Float64Array(s.seqK);
    for (let h = 0; h < s.heads; h++) {
      for (let i = 0; i < s.seqQ; i++) {
        const qRow = (s.batchIndex * s.seqQ + i) * width + h * headDim;
        let max = -Infinity;
        for (let j = 0; j < s.seqK; j++) {
          const kRow = (s.batchIndex * s.seqK + j) * width + h * headDim;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[qRow + d] * k[kRow + d];
          logits[j] = dot * scale;
          max = Math.max(max, logits[j]);
        }
        let sum = 0;
        for (let j = 0; j < s.seqK; j++) sum += (logits[j] = Math.exp(logits[j] - max));
        for (let j = 0; j < s.seqK; j++) mean[i * s.seqK + j] += logits[j] / sum / s.heads;
      }
    }
    return mean;
  },
  /** [queries.length, seqK] */
  queryRows(mean: Float64Array, s: ProbeShape, queries: readonly number[]): Float64Array {
    const out = new Float64Array(queries.length * s.seqK);
    queries.forEach((i, r) => out.set(mean.subarray(i * s.seqK, (i + 1) * s.seqK), r * s.seqK));
    return out;
  },
  /** [seqK, seqQ] */
  keysMajor(mean: Float64Array, s: ProbeShape): Float64Array {
    const out = new Float64Array(s.seqQ * s.seqK);
    for (let i = 0; i < s.seqQ; i++) for (let j = 0; j < s.seqK; j++) out[j * s.seqQ + i] = mean[i * s.seqK + j];
    return out;
  },
  /** [seqK] */
  keyTotals(mean: Float64Array, s: ProbeShape): Float64Array {
    const out = new Float64Array(s.seqK);
    for (let i = 0; i < s.seqQ; i++) for (let j = 0; j < s.seqK; j++) out[j] += mean[i * s.seqK + j];
    return out;
  },
};
