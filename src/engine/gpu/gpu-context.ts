// The one GPU helper that the app, the worker, the tests and the benchmarks share.
// It owns the GPUDevice, the pipeline cache and the typed errors that reach the UI.

export type GpuErrorKind = 'no-webgpu' | 'no-adapter' | 'limits' | 'device-lost' | 'validation' | 'out-of-memory';

/** An error a person can act on: `kind` says what happened, the message says what to do. */
export class GpuError extends Error {
  constructor(
    readonly kind: GpuErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'GpuError';
  }
}

export const NO_WEBGPU_HELP =
  'WebGPU is not available. Use Chrome or Edge 113 or newer (desktop). ' +
  'On Linux, start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan, or enable it in chrome://flags. ' +
  'Safari 26 and Firefox 141+ also ship WebGPU on some platforms.';

/** Limits the engine asks for: as much as the adapter offers of what large models need. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Optional features that fast paths use; every one of them has a plain fallback. */
const OPTIONAL_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

export interface GpuContextOptions {
  powerPreference?: GPUPowerPreference;
  /** The smallest maxStorageBufferBindingSize the caller's model needs, in bytes. */
  requiredStorageBinding?: number;
  /** Called once when the device is lost other than by `destroy()`. */
  onLost?: (error: GpuError) => void;
  /** Called for errors nobody captured (validation, out of memory). */
  onError?: (error: GpuError) => void;
  /** Optional features not to ask for even where offered: tests and benchmarks run the plain fallbacks so. */
  withoutFeatures?: readonly GPUFeatureName[];
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
}

export class GpuContext {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  /** hash() of each shader's code, so that a lookup costs a map access, not a pass over the code
   * (the engine asks for pipelines while recording and at the start of every sampling run). */
  private readonly codeHashes = new Map<string, number>();
  private destroyed = false;
  /** Buffers made by createBuffer and not yet destroyed, and their bytes: what a long session's
   * tests watch for leaks, and what the page can show as GPU memory in use. */
  readonly live = { buffers: 0, bytes: 0 };
  /** The most live.bytes reached since the context was made or resetPeakBytes(): the benchmark's
   * peak GPU memory (every buffer the engine makes goes through createBuffer). */
  peakBytes = 0;
  /** Problems found while weights were uploaded (non-finite tensors, by file and name) that do not
   * stop a load: the model's loader takes them (takeLoadWarnings) to show them. */
  private loadWarnings: string[] = [];

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    readonly features: ReadonlySet<string>,
  ) {}

  reportLoadWarning(text: string): void {
    this.loadWarnings.push(text);
  }

  /** The warnings reported since the last take (loads run one at a time). */
  takeLoadWarnings(): string[] {
    return this.loadWarnings.splice(0);
  }

  /** Requests an adapter and device from `gpu` (navigator.gpu in a browser, dawn.node in Node). */
  static async create(gpu: GPU | undefined, options: GpuContextOptions = {}): Promise<GpuContext> {
    if (!gpu) throw new GpuError('no-webgpu', NO_WEBGPU_HELP);
    const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
    if (!adapter) {
      throw new GpuError(
        'no-adapter',
        'WebGPU is present but no GPU adapter was offered. Check that hardware acceleration is on (chrome://settings/system) ' +
          'and that your GPU driver is not blocklisted (chrome://gpu).',
      );
    }
    const need = options.requiredStorageBinding ?? 0;
    if (adapter.limits.maxStorageBufferBindingSize < need) {
      throw new GpuError(
        'limits',
        `This GPU binds at most ${mib(adapter.limits.maxStorageBufferBindingSize)} per buffer; the model needs ${mib(need)}. ` +
          'Try a smaller model or another GPU.',
      );
    }
    const requiredLimits: Record<string, number> = {};
    for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !options.withoutFeatures?.includes(f));
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'attention-lab' });
    const info = adapter.info;
    const context = new GpuContext(
      device,
      {
        vendor: info?.vendor ?? '',
        architecture: info?.architecture ?? '',
        device: info?.device ?? '',
        description: info?.description ?? '',
        features: [...adapter.features].sort(),
      },
      new Set(device.features),
    );
    void device.lost.then((lost) => {
      if (context.destroyed || lost.reason === 'destroyed') return;
      options.onLost?.(new GpuError('device-lost', `The GPU device was lost (${lost.message || 'unknown reason'}). Recreating it.`));
    });
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      const kind = error instanceof GPUOutOfMemoryError ? 'out-of-memory' : 'validation';
      const wrapped = new GpuError(kind, error.message);
      if (options.onError) options.onError(wrapped);
      else console.error(wrapped);
    });
    return context;
  }

  resetPeakBytes(): void {
    this.peakBytes = this.live.bytes;
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** Adapter name for people: "nvidia (hopper)" or "google (swiftshader)". */
  get adapterName(): string {
    const a = this.adapter;
    const detail = a.description || a.device || a.architecture;
    return detail ? `${a.vendor || 'unknown'} (${detail})` : a.vendor || 'unknown adapter';
  }

  /**
   * One pipeline per (code, entry point, override constants): sizes that change at run time go in
   * uniforms instead, so one pipeline serves every resolution.
   */
  pipeline(label: string, code: string, entryPoint = 'main', constants: Record<string, number> = {}): GPUComputePipeline {
    const constantKey = Object.entries(constants)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    let codeHash = this.codeHashes.get(code);
    if (codeHash === undefined) {
      codeHash = hash(code);
      this.codeHashes.set(code, codeHash);
    }
    const key = `${label}|${entryPoint}|${constantKey}|${code.length}|${codeHash}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      let module = this.modules.get(code);
      if (!module) {
        module = this.device.createShaderModule({ label, code });
        this.modules.set(code, module);
      }
      pipeline = this.device.createComputePipeline({
        label: `${label}:${entryPoint}${constantKey ? `{${constantKey}}` : ''}`,
        layout: 'auto',
        compute: { module, entryPoint, constants },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  createBuffer(label: string, size: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const bytes = align(Math.max(size, 4), 4);
    const buffer = this.device.createBuffer({ label, size: bytes, usage });
    this.live.buffers++;
    this.live.bytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.live.bytes);
    const destroy = buffer.destroy.bind(buffer);
    let destroyed = false;
    buffer.destroy = () => {
      if (!destroyed) {
        destroyed = true;
        this.live.buffers--;
        this.live.bytes -= bytes;
      }
      destroy();
    };
    return buffer;
  }

  /** A storage buffer filled from `data` (f32, u32 or raw bytes). */
  upload(label: string, data: ArrayBufferView, extraUsage: GPUBufferUsageFlags = 0): GPUBuffer {
    const buffer = this.createBuffer(label, data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | extraUsage);
    this.write(buffer, data);
    return buffer;
  }

  write(buffer: GPUBuffer, data: ArrayBufferView, bufferOffset = 0): void {
    // writeBuffer needs a size that is a multiple of 4: pad odd-sized byte uploads.
    const padded = data.byteLength % 4 === 0 ? data : padTo4(data);
    this.device.queue.writeBuffer(buffer, bufferOffset, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** Copies `byteLength` bytes of `buffer` back to the CPU. */
  async readBytes(buffer: GPUBuffer, byteLength = buffer.size, byteOffset = 0): Promise<ArrayBuffer> {
    const size = align(byteLength, 4);
    const staging = this.device.createBuffer({ label: `${buffer.label}:readback`, size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0, byteLength);
    staging.destroy();
    return copy;
  }

  async readF32(buffer: GPUBuffer, count = buffer.size / 4, offset = 0): Promise<Float32Array> {
    return new Float32Array(await this.readBytes(buffer, count * 4, offset * 4));
  }

  /** Resolves once the queue has finished everything submitted so far. */
  idle(): Promise<void> {
    return this.device.queue.onSubmittedWorkDone();
  }

  destroy(): void {
    this.destroyed = true;
    this.pipelines.clear();
    this.modules.clear();
    this.codeHashes.clear();
    this.device.destroy();
  }
}

export function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function padTo4(data: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(align(data.byteLength, 4));
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return out;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** FNV-1a over the WGSL text: cheap, and collisions also need equal lengths to matter. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
