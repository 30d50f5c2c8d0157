// Which Chromium the e2e tests drive, and with which flags. No browser is downloaded: we use
// the system's (Debian's `chromium`, which ships SwiftShader for WebGPU without a GPU) or the
// user's Chrome (CHROME_PATH, or Playwright's "chrome" channel).
import { existsSync } from 'node:fs';
import type { LaunchOptions } from '@playwright/test';

const SYSTEM_CHROMIUMS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export function findChromium(): string | undefined {
  if (process.env.CHROME_PATH) return process.env.CHROME_PATH;
  return SYSTEM_CHROMIUMS.find((p) => existsSync(p));
}

export function chromiumLaunchOptions(): LaunchOptions {
  const executablePath = findChromium();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return {
    ...(executablePath ? { executablePath } : { channel: 'chrome' }),
    headless: true,
    args: [
      '--enable-unsafe-webgpu',
      '--enable-features=Vulkan',
      // SwiftShader provides the adapter where no GPU is present (Debian's chromium ships it).
      '--use-vulkan=swiftshader',
      '--use-webgpu-adapter=swiftshader',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      ...(isRoot ? ['--no-sandbox'] : []),
    ],
  };
}
