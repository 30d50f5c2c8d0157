// Bundles a Node entry (default scripts/bench.ts) into one ES module for the GPU machine, where
// neither TypeScript sources nor node_modules travel: everything is inlined except `webgpu`
// (dawn.node, linked there by shared/device/enter.sh). Output: .device-bundle/<name>.mjs
import { build } from 'vite';
import { basename } from 'node:path';

const entries = process.argv.slice(2).length ? process.argv.slice(2) : ['scripts/bench.ts'];
for (const entry of entries) {
  await build({
    configFile: false,
    publicDir: false,
    logLevel: 'warn',
    ssr: { noExternal: true, external: ['webgpu'] },
    build: {
      ssr: entry,
      outDir: '.device-bundle',
      emptyOutDir: false,
      target: 'node20',
      minify: false,
      rollupOptions: { output: { format: 'es', entryFileNames: `${basename(entry).replace(/\.ts$/, '')}.mjs` } },
    },
  });
  console.log(`bundled ${entry} -> .device-bundle/${basename(entry).replace(/\.ts$/, '')}.mjs`);
}
