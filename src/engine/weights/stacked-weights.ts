// Matrices made once, after loading, by stacking the rows of others: [N1, K], [N2, K], ... ->
// [N1 + N2 + ..., K], so that one linear computes several projections of the same input side by
// side (a self-attention's to_q, to_k, to_v, as diffusers' Attention.fuse_projections does; every
// cross-attention's to_k and to_v of the text; every ResNet block's time-embedding projection), and
// their biases: [N1], [N2], ... -> [N1 + N2 + ...].
// Each stack is a byte copy on the GPU into a buffer of its own; the parts stay where they are, so
// a layer that cannot use the stack still finds them.
import type { GpuContext } from '../gpu/gpu-context';
import { numel, tensorBytes, type Tensor } from '../gpu/tensor';
import type { WeightStore } from './weight-store';

export interface RowStack {
  /** The key of the stacked matrix. */
  name: string;
  /** Keys of the matrices [N_i, K] (or vectors [N_i]) to stack, in order. */
  parts: readonly string[];
}

/** Why `parts` cannot be stacked by copying their bytes end to end, or undefined. */
export function rowStackProblem(parts: readonly Tensor[]): string | undefined {
  if (parts.length === 0) return 'nothing to stack';
  const [first] = parts;
  for (const t of parts) {
    if (first.shape.length === 1 ? t.shape.length !== 1 : t.shape.length !== 2 || t.shape[1] !== first.shape[1]) {
      return first.shape.length === 1 ? `${t.label} is not a vector like ${first.label}` : `${t.label} is not a matrix of ${first.shape[1]} columns`;
    }
    if (t.dtype !== first.dtype) return `${t.label} is ${t.dtype}, not ${first.dtype} like ${first.label}`;
    // An odd number of halves ends in a padding half (tensor.ts): the next part would start mid-word.
    if (t.dtype === 'f16' && numel(t.shape) % 2 !== 0) return `${t.label} holds an odd number of f16 values`;
    if (t.byteOffset % 4 !== 0) return `${t.label} starts at byte ${t.byteOffset}, not a multiple of 4`;
    if (!(t.buffer.usage & GPUBufferUsage.COPY_SRC)) return `${t.label}'s buffer cannot be copied from`;
  }
  return undefined;
}

/** `weights` plus the stacks of `stacks` that rowStackProblem allows (the others are left out: their
 * layers keep using the parts). Destroying it destroys `weights` too. */
export function withRowStacks(gpu: GpuContext, weights: WeightStore, stacks: readonly RowStack[]): WeightStore {
  const stacked = new Map<string, Tensor>();
  const encoder = gpu.device.createCommandEncoder({ label: 'stack weight rows' });
  for (const { name, parts } of stacks) {
    if (weights.has(name)) throw new Error(`stacked weight ${name}: the store already holds a weight of that name`);
    const tensors = parts.map((part) => weights.get(part));
    if (rowStackProblem(tensors)) continue;
    const shape = [tensors.reduce((rows, t) => rows + t.shape[0], 0), ...tensors[0].shape.slice(1)];
    const bytes = tensors.reduce((sum, t) => sum + tensorBytes(t), 0);
    // One binding must hold the stack; a larger one is left out like any other that cannot be made.
    if (bytes > gpu.limits.maxStorageBufferBindingSize) continue;
    const buffer = gpu.createBuffer(name, bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    let offset = 0;
    for (const t of tensors) {
      encoder.copyBufferToBuffer(t.buffer, t.byteOffset, buffer, offset, tensorBytes(t));
      offset += tensorBytes(t);
    }
    stacked.set(name, { buffer, byteOffset: 0, shape, dtype: tensors[0].dtype, label: name });
  }
  gpu.device.queue.submit([encoder.finish()]);
  return new StackedWeightStore(weights, stacked);
}

class StackedWeightStore implements WeightStore {
  constructor(
    private readonly base: WeightStore,
    private readonly stacked: Map<string, Tensor>,
  ) {}

  get(name: string): Tensor {
    return this.stacked.get(name) ?? this.base.get(name);
  }

  has(name: string): boolean {
    return this.stacked.has(name) || this.base.has(name);
  }

  names(): string[] {
    return [...this.base.names(), ...this.stacked.keys()];
  }

  get byteSize(): number {
    let bytes = this.base.byteSize;
    for (const t of this.stacked.values()) bytes += t.buffer.size;
    return bytes;
  }

  destroy(): void {
    for (const t of this.stacked.values()) t.buffer.destroy();
    this.stacked.clear();
    this.base.destroy();
  }
}
