// npm run golden -- <fixture folder>...
// Runs each folder (in the format of shared/fixtures, see its README) on WebGPU and prints one JSON
// line per check: {"check": "out.self_all", "max_abs": …, "rel": …, "pass": true}, with
// rel = max|a−b| / max|b|. Exits 1 when any check fails (rel > 1e-3) or a folder cannot be run.
// With no folder it runs every folder under the shared fixtures. A folder whose weights are one
// original-layout checkpoint (model.safetensors) runs as scripts/golden/single-file-golden.ts says.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createNodeGpuContext } from '../src/engine/gpu/node-gpu';
import { nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { fixturesDir } from './golden/fixtures-dir';
import { runGoldenFolder } from './golden/run-golden';

async function main(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const folders = args.length
    ? args.map((a) => resolve(a))
    : readdirSync(fixturesDir())
        .map((d) => join(fixturesDir(), d))
        .filter((d) => statSync(d).isDirectory());
  const gpu = await createNodeGpuContext();
  let failed = 0;
  let checks = 0;
  let skipped = 0;
  try {
    for (const dir of folders) {
      for await (const check of runGoldenFolder(gpu, nodeModelFolder(dir))) {
        checks++;
        if (!check.pass) failed++;
        if (check.skipped) skipped++;
        console.log(JSON.stringify(check));
      }
    }
  } finally {
    gpu.destroy();
  }
  console.error(`golden: ${checks - failed - skipped} passed, ${failed} failed${skipped ? `, ${skipped} skipped (not in the engine yet)` : ''}`);
  return failed > 0 || checks === 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`golden: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
