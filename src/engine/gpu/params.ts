// Packs a kernel's uniform params struct. Every field is a 4-byte scalar (u32, i32 or f32),
// so the WGSL struct has no padding and the order of calls is the order of its fields.

export class Params {
  private readonly words: number[] = [];
  private readonly kinds: ('u32' | 'i32' | 'f32')[] = [];

  u32(...values: number[]): this {
    for (const v of values) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`Params.u32: ${v} is not a u32`);
      this.words.push(v);
      this.kinds.push('u32');
    }
    return this;
  }

  i32(...values: number[]): this {
    for (const v of values) {
      this.words.push(v | 0);
      this.kinds.push('i32');
    }
    return this;
  }

  f32(...values: number[]): this {
    for (const v of values) {
      this.words.push(v);
      this.kinds.push('f32');
    }
    return this;
  }

  /** The bytes, padded to 16 as uniform buffers require. */
  bytes(): Uint8Array {
    const count = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const buffer = new ArrayBuffer(count * 4);
    const u32 = new Uint32Array(buffer);
    const i32 = new Int32Array(buffer);
    const f32 = new Float32Array(buffer);
    this.words.forEach((v, i) => {
      const kind = this.kinds[i];
      if (kind === 'f32') f32[i] = v;
      else if (kind === 'i32') i32[i] = v;
      else u32[i] = v;
    });
    return new Uint8Array(buffer);
  }
}

export function params(): Params {
  return new Params();
}
