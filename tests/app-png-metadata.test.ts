// PNG text chunks for saved images (src/app/state/png-metadata.ts).
import { describe, expect, it } from 'vitest';
import { crc32, readPngText, withPngText } from '../src/app/state/png-metadata';

/** A valid 1×1 grey PNG (written with zlib by Python), with a tEXt chunk from another tool. */
const ONE_PIXEL = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAADXRFWHRDb21tZW50AGhlbGxv5v+uJAAAAApJREFUeJxjaAAAAIIAgXfNcrYAAAAASUVORK5CYII='),
  (c) => c.charCodeAt(0),
);

describe('PNG text chunks', () => {
  it('computes the CRC-32 of the PNG spec (check value of "123456789" is 0xCBF43926)', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    // IEND's CRC, fixed by the spec.
    expect(crc32(new TextEncoder().encode('IEND'))).toBe(0xae426082);
  });

  it('reads tEXt chunks written by other tools', () => {
    expect(readPngText(ONE_PIXEL)).toEqual({ Comment: 'hello' });
  });

  it('writes UTF-8 iTXt chunks after IHDR that read back, keeping the image bytes and other chunks', () => {
    const texts = { 'attention-lab': 'http://x/?prompt=caf%C3%A9&seed=1', parameters: 'café 🍎\nSteps: 2, Seed: 1' };
    const out = withPngText(ONE_PIXEL, texts);
    expect(readPngText(out)).toEqual({ Comment: 'hello', ...texts });
    // IHDR stays first; every original byte follows in order.
    expect(String.fromCharCode(...out.subarray(12, 16))).toBe('IHDR');
    expect(String.fromCharCode(...out.subarray(37, 41))).toBe('iTXt');
    const added = out.length - ONE_PIXEL.length;
    expect(Array.from(out.subarray(0, 33))).toEqual(Array.from(ONE_PIXEL.subarray(0, 33)));
    expect(Array.from(out.subarray(33 + added))).toEqual(Array.from(ONE_PIXEL.subarray(33)));
  });

  it('skips a chunk whose CRC is wrong, and says when a file is not a PNG', () => {
    const out = withPngText(ONE_PIXEL, { a: 'b' });
    out[out.indexOf(0x62, 41)] = 0x63; // 'b' -> 'c' inside the iTXt chunk, CRC unchanged
    expect(readPngText(out)).toEqual({ Comment: 'hello' });
    expect(() => readPngText(new TextEncoder().encode('GIF89a...'))).toThrow(/not a PNG/);
    expect(() => withPngText(ONE_PIXEL, { 'bad\nkey': 'x' })).toThrow(/keyword/);
  });
});
