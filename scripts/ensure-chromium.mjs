// Before e2e: make sure a Chromium exists. No browser is downloaded from the web; on Debian as
// root we install the distribution's `chromium` package (it ships SwiftShader, so WebGPU works
// without a GPU); elsewhere we say in one line what to do.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
if (candidates.some((p) => p && existsSync(p))) process.exit(0);

const isRoot = process.getuid?.() === 0;
const isDebian = existsSync('/etc/debian_version');
if (isRoot && isDebian) {
  console.log('ensure-chromium: installing Debian chromium for the e2e tests…');
  execSync('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libvulkan1', { stdio: 'inherit' });
  process.exit(0);
}
console.error('No Chromium found: install Chrome/Chromium (Debian: `sudo apt-get install chromium`) or set CHROME_PATH to its executable.');
process.exit(1);
