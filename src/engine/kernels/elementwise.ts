// Elementwise kernels: residual add, per-channel broadcast add, SiLU, constant scale.
import wgsl from '../../../shaders/elementwise.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { numel, sameShape, shapeString, type Tensor } from '../gpu/tensor';

const WORKGROUP = 256;

type Entry = 'add' | 'add_channel' | 'silu' | 'scale';
const UNARY: ReadonlySet<Entry> = new Set(['silu', 'scale']);

function launch(rec: Recorder, entry: Entry, a: Tensor, b: Tensor, out: Tensor, inner = 1, channels = 1, factor = 1): Tensor {
  const count = numel(a.shape);
  rec.dispatch({
    label: `${entry}:${out.label}`,
    pipeline: rec.gpu.pipeline('elementwise', wgsl, entry),
    params: params().u32(count, inner, channels).f32(factor),
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

/** x[N, C, ...] + v[N, C] broadcast over the trailing dimensions. */
export function addChannel(rec: Recorder, x: Tensor, v: Tensor, out?: Tensor): Tensor {
  const [n, c] = x.shape;
  if (numel(v.shape) !== n * c) throw new Error(`addChannel: ${shapeString(v.shape)} does not match [${n}, ${c}]`);
  const inner = numel(x.shape.slice(2));
  return launch(rec, 'add_channel', x, v, out ?? rec.alloc(x.shape, `${x.label}+ch`), inner, c);
}

export function silu(rec: Recorder, x: Tensor, out?: Tensor): Tensor {
  return launch(rec, 'silu', x, x, out ?? rec.alloc(x.shape, `silu(${x.label})`));
}

export function scale(rec: Recorder, x: Tensor, factor: number, out?: Tensor): Tensor {
  return launch(rec, 'scale', x, x, out ?? rec.alloc(x.shape, `${x.label}*${factor}`), 1, 1, factor);
}

// CPU references, used by the tests.
export const reference = {
  add: (a: Float32Array, b: Float32Array) => a.map((v, i) => v + b[i]),
  addChannel: (x: Float32Array, v: Float32Array, inner: number) => x.map((val, i) => val + v[Math.floor(i / inner)]),
  silu: (x: Float32Array) => x.map((v) => v / (1 + Math.exp(-v))),
  scale: (x: Float32Array, factor: number) => x.map((v) => v * factor),
};
