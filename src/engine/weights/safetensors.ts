// The safetensors format (https://github.com/huggingface/safetensors#format): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {string: string}}, then the data section; offsets are relative to the start of the data section.
//
// Every field is checked before anything large is allocated or read, because the file may be
// anything a user dropped on the page. Each error names the file and the tensor.

import type { ByteSource } from './byte-source';

/** Bytes per element of every dtype the format defines. Only the floats below can be read as f32;
 * the others are parsed and checked, and rejected only when read. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

export type FloatDType = 'F32' | 'F16' | 'BF16' | 'F64';
const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'] satisfies FloatDType[];

export interface SafetensorsTensorInfo {
  name: string;
  /** As written in the file: 'F32', 'F16', 'BF16', 'I64', ... */
  dtype: string;
  shape: number[];
  /** Absolute byte offsets in the file: the data is [begin, end). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** The source's name, for messages. */
  file: string;
  /** In file order (by `begin`). */
  tensors: SafetensorsTensorInfo[];
  byName: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
  /** Absolute offset of the data section: 8 + header length. */
  dataStart: number;
}

/** Real headers are a few hundred KB (an SDXL single file: ~300 KB for ~2,500 tensors); the
 * reference implementation caps them at 100 MB. Ours is lower so that parsing stays in proportion
 * to what a diffusion model needs: a 60 MB header of a million tensors took 22 s and 1.1 GB. */
export const MAX_HEADER_BYTES = 16 * 2 ** 20;
/** Far above any diffusion checkpoint (SDXL's single file: ~2,500 tensors). */
export const MAX_TENSORS = 100_000;

export async function parseSafetensorsHeader(source: ByteSource): Promise<SafetensorsHeader> {
  const file = source.name;
  refusePickleName(file);
  if (source.size < 8) throw new Error(`${file}: not a safetensors file (${source.size} bytes, shorter than the 8-byte header length)`);
  const prefix = await source.read(0, 8);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  // The u64 as two u32s: a high word above zero already means more than 4 GB of header.
  const headerBytes = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  if (headerBytes > MAX_HEADER_BYTES || headerBytes > source.size - 8) {
    const other = otherFormat(prefix);
    if (other) throw new Error(`${file}: not a safetensors file: ${other}`);
    throw new Error(
      `${file}: not a safetensors file, or truncated: its header claims ${headerBytes} bytes ` +
        `but ${headerBytes > MAX_HEADER_BYTES ? `the limit is ${MAX_HEADER_BYTES}` : `only ${source.size - 8} follow the length`}`,
    );
  }
  const dataStart = 8 + headerBytes;
  const dataBytes = source.size - dataStart;

  let text: string;
  let json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await source.read(8, headerBytes));
    json = JSON.parse(text);
  } catch (e) {
    const other = otherFormat(prefix);
    if (other) throw new Error(`${file}: not a safetensors file: ${other}`, { cause: e });
    throw new Error(`${file}: the safetensors header is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isPlainObject(json)) throw new Error(`${file}: the safetensors header is not a JSON object`);
  const names = Object.keys(json);
  const tensorCount = names.length - (Object.hasOwn(json, '__metadata__') ? 1 : 0);
  if (tensorCount > MAX_TENSORS) throw new Error(`${file}: the header lists ${tensorCount} tensors, more than any model this app runs (limit ${MAX_TENSORS})`);
  const duplicate = firstDuplicateKey(text);
  if (duplicate !== undefined) throw new Error(`${file}: the header names tensor "${duplicate}" twice`);

  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const name of names) {
    const entry = json[name];
    if (name === '__metadata__') {
      if (!isPlainObject(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
        throw new Error(`${file}: "__metadata__" must map strings to strings`);
      }
      Object.assign(metadata, entry);
      continue;
    }
    tensors.push(checkEntry(file, name, entry, dataStart, dataBytes));
  }

  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkCoverage(file, tensors, dataStart, source.size);
  return { file, tensors, byName: new Map(tensors.map((t) => [t.name, t])), metadata, dataStart };
}

/**
 * The tensors must tile the data section exactly, as the reference implementation requires: a
 * gap, an overlap or bytes after the last tensor mean a wrong header length or offsets, and
 * reading on would load shifted, garbled weights.
 */
function checkCoverage(file: string, sorted: readonly SafetensorsTensorInfo[], dataStart: number, fileSize: number): void {
  const rel = (offset: number) => offset - dataStart;
  let end = dataStart;
  let previous: SafetensorsTensorInfo | undefined;
  for (const t of sorted) {
    if (previous && t.begin < previous.end) {
      throw new Error(
        `${file}: tensors "${previous.name}" and "${t.name}" overlap ` +
          `(data offsets [${rel(previous.begin)}, ${rel(previous.end)}] and [${rel(t.begin)}, ${rel(t.end)}])`,
      );
    }
    if (t.begin > end) {
      const where = previous ? `between tensors "${previous.name}" and "${t.name}"` : `before the first tensor "${t.name}"`;
      throw new Error(`${file}: ${t.begin - end} bytes of the data section belong to no tensor (${where}, data offsets [${rel(end)}, ${rel(t.begin)}]); the header's offsets or length are wrong`);
    }
    end = Math.max(end, t.end);
    previous = t;
  }
  if (end < fileSize) {
    throw new Error(`${file}: ${fileSize - end} bytes follow the last tensor's data; the header length is wrong or the file has trailing data`);
  }
}

/**
 * The first top-level key of the JSON object `text` that occurs twice (JSON.parse keeps the last
 * silently), found by scanning its strings at depth 1: O(length), like the parse before it.
 */
function firstDuplicateKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}

/** What a file that is not safetensors most likely is, from its first 8 bytes, for the message. */
function otherFormat(prefix: Uint8Array): string | undefined {
  const text = new TextDecoder('latin1').decode(prefix).trimStart().toLowerCase();
  if (prefix[0] === 0x50 && prefix[1] === 0x4b && prefix[2] === 0x03 && prefix[3] === 0x04) {
    return 'it is a ZIP archive, as PyTorch pickle checkpoints (.ckpt, .pt, .bin) are. Pickle files can run code when loaded and are not read here; convert the model to .safetensors (or download its .safetensors version)';
  }
  if (prefix[0] === 0x80 && prefix[1] >= 2 && prefix[1] <= 5) {
    return 'it is a Python pickle (an old-style .ckpt/.bin checkpoint). Pickle files can run code when loaded and are not read here; use the model\'s .safetensors version';
  }
  if (/^<(!doctyp|html|head|body|!--|\?xml)/.test(text)) {
    return 'it is a web page (HTML), not a model. The link probably points at a page about the file, not at the file itself';
  }
  if (text.startsWith('version ')) return 'it is a Git LFS pointer, a small text stub standing in for the real file; download the file itself';
  if (text.startsWith('{')) return 'it is a JSON file, not model weights';
  // Safetensors files start with a small little-endian length: its high bytes are zero. Eight
  // printable characters are the start of a text file.
  if (prefix.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d)) return `it starts with text (${JSON.stringify(new TextDecoder().decode(prefix))}), not with a safetensors header`;
  return undefined;
}

/** The warning for a tensor holding NaN or ±Infinity: check-model prints it, the playground shows it. */
export function nonFiniteTensorWarning(file: string, tensor: string, count: number): string {
  return `${file}: tensor "${tensor}" holds ${count} non-finite value${count === 1 ? '' : 's'} (NaN or Infinity); images made with it will be broken`;
}

/** PyTorch pickle checkpoints: loading them means running their code, so they are refused with a
 * message, whether picked or fetched (every safetensors read passes parseSafetensorsHeader). */
const PICKLE_EXTENSIONS = /\.(ckpt|bin|pt|pth|pkl|pickle)$/i;

function pickleMessage(file: string, why: string): string {
  return `${file}: ${why}. Pickle checkpoints can run code when loaded and are not read here; use the .safetensors version of this model (or convert it with a safetensors tool)`;
}

export function refusePickleName(file: string): void {
  const match = PICKLE_EXTENSIONS.exec(file);
  if (match) throw new Error(pickleMessage(file, `a ${match[0]} file is a PyTorch pickle checkpoint`));
}

/** A zip archive (torch.save since PyTorch 1.6) starts "PK\x03\x04"; a bare pickle, with opcode PROTO (0x80) and a protocol 2..5. */
export function refusePickleBytes(file: string, first: Uint8Array): void {
  if (first[0] === 0x50 && first[1] === 0x4b && first[2] === 0x03 && first[3] === 0x04) throw new Error(pickleMessage(file, 'this is a zip archive (a PyTorch checkpoint saved with torch.save), not safetensors'));
  if (first[0] === 0x80 && first[1] >= 2 && first[1] <= 5) throw new Error(pickleMessage(file, 'this is a Python pickle (a PyTorch checkpoint), not safetensors'));
}

function checkEntry(file: string, name: string, entry: unknown, dataStart: number, dataBytes: number): SafetensorsTensorInfo {
  const where = `${file}: tensor "${name}"`;
  if (!isPlainObject(entry)) throw new Error(`${where} is not an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') throw new Error(`${where} has no dtype`);
  if (shape === undefined) throw new Error(`${where} has no shape`);
  if (offsets === undefined) throw new Error(`${where} has no data_offsets`);
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new Error(`${where} has shape ${JSON.stringify(shape)}; a shape is a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new Error(`${where} has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] in bytes`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw new Error(`${where} has data_offsets [${begin}, ${end}]: begin is after end`);
  if (end > dataBytes) {
    throw new Error(`${where} has data_offsets [${begin}, ${end}] beyond the data section (${dataBytes} bytes); the file may be truncated`);
  }
  const elementBytes = Object.hasOwn(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype] : undefined;
  // Unknown dtypes (newer formats) cannot be size-checked; they fail only if read as floats.
  if (elementBytes !== undefined) {
    const needed = (shape as number[]).reduce((a, b) => a * b, 1) * elementBytes;
    if (needed !== end - begin) {
      throw new Error(`${where} needs ${needed} bytes (shape [${shape.join(', ')}], ${dtype}) but its offsets span ${end - begin}`);
    }
  }
  return { name, dtype, shape: [...(shape as number[])], begin: dataStart + begin, end: dataStart + end };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Reads one tensor and converts it to f32: F16 and BF16 exactly, F64 rounded to nearest. */
export async function readTensorF32(source: ByteSource, info: SafetensorsTensorInfo): Promise<Float32Array> {
  assertFloat(source.name, info);
  return decodeF32(await source.read(info.begin, info.end - info.begin), info, source.name);
}

/** Every tensor of a small file (golden inputs and outputs) as f32. I32 tensors (token ids) are
 * read too: exact while |value| < 2^24. */
export async function readAllF32(source: ByteSource): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const header = await parseSafetensorsHeader(source);
  for (const t of header.tensors) if (t.dtype !== 'I32') assertFloat(source.name, t);
  const data = await source.read(header.dataStart, source.size - header.dataStart);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of header.tensors) {
    const bytes = data.subarray(t.begin - header.dataStart, t.end - header.dataStart);
    const values = t.dtype === 'I32' ? Float32Array.from(new Int32Array(bytes.slice().buffer)) : decodeF32(bytes, t, source.name);
    out.set(t.name, { shape: t.shape, data: values });
  }
  return out;
}

export function assertFloat(file: string, info: SafetensorsTensorInfo): void {
  if (!FLOAT_DTYPES.includes(info.dtype)) {
    throw new Error(`${file}: tensor "${info.name}" is ${info.dtype}; only ${FLOAT_DTYPES.join(', ')} can be read as floats`);
  }
}

// Safetensors data is little-endian; typed arrays use the host's order, little-endian on every
// platform that runs WebGPU. The check keeps a big-endian host from reading garbage silently.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * `bytes` (exactly the tensor's data) as f32. F32 data at a 4-byte-aligned offset is returned as a
 * view without copying, so callers must not keep it past the life of `bytes`' buffer if that is reused.
 */
export function decodeF32(bytes: Uint8Array, info: SafetensorsTensorInfo, file: string): Float32Array {
  assertFloat(file, info);
  if (!HOST_LITTLE_ENDIAN) throw new Error(`${file}: reading safetensors needs a little-endian host`);
  if (bytes.byteLength !== info.end - info.begin) {
    throw new Error(`${file}: tensor "${info.name}": got ${bytes.byteLength} bytes, expected ${info.end - info.begin}`);
  }
  const count = bytes.byteLength / DTYPE_BYTES[info.dtype];
  // Typed array views need offsets aligned to their element size; copy when the bytes are not.
  const elementBytes = DTYPE_BYTES[info.dtype];
  const aligned = bytes.byteOffset % elementBytes === 0 ? bytes : bytes.slice();
  switch (info.dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, count);
    case 'F64':
      return Float32Array.from(new Float64Array(aligned.buffer, aligned.byteOffset, count));
    case 'BF16': {
      // bfloat16 is the top half of an f32: shifting the bits up is exact for every value.
      const half = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = half[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16':
      return decodeF16(new Uint16Array(aligned.buffer, aligned.byteOffset, count));
  }
  throw new Error(`unreachable: ${info.dtype}`);
}

/** f16 values (their bit patterns) as f32, exactly. */
export function decodeF16(half: Uint16Array): Float32Array {
  const table = f16Table();
  const out = new Uint32Array(half.length);
  for (let i = 0; i < half.length; i++) out[i] = table[half[i]];
  return new Float32Array(out.buffer);
}

let f16ToF32Bits: Uint32Array | undefined;

/** f32 bit patterns of all 65536 f16 values (256 KB, built once): a lookup is faster than branching per element. */
function f16Table(): Uint32Array {
  if (f16ToF32Bits) return f16ToF32Bits;
  const table = new Uint32Array(65536);
  const f32 = new Float32Array(1);
  const bits = new Uint32Array(f32.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) {
      // Zero and subnormals: mantissa × 2^-24, exact in f32 (at most 10 significant bits).
      f32[0] = mantissa * 2 ** -24;
      table[h] = (sign | bits[0]) >>> 0;
    } else if (exponent === 31) {
      // Inf and NaN; the NaN payload moves to the top of the f32 mantissa, as IEEE 754 conversion does.
      table[h] = (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
    } else {
      // Normal: rebias the exponent from 15 to 127.
      table[h] = (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
    }
  }
  f16ToF32Bits = table;
  return table;
}

export interface TensorToWrite {
  name: string;
  /** Defaults to 'F32'. */
  dtype?: string;
  shape: readonly number[];
  /** Float32Array for F32; raw little-endian bytes for any dtype. */
  data: Float32Array | Uint8Array;
}

/** A safetensors file holding `tensors` in order: for tests, and for dumping intermediates to compare
 * with PyTorch. The header is padded with spaces to a multiple of 8, as the reference writer does. */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const unpadded = new TextEncoder().encode(JSON.stringify(header));
  const jsonBytes = new Uint8Array(Math.ceil(unpadded.byteLength / 8) * 8).fill(0x20);
  jsonBytes.set(unpadded);
  const out = new Uint8Array(8 + jsonBytes.byteLength + offset);
  new DataView(out.buffer).setUint32(0, jsonBytes.byteLength, true);
  out.set(jsonBytes, 8);
  let at = 8 + jsonBytes.byteLength;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
