// Embedding lookups: rows of a table chosen by integer ids, with CLIP's learned position
// embeddings added in the same pass (transformers CLIPTextEmbeddings: token_embedding(ids) +
// position_embedding(arange(L))).
import wgsl from '../../../shaders/embedding.wgsl?raw';
import { grid1d, type Binding, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import type { Tensor } from '../gpu/tensor';

const WORKGROUP = 256;

export interface EmbeddingOptions {
  /** [P, C] learned positions; token t of each sequence adds row t % length. */
  positions?: Tensor;
  /** Tokens per sequence (the L of [B, L]); needed with `positions`. */
  length?: number;
  label?: string;
}

/**
 * out[t] = table[ids[t]] (+ positions[t % length]) for `count` ids read as u32 from `ids` (an
 * Int32Array of non-negative ids written there reads the same). Returns [count / length, length, C]
 * with positions, else [count, C]. Ids past the table read its last row: callers check ids on the
 * CPU (see ClipTextEncoder.encode); the clamp only keeps a bad id from reading out of bounds.
 * A table with `parts` (split by rows across buffers, gpu-weights.ts) is read block by block.
 */
export function embedding(rec: Recorder, ids: Binding, count: number, table: Tensor, opts: EmbeddingOptions = {}): Tensor {
  if (table.shape.length !== 2) throw new Error(`embedding: table must be [vocab, C], got [${table.shape.join(', ')}] (${table.label})`);
  const [vocab, channels] = table.shape;
  const { positions, length = count } = opts;
  if (positions) {
    if (positions.shape.length !== 2 || positions.shape[1] !== channels) {
      throw new Error(`embedding: positions [${positions.shape.join(', ')}] do not match width ${channels}`);
    }
    if (length > positions.shape[0]) throw new Error(`embedding: ${length} tokens per sequence, but only ${positions.shape[0]} positions`);
    if (count % length !== 0) throw new Error(`embedding: ${count} ids are not whole sequences of ${length}`);
  }
  const shape = positions ? [count / length, length, channels] : [count, channels];
  const out = rec.alloc(shape, opts.label ?? `embedding(${table.label})`);
  const entry = positions ? 'gather_add_position' : 'gather';
  // A table split by rows across buffers (larger than one binding): one pass per row block, each
  // writing the tokens whose ids fall in its rows.
  let firstRow = 0;
  for (const block of table.parts ?? [table]) {
    if (block.shape.length !== 2 || block.shape[1] !== channels) throw new Error(`embedding: row block [${block.shape.join(', ')}] of ${table.label} is not [rows, ${channels}]`);
    const rows = block.shape[0];
    const constants: Record<string, number> = { TOKENS_F16: block.dtype === 'f16' ? 1 : 0 };
    if (positions) constants.POSITIONS_F16 = positions.dtype === 'f16' ? 1 : 0;
    rec.dispatch({
      label: `${entry}:${out.label}${table.parts ? `:rows ${firstRow}..${firstRow + rows}` : ''}`,
      pipeline: rec.gpu.pipeline('embedding', wgsl, entry, constants),
      params: params().u32(count * channels, channels, length, vocab, firstRow, rows),
      bindings: [ids, block, positions ?? null, out],
      workgroups: grid1d(Math.ceil((count * channels) / WORKGROUP)),
    });
    firstRow += rows;
  }
  if (firstRow !== vocab) throw new Error(`embedding: the row blocks of ${table.label} hold ${firstRow} rows, the table ${vocab}`);
  return out;
}

// CPU reference, used by the tests.
export const reference = {
  embedding(ids: ArrayLike<number>, table: Float32Array, channels: number, positions?: Float32Array, length = ids.length): Float32Array {
    const out = new Float32Array(ids.length * channels);
    for (let t = 0; t < ids.length; t++) {
      for (let c = 0; c < channels; c++) {
        const position = positions ? positions[(t % length) * channels + c] : 0;
        out[t * channels + c] = table[ids[t] * channels + c] + position;
      }
    }
    return out;
  },
};
