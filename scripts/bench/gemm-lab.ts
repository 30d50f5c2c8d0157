// Experiments on the GEMM core behind linear and conv2d: the production kernel against generated
// variants of the same algorithm, on the matrix products of SD 1.5 and the default model.
//   vite-node scripts/bench/gemm-lab.ts   (on the GPU machine through scripts/build-device-bundle.mjs)
// Each variant writes y = x · weightᵀ (f32 x, f16 weight); its result is compared with the
// production kernel's before it is timed, so a fast wrong variant shows up as such.
import { createNodeGpuContext } from '../../src/engine/gpu/node-gpu';
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { params } from '../../src/engine/gpu/params';
import { linear, linearTileNames, type LinearTileName } from '../../src/engine/kernels/linear';
import { randomTensor } from '../../src/engine/kernels/random-fill';
import type { Tensor } from '../../src/engine/gpu/tensor';
import { Recorder } from '../../src/engine/gpu/recorder';
import { iterationsArg, medianKernelMs } from './time-kernel';

interface Variant {
  TILE_M: number;
  TILE_N: number;
  TILE_K: number;
  THREAD_M: number;
  THREAD_N: number;
  /** The k loop written out TILE_K times, not a loop. */
  unrollK: boolean;
  /** Two workgroup-memory stages: one barrier per step instead of two. */
  stages: 1 | 2;
  /** Tile numbers as override constants referred to by name, as the production kernels declare them. */
  overrides?: boolean;
  /** Loads checked against the matrix and K range with select(), indices clamped into the buffer. */
  checked?: boolean;
}

/** The lab kernel: the production algorithm with every register array written out as scalars. */
function generate(v: Variant): string {
  const groupM = v.TILE_M / v.THREAD_M;
  const groupN = v.TILE_N / v.THREAD_N;
  const threads = groupM * groupN;
  const xRun = (v.TILE_K * v.TILE_M) / threads;
  const wRun = (v.TILE_K * v.TILE_N) / threads;
  const xPitch = v.TILE_M / 4 + 1;
  const wPitch = v.TILE_N / 4 + 1;
  const mi = v.THREAD_M / 4;
  const nj = v.THREAD_N / 4;
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  L(`struct Params { rows: u32, inner: u32, cols: u32 }`);
  L(`@group(0) @binding(0) var<uniform> p: Params;`);
  L(`@group(0) @binding(1) var<storage, read> x: array<f32>;`);
  L(`@group(0) @binding(2) var<storage, read> weight: array<u32>;`);
  L(`@group(0) @binding(3) var<storage, read_write> y: array<f32>;`);
  if (v.overrides) {
    L(`override XP: u32 = ${xPitch}u; override WP: u32 = ${wPitch}u; override GM: u32 = ${groupM}u; override GN: u32 = ${groupN}u; override TK: u32 = ${v.TILE_K}u;`);
  }
  const XP = v.overrides ? 'XP' : `${xPitch}u`;
  const WP = v.overrides ? 'WP' : `${wPitch}u`;
  const GM = v.overrides ? 'GM' : `${groupM}u`;
  const GN = v.overrides ? 'GN' : `${groupN}u`;
  L(`var<workgroup> x_tile: array<vec4f, ${v.stages * v.TILE_K * xPitch}>;`);
  L(`var<workgroup> w_tile: array<vec4f, ${v.stages * v.TILE_K * wPitch}>;`);
  L(`@compute @workgroup_size(${groupN}, ${groupM})`);
  L(`fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {`);
  L(`  let n0 = wg.x * ${v.TILE_N}u; let m0 = wg.y * ${v.TILE_M}u;`);
  L(`  let load_xk = (li % ${v.TILE_K / xRun}u) * ${xRun}u; let load_xm = li / ${v.TILE_K / xRun}u;`);
  L(`  let load_wk = (li % ${v.TILE_K / wRun}u) * ${wRun}u; let load_wn = li / ${v.TILE_K / wRun}u;`);
  // Rows beyond the matrix read row 0 (never stored): the lab's K is a multiple of TILE_K.
  L(`  let x_base = select(0u, (m0 + load_xm) * p.inner, m0 + load_xm < p.rows) + load_xk;`);
  L(`  let w_base = (select(0u, (n0 + load_wn) * p.inner, n0 + load_wn < p.cols) + load_wk) / 2u;`);
  L(`  let x_ok = m0 + load_xm < p.rows; let w_ok = n0 + load_wn < p.cols;`);
  for (let s = 0; s < xRun; s++) L(`  var xr${s} = 0.0;`);
  for (let s = 0; s < wRun / 2; s++) L(`  var wr${s} = vec2f(0.0);`);
  for (let i = 0; i < v.THREAD_M; i++) for (let j = 0; j < nj; j++) L(`  var acc${i}_${j} = vec4f(0.0);`);
  const load = (k: string) => {
    if (v.checked) {
      for (let s = 0; s < xRun; s++) L(`    xr${s} = select(0.0, x[min(x_base + ${k} + ${s}u, arrayLength(&x) - 1u)], x_ok && ${k} + load_xk + ${s}u < p.inner);`);
      for (let s = 0; s < wRun / 2; s++) L(`    wr${s} = select(vec2f(0.0), unpack2x16float(weight[min(w_base + (${k}) / 2u + ${s}u, arrayLength(&weight) - 1u)]), w_ok && ${k} + load_wk + ${2 * s}u < p.inner);`);
      return;
    }
    for (let s = 0; s < xRun; s++) L(`    xr${s} = x[x_base + ${k} + ${s}u];`);
    for (let s = 0; s < wRun / 2; s++) L(`    wr${s} = unpack2x16float(weight[w_base + (${k}) / 2u + ${s}u]);`);
  };
  const store = (stage: string) => {
    for (let s = 0; s < xRun; s++) L(`    x_tile[${stage} * ${v.TILE_K * xPitch}u + (load_xk + ${s}u) * ${xPitch}u + load_xm / 4u][load_xm % 4u] = xr${s};`);
    for (let s = 0; s < wRun; s++) L(`    w_tile[${stage} * ${v.TILE_K * wPitch}u + (load_wk + ${s}u) * ${wPitch}u + load_wn / 4u][load_wn % 4u] = wr${s >> 1}.${s & 1 ? 'y' : 'x'};`);
  };
  const product = (stage: string) => {
    const body = (kk: string) => {
      for (let j = 0; j < nj; j++) L(`      let b${j} = w_tile[${stage} * ${v.TILE_K * wPitch}u + ${kk} * ${WP} + lid.x + ${j}u * ${GN}];`);
      for (let i = 0; i < mi; i++) {
        L(`      let a${i} = x_tile[${stage} * ${v.TILE_K * xPitch}u + ${kk} * ${XP} + lid.y + ${i}u * ${GM}];`);
        for (const [c, comp] of ['x', 'y', 'z', 'w'].entries()) {
          for (let j = 0; j < nj; j++) L(`      acc${4 * i + c}_${j} = fma(vec4f(a${i}.${comp}), b${j}, acc${4 * i + c}_${j});`);
        }
      }
    };
    if (v.unrollK) {
      for (let kk = 0; kk < v.TILE_K; kk++) {
        L(`    {`);
        body(`${kk}u`);
        L(`    }`);
      }
    } else {
      L(`    for (var kk = 0u; kk < ${v.TILE_K}u; kk++) {`);
      body('kk');
      L(`    }`);
    }
  };
  if (v.stages === 1) {
    load('0u');
    L(`  for (var k0 = 0u; k0 < p.inner; k0 += ${v.TILE_K}u) {`);
    L(`    workgroupBarrier();`);
    store('0u');
    L(`    workgroupBarrier();`);
    L(`    if (k0 + ${v.TILE_K}u < p.inner) {`);
    load(`k0 + ${v.TILE_K}u`);
    L(`    }`);
    product('0u');
    L(`  }`);
  } else {
    load('0u');
    store('0u');
    L(`  workgroupBarrier();`);
    L(`  var stage = 0u;`);
    L(`  for (var k0 = 0u; k0 < p.inner; k0 += ${v.TILE_K}u) {`);
    L(`    let more = k0 + ${v.TILE_K}u < p.inner;`);
    L(`    if (more) {`);
    load(`k0 + ${v.TILE_K}u`);
    L(`    }`);
    product('stage');
    L(`    if (more) {`);
    store('(1u - stage)');
    L(`    }`);
    L(`    workgroupBarrier();`);
    L(`    stage = 1u - stage;`);
    L(`  }`);
  }
  for (let i = 0; i < v.THREAD_M; i++) {
    L(`  {`);
    L(`    let m = m0 + (lid.y + ${Math.floor(i / 4) * groupM}u) * 4u + ${i % 4}u;`);
    for (let j = 0; j < v.THREAD_N; j++) {
      L(`    { let n = n0 + (lid.x + ${Math.floor(j / 4) * groupN}u) * 4u + ${j % 4}u; if (m < p.rows && n < p.cols) { y[m * p.cols + n] = acc${i}_${Math.floor(j / 4)}[${j % 4}]; } }`);
    }
    L(`  }`);
  }
  L(`}`);
  return lines.join('\n');
}

function labLinear(gpu: GpuContext, v: Variant) {
  const code = generate(v);
  const pipeline = gpu.pipeline(`gemm-lab`, code, 'main');
  return (rec: Recorder, x: Tensor, w: Tensor, rows: number, inner: number, cols: number): Tensor => {
    const out = rec.alloc([rows, cols], 'lab');
    rec.dispatch({ label: 'lab', pipeline, params: params().u32(rows, inner, cols), bindings: [x, w, out], workgroups: [Math.ceil(cols / v.TILE_N), Math.ceil(rows / v.TILE_M), 1] });
    return out;
  };
}

const SHAPES = [
  { name: 'tiny 256x64->128', rows: 256, inner: 64, cols: 128 },
  { name: 'SD1.5 GEGLU 8192x320->2560', rows: 8192, inner: 320, cols: 2560 },
  { name: 'SD1.5 ff out 8192x1280->320', rows: 8192, inner: 1280, cols: 320 },
  { name: 'SD1.5 qkv 8192x320->960', rows: 8192, inner: 320, cols: 960 },
  { name: 'SD1.5 32x32 GEGLU 2048x640->5120', rows: 2048, inner: 640, cols: 5120 },
  { name: 'SD1.5 16x16 to_q 512x1280->1280', rows: 512, inner: 1280, cols: 1280 },
  { name: 'SD1.5 16x16 ff out 512x5120->1280', rows: 512, inner: 5120, cols: 1280 },
  { name: 'SD1.5 64x64 proj 8192x320->320', rows: 8192, inner: 320, cols: 320 },
  { name: 'SD1.5 8x8 to_q 128x1280->1280', rows: 128, inner: 1280, cols: 1280 },
  { name: 'SD1.5 8x8 ff out 128x5120->1280', rows: 128, inner: 5120, cols: 1280 },
  { name: 'SD1.5 32x32 to_q 2048x640->640', rows: 2048, inner: 640, cols: 640 },
  { name: 'SD1.5 32x32 ff out 2048x2560->640', rows: 2048, inner: 2560, cols: 640 },
  { name: 'square 4096x4096->4096', rows: 4096, inner: 4096, cols: 4096 },
  { name: 'default GEGLU 2048x64->512', rows: 2048, inner: 64, cols: 512 },
];

const big = (o: Partial<Variant>): Variant => ({ TILE_M: 128, TILE_N: 128, TILE_K: 8, THREAD_M: 8, THREAD_N: 8, unrollK: false, stages: 1, ...o });
const VARIANTS: Record<string, Variant> = {
  'large loop': big({}),
  'large unrolled': big({ unrollK: true }),
  'large unrolled overrides': big({ unrollK: true, overrides: true }),
  'large unrolled checked': big({ unrollK: true, checked: true }),
  'large unrolled overrides checked': big({ unrollK: true, overrides: true, checked: true }),
  'large K16 unrolled': big({ TILE_K: 16, unrollK: true }),
  'large 2-stage unrolled': big({ unrollK: true, stages: 2 }),
  'large K16 2-stage unrolled': big({ TILE_K: 16, unrollK: true, stages: 2 }),
  'large K16 2-stage loop': big({ TILE_K: 16, stages: 2 }),
  'tall unrolled': big({ TILE_N: 64, THREAD_N: 4, TILE_K: 16, unrollK: true }),
  'tall 2-stage unrolled': big({ TILE_N: 64, THREAD_N: 4, TILE_K: 16, unrollK: true, stages: 2 }),
  'medium unrolled': big({ TILE_M: 64, TILE_N: 64, THREAD_M: 4, THREAD_N: 4, TILE_K: 16, unrollK: true }),
  'medium 2-stage unrolled': big({ TILE_M: 64, TILE_N: 64, THREAD_M: 4, THREAD_N: 4, TILE_K: 16, unrollK: true, stages: 2 }),
  '64x128 8x8 2-stage unrolled': big({ TILE_M: 64, THREAD_M: 8, TILE_N: 128, THREAD_N: 8, TILE_K: 16, unrollK: true, stages: 2 }),
};

async function readBack(gpu: GpuContext, t: Tensor, count: number): Promise<Float32Array> {
  return new Float32Array(await gpu.readBytes(t.buffer, count * 4, t.byteOffset));
}

async function main(): Promise<void> {
  const gpu = await createNodeGpuContext();
  const iterations = iterationsArg(20);
  const only = process.argv.find((a) => a.startsWith('--shapes='))?.split('=')[1];
  for (const s of SHAPES.filter((s) => !only || only.split(',').some((o) => s.name.includes(o)))) {
    const x = randomTensor(gpu, 'x', [s.rows, s.inner], 'f32', 1, 1);
    const w = randomTensor(gpu, 'w', [s.cols, s.inner], 'f16', 1 / Math.sqrt(s.inner), 2);
    const flops = 2 * s.rows * s.inner * s.cols;
    const report = (variant: string, ms: number, err = 0) =>
      console.log(JSON.stringify({ shape: s.name, variant, ms: +ms.toFixed(4), tflops: +(flops / ms / 1e9).toFixed(2), maxRelErr: +err.toExponential(2) }));
    // Reference: the production kernel at its own choice.
    const refRec = new Recorder(gpu, 'ref');
    const refOut = refRec.keep(linear(refRec, x, w));
    const refPlan = refRec.finish();
    refPlan.run();
    const ref = await readBack(gpu, refOut, s.rows * s.cols);
    const scaleOf = Math.max(...Array.from(ref.subarray(0, 65536), Math.abs));
    for (const tile of [undefined, ...linearTileNames] as (LinearTileName | undefined)[]) {
      try {
        report(`production ${tile ?? 'default'}`, await medianKernelMs(gpu, iterations, (rec) => linear(rec, x, w, undefined, { tuning: tile ? { tile } : undefined })));
      } catch (e) {
        console.log(JSON.stringify({ shape: s.name, variant: `production ${tile}`, error: String(e) }));
      }
    }
    // Few rows: the K split matters as much as the tile (--splits: every split count of the two
    // tiles the heuristic chooses between, and no generated variants).
    if (process.argv.includes('--splits')) {
      for (const tile of ['medium', 'large'] as LinearTileName[]) {
        for (const splits of [1, 2, 3, 4, 6, 8, 12, 16]) {
          report(`production ${tile} splits ${splits}`, await medianKernelMs(gpu, iterations, (rec) => linear(rec, x, w, undefined, { tuning: { tile, splits } })));
        }
      }
      refPlan.destroy();
      x.buffer.destroy();
      w.buffer.destroy();
      continue;
    }
    for (const [name, v] of Object.entries(VARIANTS)) {
      const bytes = 16 * v.stages * v.TILE_K * (v.TILE_M / 4 + v.TILE_N / 4 + 2);
      if (bytes > gpu.device.limits.maxComputeWorkgroupStorageSize) {
        console.log(JSON.stringify({ shape: s.name, variant: name, skipped: `${bytes} bytes of workgroup memory` }));
        continue;
      }
      try {
        const run = labLinear(gpu, v);
        const rec = new Recorder(gpu, 'check');
        const out = rec.keep(run(rec, x, w, s.rows, s.inner, s.cols));
        const plan = rec.finish();
        plan.run();
        const got = await readBack(gpu, out, s.rows * s.cols);
        plan.destroy();
        let err = 0;
        for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - ref[i]) / scaleOf);
        report(name, await medianKernelMs(gpu, iterations, (r) => run(r, x, w, s.rows, s.inner, s.cols)), err);
      } catch (e) {
        console.log(JSON.stringify({ shape: s.name, variant: name, error: String(e).slice(0, 300) }));
      }
    }
    refPlan.destroy();
    x.buffer.destroy();
    w.buffer.destroy();
  }
  gpu.destroy();
}

await main();
