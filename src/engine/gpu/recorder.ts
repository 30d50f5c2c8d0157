// Records a model call once as a list of dispatches, then replays it every call.
//
// Layers run against a Recorder: they allocate activations from its pool, release them when done,
// and record dispatches. `finish()` turns that into a Plan: bind groups made once, every uniform
// written once into one arena buffer, activations reused by lifetime. A call then costs one command
// encoder, one compute pass and no allocation. Values that change between calls (timesteps,
// attention multipliers, inputs) live in storage buffers that the caller writes before `run()`.

import { align, type GpuContext } from './gpu-context';
import { byteSize, type Tensor } from './tensor';
import type { Params } from './params';

/** What a kernel binds after its params: a tensor, or a raw buffer (weights arena, multipliers). */
export type Binding = Tensor | GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface DispatchSpec {
  label: string;
  pipeline: GPUComputePipeline;
  /** Bound at @binding(0) as a uniform; omit for kernels without params. */
  params?: Params;
  /** Bound at @binding(1), @binding(2), ... in this order. `null` skips a slot that this entry point
   * does not use (pipelines use layout 'auto', which leaves unused bindings out). */
  bindings: (Binding | null)[];
  workgroups: readonly [number, number?, number?];
}

interface RecordedDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  uniformOffset: number;
  uniformSize: number;
  bindings: (Binding | null)[];
  workgroups: [number, number, number];
}

const UNIFORM_ALIGN = 256;
const MAX_WORKGROUPS_PER_DIM = 65535;

/** Folds a 1D workgroup count into x*y when it exceeds the per-dimension limit. Shaders compute
 * `id = wg.x + wg.y * num_workgroups.x` (see `flat_workgroup` in the shaders). */
export function grid1d(workgroups: number): [number, number, number] {
  if (workgroups <= MAX_WORKGROUPS_PER_DIM) return [Math.max(1, workgroups), 1, 1];
  const y = Math.ceil(workgroups / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(workgroups / y), y, 1];
}

export class Recorder {
  private readonly dispatches: RecordedDispatch[] = [];
  private uniformData = new Uint8Array(64 * 1024);
  private uniformUsed = 0;
  private readonly free: GPUBuffer[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly live = new Set<GPUBuffer>();
  private peakBytes = 0;
  private liveBytes = 0;

  constructor(
    readonly gpu: GpuContext,
    readonly label: string,
  ) {}

  /** A fresh f32 activation from the pool. It is reused once released. */
  alloc(shape: readonly number[], label: string): Tensor {
    const size = align(byteSize(shape), 16);
    // Best fit among free buffers no more than twice the size, so big buffers are not wasted on small tensors.
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const s = this.free[i].size;
      if (s >= size && s <= size * 2 && (best < 0 || s < this.free[best].size)) best = i;
    }
    let buffer: GPUBuffer;
    if (best >= 0) {
      buffer = this.free.splice(best, 1)[0];
    } else {
      buffer = this.gpu.createBuffer(`${this.label}:act${this.owned.length}`, size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      this.owned.push(buffer);
    }
    this.live.add(buffer);
    this.liveBytes += buffer.size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return { buffer, shape: [...shape], dtype: 'f32', byteOffset: 0, label };
  }

  /** Gives tensors back to the pool. Later dispatches may overwrite them: every dispatch of a plan
   * runs in recording order, and WebGPU orders storage accesses between dispatches. */
  release(...tensors: Tensor[]): void {
    for (const t of tensors) {
      if (!this.live.has(t.buffer)) continue; // weights, inputs and outputs are not pooled
      this.live.delete(t.buffer);
      this.liveBytes -= t.buffer.size;
      this.free.push(t.buffer);
    }
  }

  /** Marks a pooled tensor as kept beyond the plan (an output): it is never handed out again. */
  keep(t: Tensor): Tensor {
    if (this.live.delete(t.buffer)) this.liveBytes -= t.buffer.size;
    return t;
  }

  dispatch(spec: DispatchSpec): void {
    for (const b of spec.bindings) {
      if (b && 'shape' in b && b.parts) {
        throw new Error(`${spec.label}: ${b.label} [${b.shape.join(', ')}] is split across ${b.parts.length} buffers (larger than one binding); only the embedding lookup reads split tables`);
      }
    }
    let uniformOffset = -1;
    let uniformSize = 0;
    if (spec.params) {
      const bytes = spec.params.bytes();
      uniformOffset = align(this.uniformUsed, UNIFORM_ALIGN);
      uniformSize = bytes.byteLength;
      this.growUniforms(uniformOffset + uniformSize);
      this.uniformData.set(bytes, uniformOffset);
      this.uniformUsed = uniformOffset + uniformSize;
    }
    const [x, y = 1, z = 1] = spec.workgroups;
    if (x > MAX_WORKGROUPS_PER_DIM || y > MAX_WORKGROUPS_PER_DIM || z > MAX_WORKGROUPS_PER_DIM) {
      throw new Error(`${spec.label}: ${x}x${y}x${z} workgroups exceed ${MAX_WORKGROUPS_PER_DIM} per dimension`);
    }
    this.dispatches.push({ label: spec.label, pipeline: spec.pipeline, uniformOffset, uniformSize, bindings: spec.bindings, workgroups: [x, y, z] });
  }

  private growUniforms(size: number): void {
    if (size <= this.uniformData.byteLength) return;
    const grown = new Uint8Array(Math.max(size, this.uniformData.byteLength * 2));
    grown.set(this.uniformData);
    this.uniformData = grown;
  }

  /** Builds the plan: one uniform arena, one bind group per dispatch. */
  finish(): Plan {
    const device = this.gpu.device;
    const uniforms = this.gpu.createBuffer(`${this.label}:uniforms`, Math.max(this.uniformUsed, 16), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.gpu.write(uniforms, this.uniformData.subarray(0, align(this.uniformUsed, 4)));
    const steps: PlanStep[] = this.dispatches.map((d) => {
      const entries: GPUBindGroupEntry[] = [];
      if (d.uniformOffset >= 0) entries.push({ binding: 0, resource: { buffer: uniforms, offset: d.uniformOffset, size: d.uniformSize } });
      d.bindings.forEach((b, i) => b && entries.push({ binding: i + 1, resource: bufferBinding(b) }));
      const bindGroup = device.createBindGroup({ label: d.label, layout: d.pipeline.getBindGroupLayout(0), entries });
      return { label: d.label, pipeline: d.pipeline, bindGroup, workgroups: d.workgroups };
    });
    return new Plan(this.gpu, this.label, steps, [...this.owned, uniforms], this.peakBytes);
  }
}

function bufferBinding(b: Binding): GPUBufferBinding {
  if (b instanceof GPUBuffer) return { buffer: b };
  if ('shape' in b) return { buffer: b.buffer, offset: b.byteOffset, size: align(byteSize(b.shape, b.dtype), 4) };
  return { buffer: b.buffer, offset: b.offset ?? 0, size: b.size };
}

export interface PlanStep {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

export class Plan {
  constructor(
    private readonly gpu: GpuContext,
    readonly label: string,
    readonly steps: readonly PlanStep[],
    private readonly buffers: GPUBuffer[],
    /** Most bytes of pooled activations alive at once. */
    readonly peakActivationBytes: number,
  ) {}

  /** Total bytes of the pooled activation buffers this plan owns. */
  get activationBytes(): number {
    return this.buffers.reduce((sum, b) => sum + b.size, 0);
  }

  /** Encodes every dispatch, or those of `steps` (indices from, from + 1, ... < to), into one
   * compute pass of `encoder`. */
  encode(encoder: GPUCommandEncoder, steps?: { from: number; to: number }): void {
    const pass = encoder.beginComputePass({ label: this.label });
    for (const step of steps ? this.steps.slice(steps.from, steps.to) : this.steps) {
      pass.setPipeline(step.pipeline);
      pass.setBindGroup(0, step.bindGroup);
      pass.dispatchWorkgroups(...step.workgroups);
    }
    pass.end();
  }

  /** One command buffer for the whole call. */
  run(): void {
    const encoder = this.gpu.device.createCommandEncoder({ label: this.label });
    this.encode(encoder);
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}
