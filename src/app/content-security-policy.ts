// The built site's Content-Security-Policy, as a <meta> tag Vite adds to index.html at build time
// (the dev server's hot reload needs inline scripts, so it runs without one). It allows only what
// the app needs: its own origin for scripts, workers, the model files and ONNX Runtime's
// WebAssembly ('wasm-unsafe-eval' lets it compile); the Hugging Face hub's hosts for downloads;
// blob: and data: images (downloads, canvases); inline styles (React's style attributes). Nothing
// else runs: no inline or remote script, no plugin, no <base> that would re-point relative URLs.
export const HUB_HOSTS = ['https://huggingface.co', 'https://*.huggingface.co', 'https://*.hf.co'];

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  `connect-src 'self' ${HUB_HOSTS.join(' ')}`,
  "img-src 'self' blob: data:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');
