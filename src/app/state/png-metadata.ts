// Text chunks in PNG files (PNG spec 1.2 §4.2.3): what a saved image carries so that dropping it on
// the page brings its settings back. We write, as A1111 does, a "parameters" text a person can read,
// and, as ComfyUI writes its workflow, a machine-readable chunk: "attention-lab", the page's link.
// iTXt (UTF-8, uncompressed) keeps any prompt; tEXt (Latin-1) is read too.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** The link and the A1111-style parameters of an image or grid saved by Attention Lab. */
export const LINK_KEY = 'attention-lab';
export const PARAMETERS_KEY = 'parameters';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as PNG (and zlib) define it: polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function isPng(png: Uint8Array): boolean {
  return png.length >= 8 && SIGNATURE.every((b, i) => png[i] === b);
}

/** One chunk: length, type, data, CRC over type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An iTXt chunk's data: keyword, NUL, no compression (0, 0), empty language and translated keyword (NUL, NUL), UTF-8 text. */
function itxtData(keyword: string, text: string): Uint8Array {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error(`PNG text keyword "${keyword}" must be 1-79 printable Latin-1 characters`);
  const key = new TextEncoder().encode(keyword);
  const value = new TextEncoder().encode(text);
  const out = new Uint8Array(key.length + 5 + value.length);
  out.set(key, 0);
  out.set([0, 0, 0, 0, 0], key.length);
  out.set(value, key.length + 5);
  return out;
}

/** `png` with an iTXt chunk per entry of `texts`, placed right after IHDR (before the image data,
 * where readers that stop early still find them). */
export function withPngText(png: Uint8Array, texts: Record<string, string>): Uint8Array {
  if (!isPng(png)) throw new Error('not a PNG file (its signature is missing)');
  const ihdrEnd = 8 + 12 + new DataView(png.buffer, png.byteOffset).getUint32(8);
  if (String.fromCharCode(...png.subarray(12, 16)) !== 'IHDR' || ihdrEnd > png.length) throw new Error('not a PNG file (IHDR is not its first chunk)');
  const chunks = Object.entries(texts).map(([key, text]) => chunk('iTXt', itxtData(key, text)));
  const out = new Uint8Array(png.length + chunks.reduce((n, c) => n + c.length, 0));
  out.set(png.subarray(0, ihdrEnd), 0);
  let at = ihdrEnd;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  out.set(png.subarray(ihdrEnd), at);
  return out;
}

/** The tEXt and iTXt (uncompressed) texts of a PNG, by keyword. Chunks with a wrong CRC are
 * skipped; anything that is not a PNG gives an error that says so. */
export function readPngText(png: Uint8Array): Record<string, string> {
  if (!isPng(png)) throw new Error('not a PNG file (its signature is missing)');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const texts: Record<string, string> = {};
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder();
  for (let at = 8; at + 12 <= png.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    if (at + 12 + length > png.length) break;
    const data = png.subarray(at + 8, at + 8 + length);
    const crcOk = crc32(png.subarray(at + 4, at + 8 + length)) === view.getUint32(at + 8 + length);
    if (crcOk && (type === 'tEXt' || type === 'iTXt')) {
      const nul = data.indexOf(0);
      if (nul > 0) {
        const keyword = latin1.decode(data.subarray(0, nul));
        if (type === 'tEXt') texts[keyword] = latin1.decode(data.subarray(nul + 1));
        else if (data[nul + 1] === 0) {
          // Skip compression flag and method, then the language tag and translated keyword (NUL-terminated each).
          const language = data.indexOf(0, nul + 3);
          const translated = language < 0 ? -1 : data.indexOf(0, language + 1);
          if (translated >= 0) texts[keyword] = utf8.decode(data.subarray(translated + 1));
        }
      }
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return texts;
}
