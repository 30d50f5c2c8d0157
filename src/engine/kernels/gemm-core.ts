// The register-tiled matrix product that linear and conv2d share, written out as WGSL for one tile
// shape. Dawn compiles WGSL loops as loops and the register arrays as arrays; the GPU's compiler then
// has to unroll them and promote the arrays to registers on its own. Writing the k loop of a step and
// the THREAD_M x THREAD_N accumulators out as straight-line code with named scalars, as CUDA's
// `#pragma unroll` would, made the same algorithm 8-22% faster on an H100 for 8x8 outputs per
// invocation (scripts/bench/gemm-lab.ts; BENCHMARKS.md).
//
//   out[m, n] = sum_k a[m, k] * b[n, k]
//
// A workgroup computes a TILE_M x TILE_N block of out, walking K in TILE_K steps: each step's slices
// of a and b are staged in workgroup memory as a_tile[k][m / 4] and b_tile[k][n / 4] (vec4s, rows
// padded to A_PITCH / B_PITCH vec4s), and the next step's are loaded into registers while this one is
// multiplied. An invocation owns THREAD_M x THREAD_N outputs, in runs of 4 along m and along n so that
// it reads workgroup memory as vec4s; its runs are strided by the workgroup's size along that axis, so
// neighbouring invocations read neighbouring vec4s and write neighbouring outputs.
//
// The kernel's own WGSL supplies what differs between linear and conv2d, with these names:
//   override constants TILE_K, GROUP_M (= TILE_M / THREAD_M), GROUP_N, THREADS, A_PITCH, B_PITCH;
//   var<workgroup> a_tile, b_tile;
//   struct GemmRange { m0: u32, n0: u32, k_begin: u32, k_end: u32 }
//   fn gemm_range(wg: vec3u) -> GemmRange   (the workgroup's block and K range: uniform, as the
//                                            barriers in the K loop require)
//   struct GemmLoads, fn gemm_loads(range: GemmRange, li: u32) -> GemmLoads   (what an invocation
//       needs to find its loads, worked out once)
//   fn load_a4(l: GemmLoads, q: u32, k0: u32) -> vec4f, fn store_a4(l: GemmLoads, q: u32, v: vec4f)
//       (this invocation's values 4q .. 4q+3 of the a slice of step k0, and putting them into a_tile;
//       q < loads.a / 4), and likewise load_b4, store_b4;
//   fn write_output4(m: u32, n: u32, values: vec4f, split: u32)   (outputs (m, n) .. (m, n + 3): bounds,
//       epilogue, split-K partials; four at once, so that an epilogue may combine neighbours).
//
// Loads do no bounds checks: on an H200 a select() per load against M, N and K cost the 8x8 core
// 15-20% of its speed (gemm-lab.ts, "checked"). Instead, rows of a tile beyond the matrix are clamped
// to its last row when the kernel works out GemmLoads (their outputs are never written), and in the
// last step of a K range that is not a whole number of steps, whatever was loaded for k >= k_end
// (the next row's values, or what WebGPU's bounds checks return past the buffer) is overwritten with
// zeros in both tiles before the product. (Checked copies of the loads for that step would double the
// load code, which SwiftShader then took minutes to compile.)
// Load state travels as a struct value, not in var<private>.

export interface GemmCoreShape {
  THREAD_M: number;
  THREAD_N: number;
  TILE_K: number;
}

export interface GemmCoreSpec {
  /** The entry point's name. */
  entry: string;
  /** The tile's per-invocation shape, which the code is written out for. */
  tile: GemmCoreShape;
  /** Values of a and of b that one invocation loads per K step (multiples of 4). */
  loads: { a: number; b: number };
  /** Which output axis runs along local_invocation_id.x, the one neighbouring invocations share:
   * 'n' for row-major outputs (linear), 'm' for NCHW outputs whose pixels are m (conv2d). */
  fastAxis: 'm' | 'n';
}

const COMPONENTS = ['x', 'y', 'z', 'w'];

/** Per kernel source, its code with the core for each entry and shape. */
const withCoreCache = new Map<string, Map<string, string>>();

/** The kernel's WGSL with the core's entry point appended (made once per kernel and shape). */
export function withGemmCore(kernelWgsl: string, spec: GemmCoreSpec): string {
  const { THREAD_M, THREAD_N, TILE_K } = spec.tile;
  const key = `${spec.entry}|${THREAD_M}x${THREAD_N}x${TILE_K}|${spec.loads.a},${spec.loads.b}|${spec.fastAxis}`;
  let byShape = withCoreCache.get(kernelWgsl);
  if (!byShape) withCoreCache.set(kernelWgsl, (byShape = new Map()));
  let code = byShape.get(key);
  if (!code) {
    code = `${kernelWgsl}\n${gemmCoreEntry(spec)}\n`;
    byShape.set(key, code);
  }
  return code;
}

/** The entry point, as WGSL to append to the kernel's own code. */
export function gemmCoreEntry(spec: GemmCoreSpec): string {
  const { THREAD_M, THREAD_N, TILE_K } = spec.tile;
  if (THREAD_M % 4 || THREAD_N % 4) throw new Error(`gemm core: THREAD_M ${THREAD_M} and THREAD_N ${THREAD_N} must be multiples of 4`);
  if (spec.loads.a % 4 || spec.loads.b % 4) throw new Error(`gemm core: loads per step ${spec.loads.a}, ${spec.loads.b} must be multiples of 4`);
  const quadsA = spec.loads.a / 4;
  const quadsB = spec.loads.b / 4;
  const runsM = THREAD_M / 4;
  const runsN = THREAD_N / 4;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const lines: string[] = [];
  const emit = (indent: number, s: string) => lines.push(' '.repeat(indent) + s);
  const [x, y] = spec.fastAxis === 'n' ? ['GROUP_N', 'GROUP_M'] : ['GROUP_M', 'GROUP_N'];
  const [tm, tn] = spec.fastAxis === 'n' ? ['lid.y', 'lid.x'] : ['lid.x', 'lid.y'];

  emit(0, `@compute @workgroup_size(${x}, ${y})`);
  emit(0, `fn ${spec.entry}(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {`);
  emit(2, `let range = gemm_range(wg);`);
  emit(2, `let loads = gemm_loads(range, li);`);
  for (const q of range(quadsA)) emit(2, `var next_a${q} = load_a4(loads, ${q}u, range.k_begin);`);
  for (const q of range(quadsB)) emit(2, `var next_b${q} = load_b4(loads, ${q}u, range.k_begin);`);
  // acc{i}_{j}: output row i of this invocation, columns 4j .. 4j+3.
  for (const i of range(THREAD_M)) for (const j of range(runsN)) emit(2, `var acc${i}_${j} = vec4f(0.0);`);
  emit(2, `for (var k0 = range.k_begin; k0 < range.k_end; k0 += TILE_K) {`);
  emit(4, `workgroupBarrier(); // everyone is done reading the previous step's slices`);
  for (const q of range(quadsA)) emit(4, `store_a4(loads, ${q}u, next_a${q});`);
  for (const q of range(quadsB)) emit(4, `store_b4(loads, ${q}u, next_b${q});`);
  emit(4, `workgroupBarrier();`);
  emit(4, `if (k0 + TILE_K > range.k_end) {`);
  emit(6, `// The partial last step: zero both tiles' rows k >= k_end.`);
  emit(6, `let valid_rows = range.k_end - k0;`);
  emit(6, `for (var i = li; i < TILE_K * A_PITCH; i += THREADS) { if (i / A_PITCH >= valid_rows) { a_tile[i] = vec4f(0.0); } }`);
  emit(6, `for (var i = li; i < TILE_K * B_PITCH; i += THREADS) { if (i / B_PITCH >= valid_rows) { b_tile[i] = vec4f(0.0); } }`);
  emit(6, `workgroupBarrier();`);
  emit(4, `}`);
  emit(4, `// The next step's loads are in flight while this step multiplies.`);
  emit(4, `if (k0 + TILE_K < range.k_end) {`);
  for (const q of range(quadsA)) emit(6, `next_a${q} = load_a4(loads, ${q}u, k0 + TILE_K);`);
  for (const q of range(quadsB)) emit(6, `next_b${q} = load_b4(loads, ${q}u, k0 + TILE_K);`);
  emit(4, `}`);
  for (const kk of range(TILE_K)) {
    emit(4, `{`);
    for (const j of range(runsN)) emit(6, `let b${j} = b_tile[${kk}u * B_PITCH + ${tn} + ${j}u * GROUP_N];`);
    for (const i of range(runsM)) {
      emit(6, `let a${i} = a_tile[${kk}u * A_PITCH + ${tm} + ${i}u * GROUP_M];`);
      for (const [c, component] of COMPONENTS.entries()) {
        for (const j of range(runsN)) emit(6, `acc${4 * i + c}_${j} = fma(vec4f(a${i}.${component}), b${j}, acc${4 * i + c}_${j});`);
      }
    }
    emit(4, `}`);
  }
  emit(2, `}`);
  for (const i of range(THREAD_M)) {
    emit(2, `{`);
    emit(4, `let m = range.m0 + (${tm} + ${Math.floor(i / 4)}u * GROUP_M) * 4u + ${i % 4}u;`);
    for (const j of range(runsN)) emit(4, `write_output4(m, range.n0 + (${tn} + ${j}u * GROUP_N) * 4u, acc${i}_${j}, wg.z);`);
    emit(2, `}`);
  }
  emit(0, `}`);
  return lines.join('\n');
}
