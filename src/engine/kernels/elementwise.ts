// Elementwise kernels: a constant scale (a ResNet block's 1 / output_scale_factor). Residual adds,
// SiLU and a ResNet block's time embedding happen in the epilogues of the kernels before them
// (conv2d's residual and batchBias, linear's residual and silu, groupNorm's silu).
import wgsl from '../../../shaders/elementwise.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { numel, type Tensor } from '../gpu/tensor';

const WORKGROUP = 256;

/** x * factor. Writes into `out` when given (it may not alias x). */
export function scale(rec: Recorder, x: Tensor, factor: number, out?: Tensor): Tensor {
  const target = out ?? rec.alloc(x.shape, `${x.label}*${factor}`);
  const count = numel(x.shape);
  rec.dispatch({
    label: `scale:${target.label}`,
    pipeline: rec.gpu.pipeline('elementwise', wgsl, 'scale'),
    params: params().u32(count).f32(factor),
    bindings: [x, target],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
  return target;
}

// CPU reference, used by the tests.
export const reference = {
  scale: (x: Float32Array, factor: number) => x.map((v) => v * factor),
};
