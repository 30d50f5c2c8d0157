// A tensor is a view of a GPU buffer: its shape, and where in the buffer it starts.
// Activations are f32. Weights may be f32 or f16 (`f16` = pairs packed in u32 words, unpacked in
// the shader when shader-f16 is absent), so that an SD 1.5 UNet fits in about 1.7 GB.

export type TensorDType = 'f32' | 'f16';

export interface Tensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: TensorDType;
  /** Byte offset into `buffer`, a multiple of minStorageBufferOffsetAlignment (256). */
  readonly byteOffset: number;
  readonly label: string;
  /** A table larger than one binding, split by rows (gpu-weights.ts): the row blocks in order, each
   * a tensor of its own. `buffer` and `byteOffset` are then the first block's, and only kernels that
   * read split tables (embedding) accept such a tensor; binding it whole is refused (recorder.ts). */
  readonly parts?: readonly Tensor[];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function byteSize(shape: readonly number[], dtype: TensorDType = 'f32'): number {
  return dtype === 'f32' ? numel(shape) * 4 : Math.ceil(numel(shape) / 2) * 4;
}

export function tensorBytes(t: Tensor): number {
  return byteSize(t.shape, t.dtype);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function assertShape(t: Tensor, expected: readonly (number | undefined)[], what: string): void {
  const ok = t.shape.length === expected.length && expected.every((d, i) => d === undefined || d === t.shape[i]);
  if (!ok) throw new Error(`${what}: expected shape [${expected.map((d) => d ?? '?').join(', ')}], got [${t.shape.join(', ')}] (${t.label})`);
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
