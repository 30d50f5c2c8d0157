// npm run check-model -- <file or folder>...
// Checks model files without a GPU and prints one JSON line per path:
//   {"path": …, "ok": true|false, "error": "…", "warnings": […]}
// A folder is read as a diffusers pipeline folder (model_index.json) or a component folder
// (config.json beside its weights); a file by its content: safetensors weights, or a JSON config,
// scheduler config or tokenizer. Exits 1 when any path is broken.
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { checkJsonFile, checkModelFolder, checkSafetensors, runCheck, type CheckResult } from '../src/engine/sampling/model-check';
import { nodeFileSource, nodeModelFolder } from '../src/engine/weights/node-byte-source';

async function checkPath(path: string): Promise<CheckResult> {
  return runCheck(path, async () => {
    const info = await stat(path).catch(() => {
      throw new Error(`${path}: no such file or folder`);
    });
    if (info.isDirectory()) {
      const folder = nodeModelFolder(path);
      if (await folder.has('model_index.json')) return checkModelFolder(folder);
      const warnings = await checkJsonFile(join(path, 'config.json'), await readFile(join(path, 'config.json'), 'utf8'));
      for (const file of ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors', 'model.safetensors', 'model.fp16.safetensors']) {
        if (await folder.has(file)) warnings.push(...(await checkSafetensors(await folder.open(file))).warnings);
      }
      return warnings;
    }
    if (/\.(json)$/i.test(path)) return checkJsonFile(basename(path), await readFile(path, 'utf8'));
    return (await checkSafetensors(await nodeFileSource(path))).warnings;
  });
}

async function main(): Promise<number> {
  const paths = process.argv.slice(2).filter((a) => a !== '--');
  if (paths.length === 0) {
    console.error('usage: npm run check-model -- <file or folder>...');
    return 2;
  }
  let broken = 0;
  for (const path of paths) {
    const result = await checkPath(path);
    if (!result.ok) broken++;
    console.log(JSON.stringify(result));
  }
  return broken > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`check-model: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
