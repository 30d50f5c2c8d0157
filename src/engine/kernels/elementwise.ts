// Elementwise kernels: residual add, SiLU, constant scale. (A ResNet block's time embedding, a
// per-channel add, happens in its conv1's epilogue: conv2d's batchBias.)
import wgsl from '../../../shaders/elementwise.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { numel, sameShape, shapeString, type Tensor } from '../gpu/tensor';

const WORKGROUP = 256;

type Entry = 'add' | 'silu' | 'scale';
const UNARY: ReadonlySet<Entry> = new Set(['silu', 'scale']);

function launch(rec: Recorder, entry: Entry, a: Tensor, b: Tensor, out: Tensor, factor = 1): Tensor {
  const count = numel(a.shape);
  rec.dispatch({
    label: `${entry}:${out.label}`,
    pipeline: rec.gpu.pipeline('elementwise', wgsl, entry),
    params: params().u32(count).f32(factor),
    bindings: [a, UNARY.has(entry) ? null : b, out],
    workgroups: grid1d(Math.ceil(count / WORKGROUP)),
  });
  return out;
}

/** a + b, same shapes. Writes into `out` when given (it may alias neither input). */
export function add(rec: Recorder, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  if (!sameShape(a.shape, b.shape)) throw new Error(`add: shapes differ ${shapeString(a.shape)} vs ${shapeString(b.shape)}`);
  return launch(rec, 'add', a, b, out ?? rec.alloc(a.shape, `${a.label}+${b.label}`));
}

export function silu(rec: Recorder, x: Tensor, out?: Tensor): Tensor {
  return launch(rec, 'silu', x, x, out ?? rec.alloc(x.shape, `silu(${x.label})`));
}

export function scale(rec: Recorder, x: Tensor, factor: number, out?: Tensor): Tensor {
  return launch(rec, 'scale', x, x, out ?? rec.alloc(x.shape, `${x.label}*${factor}`), factor);
}

// CPU references, used by the tests.
export const reference = {
  add: (a: Float32Array, b: Float32Array) => a.map((v, i) => v + b[i]),
  silu: (x: Float32Array) => x.map((v) => v / (1 + Math.exp(-v))),
  scale: (x: Float32Array, factor: number) => x.map((v) => v * factor),
};
