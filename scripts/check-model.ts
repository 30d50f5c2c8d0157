// npm run check-model -- <file or folder>...
// Checks model files without a GPU and prints one JSON line per path:
//   {"path": …, "ok": true|false, "error": "…", "warnings": […]}
// A folder is read as a diffusers pipeline folder (model_index.json) or a component folder
// (config.json beside its weights); a file by its content: a single-file checkpoint (original LDM
// layout, checked as the playground reads it), other safetensors weights, or a JSON config,
// scheduler config or tokenizer. Pickle files (.ckpt, .bin, …) are refused. `--config-dir DIR`
// gives the single files after it the diffusers configs in DIR. Exits 1 when any path is broken.
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { checkJsonFile, checkModelFolder, checkSafetensors, checkSafetensorsFile, runCheck, type CheckResult } from '../src/engine/sampling/model-check';
import { parseJsonFile } from '../src/engine/weights/model-folder';
import { nodeFileSource, nodeModelFolder } from '../src/engine/weights/node-byte-source';
import type { SingleFileOptions } from '../src/engine/weights/single-file';

/** Diffusers configs for single files whose shapes cannot tell everything (--config-dir DIR: its
 * config.json for the UNet, text_encoder/config.json, vae/config.json, those present). */
type Configs = SingleFileOptions['config'];

async function readConfigs(dir: string): Promise<Configs> {
  const read = async (file: string) => {
    const text = await readFile(join(dir, file), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (parseJsonFile<Record<string, unknown>>(text, join(dir, file)));
  };
  const configs = { unet: await read('config.json'), textEncoder: await read('text_encoder/config.json'), vae: await read('vae/config.json') };
  if (!configs.unet && !configs.textEncoder && !configs.vae) throw new Error(`--config-dir ${dir}: none of config.json, text_encoder/config.json, vae/config.json found`);
  return configs;
}

async function checkPath(path: string, configs?: Configs): Promise<CheckResult> {
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
    return checkSafetensorsFile(await nodeFileSource(path), { config: configs });
  });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const paths: { path: string; configs?: Configs }[] = [];
  let configs: Configs;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--config-dir') configs = await readConfigs(args[++i] ?? '');
    else paths.push({ path: args[i], configs });
  }
  if (paths.length === 0) {
    console.error('usage: npm run check-model -- [--config-dir DIR] <file or folder>...');
    return 2;
  }
  let broken = 0;
  for (const { path, configs } of paths) {
    const result = await checkPath(path, configs);
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
