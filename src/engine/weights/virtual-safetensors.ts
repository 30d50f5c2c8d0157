// A safetensors file that exists only as a header: its tensors are byte ranges of another file
// (a single-file checkpoint), under new names and shapes. Reads of its data section become reads
// of the original file, so nothing is copied and a multi-GB checkpoint is never held whole; a File
// is still read through slice().
import { checkRange, type ByteSource } from './byte-source';

export interface VirtualTensor {
  name: string;
  dtype: string;
  shape: readonly number[];
  /** Absolute byte range [begin, end) in the source file. */
  begin: number;
  end: number;
}

interface Run {
  /** Offset in the virtual file. */
  at: number;
  /** Offset in the source. */
  from: number;
  length: number;
}

/** `tensors` (non-overlapping ranges of `source`) as one safetensors file named `name`. Tensors are
 * laid out in source order, so neighbours in the source stay neighbours and a read of several
 * tensors is one read of the source. */
export function virtualSafetensors(name: string, source: ByteSource, tensors: readonly VirtualTensor[], metadata?: Record<string, string>): ByteSource {
  const ordered = [...tensors].sort((a, b) => a.begin - b.begin);
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const runs: Run[] = [];
  let offset = 0;
  for (const t of ordered) {
    if (header[t.name] !== undefined) throw new Error(`${name}: two tensors named "${t.name}"`);
    checkRange(source, t.begin, t.end - t.begin);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.end - t.begin] };
    const last = runs[runs.length - 1];
    if (last && last.from + last.length === t.begin) last.length += t.end - t.begin;
    else runs.push({ at: offset, from: t.begin, length: t.end - t.begin });
    offset += t.end - t.begin;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // The length as a u64 (its high word is 0: headers are far below 4 GB), then the JSON padded with spaces.
  const headerBytes = new Uint8Array(8 + Math.ceil(json.byteLength / 8) * 8).fill(0x20, 8);
  new DataView(headerBytes.buffer).setUint32(0, headerBytes.byteLength - 8, true);
  headerBytes.set(json, 8);
  const dataStart = headerBytes.byteLength;
  for (const run of runs) run.at += dataStart;

  return {
    name,
    size: dataStart + offset,
    async read(at, length) {
      checkRange(this, at, length);
      const end = at + length;
      const pieces: { at: number; bytes: Promise<Uint8Array> }[] = [];
      if (at < dataStart) pieces.push({ at, bytes: Promise.resolve(headerBytes.subarray(at, Math.min(end, dataStart))) });
      for (const run of runsIn(runs, Math.max(at, dataStart), end)) {
        const from = Math.max(at, run.at);
        const to = Math.min(end, run.at + run.length);
        pieces.push({ at: from, bytes: source.read(run.from + (from - run.at), to - from) });
      }
      if (pieces.length === 1) return pieces[0].bytes;
      const out = new Uint8Array(length);
      for (const piece of pieces) out.set(await piece.bytes, piece.at - at);
      return out;
    },
  };
}

/** The runs that overlap [from, to), found by binary search (an SD UNet has hundreds). */
function runsIn(runs: readonly Run[], from: number, to: number): Run[] {
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (runs[mid].at + runs[mid].length <= from) lo = mid + 1;
    else hi = mid;
  }
  const out: Run[] = [];
  for (let i = lo; i < runs.length && runs[i].at < to; i++) out.push(runs[i]);
  return out;
}
