// Where layers get their parameters: GPU tensors by their checkpoint key (Hugging Face hub names,
// e.g. `down_blocks.0.attentions.0.proj_in.weight`).
import type { Tensor } from '../gpu/tensor';

export interface WeightStore {
  /** The tensor stored under `name`; throws an error naming the key when it is missing. */
  get(name: string): Tensor;
  has(name: string): boolean;
  names(): string[];
  /** Bytes of GPU memory the weights take. */
  readonly byteSize: number;
  destroy(): void;
}
