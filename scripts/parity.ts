// npm run parity -- [--first-step-only]
// The default model against PyTorch (scripts/golden/default-model-parity.ts): one JSON line per
// check, exit 1 if any has rel > 1e-2. On SwiftShader the whole samplings take most of an hour;
// on a GPU, seconds.
import { join, resolve } from 'node:path';
import { createNodeGpuContext } from '../src/engine/gpu/node-gpu';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { defaultModelParity } from './golden/default-model-parity';

async function main(): Promise<number> {
  const root = resolve(import.meta.dirname ?? '.', '..');
  const gpu = await createNodeGpuContext();
  let failed = 0;
  try {
    const model = nodeModelFolder(join(root, 'public', 'models', 'emoji-64'));
    const fixture = nodeModelFolder(join(root, 'tests', 'fixtures', 'default-model'));
    for await (const check of defaultModelParity(gpu, model, fixture, { firstStepOnly: process.argv.includes('--first-step-only') })) {
      if (!check.pass) failed++;
      console.log(JSON.stringify(check));
    }
    console.error(`device: ${gpu.adapterName}`);
  } finally {
    gpu.destroy();
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`parity: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
