// A UNet's weights, random, made on the GPU: matrices and kernels in `dtype` (f16 packed, as real
// checkpoints ship), biases and norm parameters in f32. Scaled by 1/sqrt(fan_in) so activations
// stay finite through the whole network.
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { byteSize, type Tensor, type TensorDType } from '../../src/engine/gpu/tensor';
import { randomTensor } from '../../src/engine/kernels/random-fill';
import type { WeightShapes } from '../../src/engine/nn/unet-weights';
import type { WeightStore } from '../../src/engine/weights/weight-store';

export function randomWeights(gpu: GpuContext, shapes: WeightShapes, dtype: TensorDType): WeightStore {
  const tensors = new Map<string, Tensor>();
  let seed = 1;
  let bytes = 0;
  for (const [name, shape] of shapes) {
    const matrix = shape.length >= 2;
    const fanIn = matrix ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const t = randomTensor(gpu, name, shape, matrix ? dtype : 'f32', matrix ? 1 / Math.sqrt(fanIn) : 0.1, seed++);
    bytes += byteSize(shape, t.dtype);
    tensors.set(name, t);
  }
  return {
    get(name) {
      const t = tensors.get(name);
      if (!t) throw new Error(`random weights: no tensor ${name}`);
      return t;
    },
    has: (name) => tensors.has(name),
    names: () => [...tensors.keys()],
    byteSize: bytes,
    destroy() {
      for (const t of tensors.values()) t.buffer.destroy();
      tensors.clear();
    },
  };
}
