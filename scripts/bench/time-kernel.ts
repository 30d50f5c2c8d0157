// What the kernel sweeps share: a kernel recorded `repeats` times into one plan, so that submit and
// wait overheads spread over many dispatches, and the median time of one dispatch over `iterations`
// runs after a warm-up run.
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { Recorder } from '../../src/engine/gpu/recorder';
import type { Tensor } from '../../src/engine/gpu/tensor';

export const SWEEP_REPEATS = 10;

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `--iterations=N` on the command line, else `fallback`. */
export function iterationsArg(fallback = 10): number {
  return Number(process.argv.find((a) => a.startsWith('--iterations='))?.split('=')[1] ?? fallback);
}

/** Median ms of one `record` (which returns its output) over `iterations` runs of a plan holding
 * SWEEP_REPEATS of them. Throws what recording throws (a kernel the device cannot run). */
export async function medianKernelMs(gpu: GpuContext, iterations: number, record: (rec: Recorder) => Tensor): Promise<number> {
  const rec = new Recorder(gpu, 'sweep');
  for (let i = 0; i < SWEEP_REPEATS; i++) rec.keep(record(rec));
  const plan = rec.finish();
  try {
    plan.run();
    await gpu.idle();
    const times: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      plan.run();
      await gpu.idle();
      times.push((performance.now() - t0) / SWEEP_REPEATS);
    }
    return median(times);
  } finally {
    plan.destroy();
  }
}
