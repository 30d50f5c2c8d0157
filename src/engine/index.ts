// The engine's public API for the page and for scripts: the plain-data contract (api.ts) and the
// steering controls' descriptors (steering/), from which the page draws its settings and link.
// The pipeline itself (sampling/pipeline.ts) is imported by the worker alone, so the page's bundle
// does not carry the engine.
export * from './api';
export * from './steering';
