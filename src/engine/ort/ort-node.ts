// ONNX Runtime Web's WebGPU execution provider in Node, on dawn.node, so that benchmarks can time
// it beside our engine on the same GPU (the GPU machine has Node and dawn.node, no browser). Only
// Node code imports this file; a page imports `onnxruntime-web/webgpu` itself.
//
// ORT's web builds assume a browser in three ways that matter here:
// - Its WebAssembly memory is a SharedArrayBuffer (the builds are compiled with threads), and its
//   WebGPU EP passes views of that memory to `queue.writeBuffer`. dawn.node 0.6 rejects
//   SharedArrayBuffer-backed data: writeBuffer throws "Error: Invalid argument" (Node-API's
//   message for napi_invalid_arg), which is how session creation failed; called directly it can
//   also crash the process, and so can writeTexture. We copy such data into an ordinary
//   ArrayBuffer before it reaches dawn.node.
// - The WebGPU EP takes its adapter from `navigator.gpu`, which Node lacks (Node 20) or has
//   without `gpu` (Node 21+).
// - With more than one thread, the web build fetches its .mjs from a file: URL, which Node's
//   fetch refuses. The WebGPU EP drives the GPU from the main thread anyway, so we use one thread.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';
import type * as OrtWebGpu from 'onnxruntime-web/webgpu';
import { nodeGpu } from '../gpu/node-gpu';

export type Ort = typeof OrtWebGpu;

/** The WebAssembly file of `onnxruntime-web/webgpu` (its WebGPU EP is built into it, in C++). */
export const ORT_WASM_FILE = 'ort-wasm-simd-threaded.asyncify.wasm';

/** scripts/build-device-bundle.mjs puts `${ORT_WASM_FILE}.br` next to a bundle: brotli takes the
 * 27 MB file to 3.9 MB, which matters under the GPU machine's 64 MiB transfer limit. */
export const ORT_WASM_BROTLI_FILE = `${ORT_WASM_FILE}.br`;

let ortPromise: Promise<Ort> | undefined;

/**
 * The `ort` namespace of `onnxruntime-web/webgpu`, ready for
 * `InferenceSession.create(model, { executionProviders: ['webgpu'] })` in Node; the `wasm` EP works
 * from it too. Sessions request their own adapter and device from `gpu` (by default nodeGpu(), which
 * in any case installs WebGPU's globals); only the first call's `gpu` counts. To run a session on an
 * existing device, such as our engine's: `executionProviders: [{ name: 'webgpu', device }]`.
 *
 * Warm up before timing anything. Once the first session has compiled ORT's 27 MB of WebAssembly,
 * V8 optimizes it on background threads for about 30 s (H200; longer on SwiftShader). Meanwhile a
 * wait on dawn.node, ORT's or our engine's, can stall until that work is done: when no timer or
 * socket keeps libuv's loop alive, Node drains V8's background tasks (platform->DrainTasks) before
 * it polls again, and dawn.node's pending work holds no such handle. Later runs are not slowed.
 */
export function loadNodeOrt(gpu?: GPU): Promise<Ort> {
  ortPromise ??= (async () => {
    const dawnGpu = await nodeGpu();
    copySharedMemoryWrites();
    exposeNavigatorGpu(gpu ?? dawnGpu);
    const ort = await import('onnxruntime-web/webgpu');
    ort.env.wasm.numThreads = 1;
    const bundledWasm = join(dirname(fileURLToPath(import.meta.url)), ORT_WASM_BROTLI_FILE);
    // In node_modules ORT finds its .wasm next to its own script; in a bundle, next to the bundle.
    if (existsSync(bundledWasm)) ort.env.wasm.wasmBinary = brotliDecompressSync(readFileSync(bundledWasm));
    return ort;
  })();
  return ortPromise;
}

const patched = Symbol('copies SharedArrayBuffer data');

/** Makes dawn.node's writeBuffer and writeTexture accept data in a SharedArrayBuffer, as browsers
 * do, by copying the bytes they read into an ordinary ArrayBuffer first. */
function copySharedMemoryWrites(): void {
  const queue = GPUQueue.prototype as GPUQueue & { [patched]?: true };
  if (queue[patched]) return;
  queue[patched] = true;

  const writeBuffer = queue.writeBuffer;
  queue.writeBuffer = function (buffer, bufferOffset, data, dataOffset = 0, size) {
    if (data instanceof SharedArrayBuffer) {
      // An ArrayBuffer's dataOffset and size count bytes.
      const bytes = new Uint8Array(data, dataOffset, size ?? data.byteLength - dataOffset).slice();
      return writeBuffer.call(this, buffer, bufferOffset, bytes);
    }
    if (isSharedView(data)) {
      // A typed array's dataOffset and size count elements (a DataView's, bytes).
      const view = bytesOf(data);
      const elementBytes = 'BYTES_PER_ELEMENT' in data ? (data.BYTES_PER_ELEMENT as number) : 1;
      const start = dataOffset * elementBytes;
      const end = size === undefined ? view.length : start + size * elementBytes;
      return writeBuffer.call(this, buffer, bufferOffset, view.slice(start, end));
    }
    return writeBuffer.call(this, buffer, bufferOffset, data, dataOffset, size);
  };

  const writeTexture = queue.writeTexture;
  queue.writeTexture = function (destination, data, dataLayout, size) {
    const copy = data instanceof SharedArrayBuffer ? new Uint8Array(data).slice() : isSharedView(data) ? bytesOf(data).slice() : data;
    return writeTexture.call(this, destination, copy, dataLayout, size);
  };
}

function isSharedView(data: unknown): data is ArrayBufferView {
  return ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer;
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** ORT's WebGPU EP requests its adapter from navigator.gpu. */
function exposeNavigatorGpu(gpu: GPU): void {
  const scope = globalThis as { navigator?: { gpu?: GPU } };
  if (scope.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else if (scope.navigator.gpu === undefined) {
    Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
  }
}
