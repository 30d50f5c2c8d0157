// What to do without WebGPU, or with WebGPU on the CPU, for the visitor's own browser and system:
// the user agent tells Chrome/Edge from Firefox and Safari, and Linux from Windows and macOS.

export interface BrowserInfo {
  browser: 'chrome' | 'edge' | 'firefox' | 'safari' | 'other';
  os: 'linux' | 'windows' | 'macos' | 'chromeos' | 'android' | 'ios' | 'other';
}

export function browserInfo(userAgent: string): BrowserInfo {
  const ua = userAgent;
  const browser = /Edg\//.test(ua) ? 'edge' : /Firefox\//.test(ua) ? 'firefox' : /Chrom(e|ium)\//.test(ua) ? 'chrome' : /Safari\//.test(ua) ? 'safari' : 'other';
  const os = /CrOS/.test(ua)
    ? 'chromeos'
    : /Android/.test(ua)
      ? 'android'
      : /iPhone|iPad|iPod/.test(ua)
        ? 'ios'
        : /Windows/.test(ua)
          ? 'windows'
          : /Mac OS X|Macintosh/.test(ua)
            ? 'macos'
            : /Linux|X11/.test(ua)
              ? 'linux'
              : 'other';
  return { browser, os };
}

const LINUX_FLAGS = 'google-chrome --enable-unsafe-webgpu --enable-features=Vulkan';

/** Help when the browser has no WebGPU at all (navigator.gpu is missing). */
export function noWebGpuHelp({ browser, os }: BrowserInfo): string {
  const name = browser === 'edge' ? 'Edge' : 'Chrome';
  if (browser === 'chrome' || browser === 'edge') {
    if (os === 'linux') return `${name} on Linux does not turn WebGPU on by itself yet. Start it with the flags "${LINUX_FLAGS}" (for Edge: microsoft-edge with the same flags), or enable "Unsafe WebGPU Support" and "Vulkan" in chrome://flags, then reload. Check the result in chrome://gpu (WebGPU: "Hardware accelerated").`;
    if (os === 'android') return `${name} on Android has WebGPU from version 121 on recent phones (Android 12+, Qualcomm or ARM GPUs). Update ${name}, or open this page on a desktop computer.`;
    return `Update ${name} to version 113 or newer, and check that "Use graphics acceleration when available" is on (${browser === 'edge' ? 'edge://settings/system' : 'chrome://settings/system'}). Then open ${browser === 'edge' ? 'edge://gpu' : 'chrome://gpu'}: WebGPU should read "Hardware accelerated". Reload this page afterwards.`;
  }
  if (browser === 'firefox') return 'Firefox has WebGPU on Windows from version 141 and on macOS (Apple silicon) from version 145; elsewhere it is still behind the "dom.webgpu.enabled" setting in about:config. Update Firefox, or use Chrome or Edge 113 or newer.';
  if (browser === 'safari') return os === 'ios' ? 'Safari has WebGPU from iOS and iPadOS 26. Update the system, or use a desktop computer with Chrome or Edge.' : 'Safari has WebGPU from Safari 26 (macOS Tahoe). Update macOS, or turn on WebGPU under Develop → Feature Flags, or use Chrome or Edge.';
  return 'This browser has no WebGPU. Use Chrome or Edge 113 or newer on a desktop computer.';
}

/** Help when WebGPU is present but no adapter is offered (blocklisted GPU, acceleration off). */
export function noAdapterHelp({ browser, os }: BrowserInfo): string {
  if ((browser === 'chrome' || browser === 'edge') && os === 'linux') return `Chrome on Linux offers a GPU to WebGPU through Vulkan: start it with "${LINUX_FLAGS}" (a Vulkan driver must be installed: mesa-vulkan-drivers, or your GPU vendor's), then check chrome://gpu.`;
  if (browser === 'chrome' || browser === 'edge') return `Turn on "Use graphics acceleration when available" in ${browser === 'edge' ? 'edge' : 'chrome'}://settings/system, update the GPU driver, and check ${browser === 'edge' ? 'edge' : 'chrome'}://gpu for a blocklisted GPU; then reload.`;
  if (browser === 'firefox') return 'Check about:support (Graphics: WebGPU) for why the GPU is not offered; an updated GPU driver often helps. Chrome or Edge may work where Firefox does not.';
  if (browser === 'safari') return 'Check that WebGPU is on under Develop → Feature Flags, then reload.';
  return 'Turn on hardware acceleration in the browser’s settings, update the GPU driver, then reload.';
}

/** Why a CPU adapter (SwiftShader, llvmpipe, WARP) was given instead of the GPU, and how to get the GPU. */
export function softwareAdapterHelp({ browser, os }: BrowserInfo): string {
  if ((browser === 'chrome' || browser === 'edge') && os === 'linux') return `To use your GPU, start Chrome with "${LINUX_FLAGS}" and make sure a Vulkan driver is installed; chrome://gpu shows what WebGPU runs on.`;
  if (browser === 'chrome' || browser === 'edge') return `To use your GPU, turn on "Use graphics acceleration when available" in ${browser === 'edge' ? 'edge' : 'chrome'}://settings/system and update the GPU driver; ${browser === 'edge' ? 'edge' : 'chrome'}://gpu shows what WebGPU runs on.`;
  return 'To use your GPU, turn on hardware acceleration and update the GPU driver.';
}
