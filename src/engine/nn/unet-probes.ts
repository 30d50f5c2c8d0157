// The attention probes of one recorded UNet call (attention maps): which sites are probed, the GPU
// buffers their readings add up in over the steps of a generation, and their read-back. Recorded
// only for a call that asks for maps (UNet.setProbes); a call without them has no probe dispatch.
//
// Run-time values, so that a new point or step choice needs no new plan: the probed query index
// (a u32 buffer) and each map's step weight (an f32 buffer each: out += weight · probabilities),
// written before each step (sampling's beforeStep).
import type { GpuContext } from '../gpu/gpu-context';
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import type { AttentionInput } from '../kernels/attention';
import { probeQueryRows } from '../kernels/attention-probe';
import type { AttentionProbeCallback } from './transformer-2d';

/** What one UNet call probes. Part of the call's key: another spec records another plan. */
export interface ProbeSpec {
  /** Every cross-attention (attn2) site: all queries against the context tokens (DAAM). */
  crossAttention: boolean;
  /** The full path of one self-attention (attn1) site whose probed query rows are read. */
  selfAttentionSite?: string;
  /** How many query rows it reads (default 1: a point of the image). */
  selfAttentionQueries?: number;
  /** The batch item probed: the cond item (1 in a CFG batch [uncond, cond], 0 without CFG). */
  batchIndex: number;
}

/** One site's accumulated head-averaged probabilities: [tokens, h·w] (cross) or [keys] of one query (self). */
export interface SiteReading {
  path: string;
  /** The site's spatial size (its queries' h × w). */
  height: number;
  width: number;
  /** Context tokens (cross) or keys (self). */
  keys: number;
  values: Float32Array;
}

export interface ProbeReadings {
  cross: SiteReading[];
  self?: SiteReading;
}

interface Accumulator {
  path: string;
  height: number;
  width: number;
  keys: number;
  tensor: Tensor;
}

export class CallProbes {
  private readonly cross: Accumulator[] = [];
  private self?: Accumulator;
  private readonly crossWeight: GPUBuffer;
  private readonly selfWeight: GPUBuffer;
  private readonly queries: GPUBuffer;

  constructor(
    private readonly gpu: GpuContext,
    readonly spec: Readonly<ProbeSpec>,
    private readonly multipliers: (path: string) => { buffer: GPUBuffer; site: number },
  ) {
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    this.crossWeight = gpu.createBuffer('probe:cross step weight', 4, storage);
    this.selfWeight = gpu.createBuffer('probe:self step weight', 4, storage);
    this.queries = gpu.createBuffer('probe:self queries', 4 * this.queryCount, storage);
  }

  private get queryCount(): number {
    return this.spec.selfAttentionQueries ?? 1;
  }

  /** The transformer's probe callback for recording this call into `rec`. */
  callback(rec: Recorder): AttentionProbeCallback {
    return (path, q, k, heads, size) => {
      const isCross = path.endsWith('.attn2');
      if (isCross ? !this.spec.crossAttention : path !== this.spec.selfAttentionSite) return;
      const keys = ('tensor' in k ? k.tensor : k).shape[1];
      const queries = size.height * size.width;
      const shape = isCross ? [keys, queries] : [this.queryCount, keys];
      const tensor = this.accumulator(shape, path);
      const accumulator = { path, ...size, keys, tensor };
      if (isCross) this.cross.push(accumulator);
      else this.self = accumulator;
      this.record(rec, q, k, heads, accumulator, isCross);
    };
  }

  private accumulator(shape: number[], path: string): Tensor {
    const count = shape[0] * shape[1];
    const buffer = this.gpu.createBuffer(`probe:${path}`, count * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    return { buffer, shape, dtype: 'f32', byteOffset: 0, label: `probe:${path}` };
  }

  private record(rec: Recorder, q: AttentionInput, k: AttentionInput, heads: number, at: Accumulator, isCross: boolean): void {
    probeQueryRows(rec, q, k, {
      heads,
      batchIndex: this.spec.batchIndex,
      multipliers: this.multipliers(at.path),
      queries: isCross ? undefined : { buffer: this.queries, count: this.queryCount },
      layout: isCross ? 'keys-major' : 'rows',
      out: at.tensor,
      stepWeight: isCross ? this.crossWeight : this.selfWeight,
      label: `${at.path}:probe`,
    });
  }

  /** The self-attention site's size (known once recorded). */
  get selfSize(): { height: number; width: number } | undefined {
    return this.self && { height: this.self.height, width: this.self.width };
  }

  /** The self-attention site's query under (x, y), fractions of the image: its h × w cell there,
   * row-major as the site's tokens are. */
  queryAt(point: { x: number; y: number }): number {
    if (!this.self) throw new Error('attention probes: no self-attention site is probed');
    const cell = (fraction: number, cells: number) => Math.min(cells - 1, Math.max(0, Math.floor(fraction * cells)));
    return cell(point.y, this.self.height) * this.self.width + cell(point.x, this.self.width);
  }

  /** Zeros every accumulator and sets the self-attention probe's query indices (one per row). */
  reset(queries?: readonly number[]): void {
    for (const a of [...this.cross, ...(this.self ? [this.self] : [])]) this.gpu.write(a.tensor.buffer, new Float32Array(a.tensor.shape[0] * a.tensor.shape[1]));
    if (queries) {
      if (queries.length !== this.queryCount) throw new Error(`attention probes: ${queries.length} queries for ${this.queryCount} probed rows`);
      this.gpu.write(this.queries, new Uint32Array(queries));
    }
  }

  /** What step i adds to each map (0: nothing); written before the step is queued. */
  setStepWeights(cross: number, self: number): void {
    this.gpu.write(this.crossWeight, new Float32Array([cross]));
    this.gpu.write(this.selfWeight, new Float32Array([self]));
  }

  /** Reads every accumulator back (after the last step). */
  async read(): Promise<ProbeReadings> {
    const read = async (a: Accumulator): Promise<SiteReading> => ({
      path: a.path,
      height: a.height,
      width: a.width,
      keys: a.keys,
      values: await this.gpu.readF32(a.tensor.buffer, a.tensor.shape[0] * a.tensor.shape[1]),
    });
    const cross: SiteReading[] = [];
    for (const a of this.cross) cross.push(await read(a));
    return { cross, self: this.self && (await read(this.self)) };
  }

  destroy(): void {
    for (const a of [...this.cross, ...(this.self ? [this.self] : [])]) a.tensor.buffer.destroy();
    for (const b of [this.crossWeight, this.selfWeight, this.queries]) b.destroy();
  }
}
