// WebGPU in Node through dawn.node (the npm package `webgpu`), for tests, golden checks and
// benchmarks. Only Node code imports this file; the browser uses navigator.gpu.
//
// On a machine without a GPU driver, Dawn finds no Vulkan device. Debian's chromium package ships
// SwiftShader, a CPU Vulkan driver; we point the Vulkan loader at it when no other driver is set up.

import { existsSync, readdirSync } from 'node:fs';
import { GpuContext, GpuError, type GpuContextOptions } from './gpu-context';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** A GPU the system's Vulkan drivers can use: a DRM render node or an NVIDIA device. (Mesa's
 * lavapipe, a CPU driver some systems install, is refused by Dawn, so it does not count.) */
function hasGpuDevice(): boolean {
  const dri = existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  return dri || existsSync('/dev/nvidia0');
}

/** Chooses the Vulkan driver before dawn.node loads: an explicit one, the system's, or SwiftShader. */
function chooseVulkanDriver(): string {
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return 'from environment';
  if (hasGpuDevice()) return 'system';
  if (existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    return 'swiftshader';
  }
  throw new GpuError(
    'no-adapter',
    'No Vulkan driver for WebGPU in Node. Install a GPU driver, or the CPU fallback: `apt-get install chromium libvulkan1` ' +
      `(it ships SwiftShader at ${SWIFTSHADER_ICD}), or set VK_ICD_FILENAMES.`,
  );
}

let gpuPromise: Promise<GPU> | undefined;

/** navigator.gpu's equivalent in Node; also installs WebGPU's globals (GPUBufferUsage, ...). */
export function nodeGpu(): Promise<GPU> {
  gpuPromise ??= (async () => {
    chooseVulkanDriver();
    const { create, globals } = (await import('webgpu')) as unknown as {
      create: (flags: string[]) => GPU;
      globals: Record<string, unknown>;
    };
    Object.assign(globalThis, globals);
    // allow_unsafe_apis exposes chromium-experimental-subgroup-matrix on real GPUs. Without
    // timestamp_quantization, timestamp queries keep their nanoseconds (Dawn rounds them down to
    // 65.5 µs by default, which hides most kernels of a UNet in the per-kernel profile).
    return create(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization']);
  })();
  return gpuPromise;
}

/** A GpuContext in Node, with a message that says what to install where no adapter exists. */
export async function createNodeGpuContext(options: GpuContextOptions = {}): Promise<GpuContext> {
  let libvulkanMissing = false;
  const gpu = await nodeGpu();
  try {
    return await GpuContext.create(gpu, options);
  } catch (e) {
    if (e instanceof GpuError && e.kind === 'no-adapter') {
      libvulkanMissing = !existsSync('/usr/lib/x86_64-linux-gnu/libvulkan.so.1') && !existsSync('/usr/lib/aarch64-linux-gnu/libvulkan.so.1');
      throw new GpuError(
        'no-adapter',
        `dawn.node found no GPU adapter (Vulkan driver: ${process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES ?? 'system'}).` +
          (libvulkanMissing ? ' The Vulkan loader is missing: `apt-get install libvulkan1`.' : ' Install `chromium` for SwiftShader, or a GPU driver.'),
      );
    }
    throw e;
  }
}
