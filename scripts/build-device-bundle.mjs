// Bundles a Node entry (default scripts/bench.ts) into one ES module for the GPU machine, where
// neither TypeScript sources nor node_modules travel: everything is inlined except `webgpu`
// (dawn.node, linked there by shared/device/enter.sh). Output: .device-bundle/<name>.mjs
//
// A bundle that contains ONNX Runtime Web also needs its WebAssembly, which cannot be inlined: it
// goes next to the bundles, brotli-compressed (27 MB -> 3.9 MB, for the machine's 64 MiB
// transfer limit), where src/engine/ort/ort-node.ts looks for it.
import { build, loadConfigFromFile } from 'vite';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { constants, brotliCompressSync } from 'node:zlib';

const OUT_DIR = '.device-bundle';
// The names ORT_WASM_FILE and ORT_WASM_BROTLI_FILE in src/engine/ort/ort-node.ts.
const ORT_WASM = 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm';
const ORT_WASM_BROTLI = join(OUT_DIR, `${basename(ORT_WASM)}.br`);

// vite.config.ts's aliases (the bundled CLIP vocabulary's file), without the app's plugins.
const { resolve } = (await loadConfigFromFile({ command: 'build', mode: 'production' }, 'vite.config.ts', undefined, 'silent')).config;
const entries = process.argv.slice(2).length ? process.argv.slice(2) : ['scripts/bench.ts'];
let needsOrtWasm = false;
for (const entry of entries) {
  const name = `${basename(entry).replace(/\.ts$/, '')}.mjs`;
  const result = await build({
    configFile: false,
    publicDir: false,
    logLevel: 'warn',
    resolve,
    ssr: { noExternal: true, external: ['webgpu'] },
    build: {
      ssr: entry,
      outDir: OUT_DIR,
      emptyOutDir: false,
      target: 'node20',
      minify: false,
      // One file per entry, dynamic imports (such as onnxruntime-web's) included.
      rollupOptions: { output: { format: 'es', entryFileNames: name, codeSplitting: false } },
    },
  });
  const chunks = [result].flat().flatMap((r) => r.output);
  needsOrtWasm ||= chunks.some((c) => c.type === 'chunk' && c.moduleIds.some((id) => id.includes('/onnxruntime-web/')));
  console.log(`bundled ${entry} -> ${OUT_DIR}/${name}`);
}

if (needsOrtWasm && !(existsSync(ORT_WASM_BROTLI) && statSync(ORT_WASM_BROTLI).mtimeMs >= statSync(ORT_WASM).mtimeMs)) {
  const wasm = readFileSync(ORT_WASM);
  // Quality 11 with a 16 MiB window: 3.9 MB against 4.7 at quality 9 (a minute, once; it is kept while ORT stays).
  const params = { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24, [constants.BROTLI_PARAM_SIZE_HINT]: wasm.length };
  writeFileSync(ORT_WASM_BROTLI, brotliCompressSync(wasm, { params }));
  console.log(`ONNX Runtime's WebAssembly -> ${ORT_WASM_BROTLI} (${(statSync(ORT_WASM_BROTLI).size / 2 ** 20).toFixed(1)} MiB)`);
}
