// Linear layers (torch.nn.Linear): a register-tiled matrix product with a fused epilogue for the
// bias, the attention "out" multiplier and a residual add. See shaders/linear.wgsl.
import wgsl from '../../../shaders/linear.wgsl?raw';
import type { GpuContext } from '../gpu/gpu-context';
import type { Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { numel, sameShape, shapeString, type Tensor } from '../gpu/tensor';

const MAX_WORKGROUPS_PER_DIM = 65535;

/** A compute path for the matrix product. Only the workgroup-memory kernel exists so far; subgroup and
 * subgroup-matrix paths will be chosen here from `gpu.features`, with the same bindings and params. */
interface LinearVariant {
  code: string;
  entryPoint: string;
  /** Rows and columns of the output that one workgroup computes (TILE in the shader). */
  tile: number;
}

function chooseVariant(_gpu: GpuContext): LinearVariant {
  return { code: wgsl, entryPoint: 'main', tile: 64 };
}

export interface LinearOptions {
  /** Added after the scale: y = (x·Wᵀ + b) * scale + residual. Same shape as the output. */
  residual?: Tensor;
  /** One f32 read at run time from buffer[index]: a slider writes it, the plan stays as recorded. */
  outputScale?: { buffer: GPUBuffer; index: number };
  out?: Tensor;
  label?: string;
}

/** torch.nn.Linear: y = (x · weightᵀ + bias) * scale + residual, over the last dim of x [..., K] -> [..., Nout].
 * weight [Nout, K] (PyTorch layout; f32, or f16 packed in pairs). `outputScale` reads one f32 at run time from
 * buffer[index] (the attention "out" multiplier: it must change between calls with only a buffer write, no
 * re-recording). residual has the output's shape. */
export function linear(rec: Recorder, x: Tensor, weight: Tensor, bias?: Tensor, opts: LinearOptions = {}): Tensor {
  const inner = x.shape[x.shape.length - 1];
  const [cols, weightInner] = weight.shape;
  const label = opts.label ?? `linear(${x.label})`;
  if (weight.shape.length !== 2 || weightInner !== inner) {
    throw new Error(`${label}: weight ${shapeString(weight.shape)} does not fit x ${shapeString(x.shape)} (want [N, ${inner}])`);
  }
  if (x.dtype !== 'f32') throw new Error(`${label}: x must be f32, got ${x.dtype}`);
  if (bias && (numel(bias.shape) !== cols || bias.dtype !== 'f32')) {
    throw new Error(`${label}: bias ${shapeString(bias.shape)} ${bias.dtype} is not [${cols}] f32`);
  }
  const outShape = [...x.shape.slice(0, -1), cols];
  const rows = numel(outShape) / cols;
  if (opts.residual && !sameShape(opts.residual.shape, outShape)) {
    throw new Error(`${label}: residual ${shapeString(opts.residual.shape)} is not the output's ${shapeString(outShape)}`);
  }
  const out = opts.out ?? rec.alloc(outShape, label);
  if (numel(out.shape) !== numel(outShape)) throw new Error(`${label}: out ${shapeString(out.shape)} is not ${shapeString(outShape)}`);
  for (const input of [x, weight, bias, opts.residual]) {
    if (input && input.buffer === out.buffer && input.byteOffset === out.byteOffset) {
      throw new Error(`${label}: out may not alias an input (${input.label}): one dispatch cannot read and write a binding`);
    }
  }
  const variant = chooseVariant(rec.gpu);
  const workgroups = [Math.ceil(cols / variant.tile), Math.ceil(rows / variant.tile)] as const;
  if (workgroups[0] > MAX_WORKGROUPS_PER_DIM || workgroups[1] > MAX_WORKGROUPS_PER_DIM) {
    throw new Error(`${label}: ${rows}x${cols} output needs more than ${MAX_WORKGROUPS_PER_DIM} workgroups per dimension`);
  }

  // Absent optional inputs are switched off by constant and bound to x, which is then never read:
  // 'auto' layouts keep every binding the code names, so each slot needs some buffer.
  const constants = {
    HAS_BIAS: bias ? 1 : 0,
    HAS_RESIDUAL: opts.residual ? 1 : 0,
    HAS_SCALE: opts.outputScale ? 1 : 0,
    WEIGHT_F16: weight.dtype === 'f16' ? 1 : 0,
  };
  rec.dispatch({
    label,
    pipeline: rec.gpu.pipeline('linear', variant.code, variant.entryPoint, constants),
    params: params().u32(rows, inner, cols, opts.outputScale?.index ?? 0),
    bindings: [x, weight, bias ?? x, opts.residual ?? x, opts.outputScale?.buffer ?? x, out],
    workgroups,
  });
  return out;
}

// CPU references, used by the tests. Accumulate in f64, so the GPU's f32 sums are what is measured.
export const reference = {
  /** y[m, n] = (sum_k x[m, k] w[n, k] + bias[n]) * scale + residual[m, n]; x is [rows, inner], w [cols, inner]. */
  linear(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array | undefined,
    inner: number,
    cols: number,
    opts: { residual?: Float32Array; scale?: number } = {},
  ): Float32Array {
    const rows = x.length / inner;
    const y = new Float32Array(rows * cols);
    const scale = opts.scale ?? 1;
    for (let m = 0; m < rows; m++) {
      for (let n = 0; n < cols; n++) {
        let sum = 0;
        for (let k = 0; k < inner; k++) sum += x[m * inner + k] * weight[n * inner + k];
        if (bias) sum += bias[n];
        sum *= scale;
        if (opts.residual) sum += opts.residual[m * cols + n];
        y[m * cols + n] = sum;
      }
    }
    return y;
  },
};
