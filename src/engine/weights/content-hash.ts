// A file's identity for links and the cache, without reading gigabytes: SHA-256 over the size,
// the safetensors header (names, dtypes, shapes, offsets) and 16 slices of 64 KiB spread evenly
// over the data. Two fine-tunes of one architecture share the header and size but differ in
// nearly every tensor, so the slices tell them apart; hashing the whole file would cost a full
// read (tens of seconds for 4 GB) every time a file is opened, for no practical gain.

const SLICES = 16;
const SLICE_BYTES = 64 * 1024;
/** Beyond this a "header" is not one: hash the first bytes only. */
const MAX_HEADER = 100 * 2 ** 20;

/** 16 hex digits (64 bits) of the sampled SHA-256: enough to name a file among a person's models. */
export async function sampledContentHash(blob: Blob): Promise<string> {
  const size = blob.size;
  const parts: Uint8Array[] = [new TextEncoder().encode(`${size}:`)];
  let dataStart = 0;
  if (size >= 8) {
    const lengthBytes = new Uint8Array(await blob.slice(0, 8).arrayBuffer());
    const headerLength = Number(new DataView(lengthBytes.buffer).getBigUint64(0, true));
    dataStart = Math.min(size, 8 + Math.min(headerLength, MAX_HEADER));
    parts.push(new Uint8Array(await blob.slice(0, dataStart).arrayBuffer()));
  }
  const dataBytes = size - dataStart;
  for (let i = 0; i < SLICES && dataBytes > 0; i++) {
    const at = dataStart + Math.floor((dataBytes * i) / SLICES);
    parts.push(new Uint8Array(await blob.slice(at, Math.min(size, at + SLICE_BYTES)).arrayBuffer()));
  }
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) joined.set(p, (offset += p.byteLength) - p.byteLength);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** 16 hex digits of SHA-256 over `parts` (a folder's files, a checkpoint with its VAE). */
export async function combinedHash(parts: readonly string[]): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(parts.join('\n'))));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}
