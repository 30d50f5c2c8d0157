// Help for the visitor's own browser and system (src/app/engine/webgpu-help.ts).
import { describe, expect, it } from 'vitest';
import { browserInfo, noAdapterHelp, noWebGpuHelp, softwareAdapterHelp } from '../src/app/engine/webgpu-help';

const UA = {
  chromeLinux: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  chromeWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  edgeMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  firefoxLinux: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  safariMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  safariIphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  chromeAndroid: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
};

describe('WebGPU help for the visitor’s browser', () => {
  it('tells browsers and systems apart', () => {
    expect(browserInfo(UA.chromeLinux)).toEqual({ browser: 'chrome', os: 'linux' });
    expect(browserInfo(UA.chromeWindows)).toEqual({ browser: 'chrome', os: 'windows' });
    expect(browserInfo(UA.edgeMac)).toEqual({ browser: 'edge', os: 'macos' });
    expect(browserInfo(UA.firefoxLinux)).toEqual({ browser: 'firefox', os: 'linux' });
    expect(browserInfo(UA.safariMac)).toEqual({ browser: 'safari', os: 'macos' });
    expect(browserInfo(UA.safariIphone)).toEqual({ browser: 'safari', os: 'ios' });
    expect(browserInfo(UA.chromeAndroid)).toEqual({ browser: 'chrome', os: 'android' });
  });

  it('names the Linux flags on Chrome for Linux, and acceleration settings on Windows and macOS', () => {
    const linux = noWebGpuHelp(browserInfo(UA.chromeLinux));
    expect(linux).toContain('--enable-unsafe-webgpu');
    expect(linux).toContain('--enable-features=Vulkan');
    expect(linux).not.toContain('settings/system');
    const windows = noWebGpuHelp(browserInfo(UA.chromeWindows));
    expect(windows).toContain('chrome://settings/system');
    expect(windows).toContain('chrome://gpu');
    expect(windows).not.toContain('--enable-unsafe-webgpu');
    expect(noWebGpuHelp(browserInfo(UA.edgeMac))).toContain('edge://gpu');
    expect(noAdapterHelp(browserInfo(UA.chromeLinux))).toContain('Vulkan');
    expect(softwareAdapterHelp(browserInfo(UA.chromeWindows))).toContain('chrome://settings/system');
  });

  it('gives Firefox and Safari their own WebGPU status', () => {
    expect(noWebGpuHelp(browserInfo(UA.firefoxLinux))).toContain('dom.webgpu.enabled');
    expect(noWebGpuHelp(browserInfo(UA.safariMac))).toContain('Safari 26');
    expect(noWebGpuHelp(browserInfo(UA.safariIphone))).toContain('iOS');
  });
});
