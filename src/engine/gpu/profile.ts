// Per-kernel GPU time of a Plan, from timestamp queries: each dispatch gets its own compute pass
// with a begin and an end timestamp. Passes cost a little extra, so the sum is slightly above a
// plain run; the split between kernels is what this is for.
import type { Plan } from './recorder';

export interface KernelTime {
  /** The pipeline's label: kernel family, entry point and variant constants. */
  kernel: string;
  calls: number;
  ms: number;
}

export function canProfile(device: GPUDevice): boolean {
  return device.features.has('timestamp-query');
}

/** Runs `plans` once, in order, with timestamps and returns GPU milliseconds per kernel variant,
 * largest first (a UNet call is two plans: its context plan, then the call); or, by 'dispatch', one
 * entry per dispatch in plan order, named by its label and kernel. */
export async function profilePlan(device: GPUDevice, plans: Plan | readonly Plan[], groupBy: 'kernel' | 'dispatch' = 'kernel'): Promise<KernelTime[]> {
  if (!canProfile(device)) throw new Error('profilePlan: the device has no timestamp-query feature');
  const list: readonly Plan[] = plans instanceof Array ? plans : [plans];
  const steps = list.flatMap((plan) => plan.steps);
  const label = list.map((plan) => plan.label).join(' + ');
  const count = steps.length * 2;
  const querySet = device.createQuerySet({ label: `${label}:timestamps`, type: 'timestamp', count });
  const resolve = device.createBuffer({ label: 'timestamps:resolve', size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ label: 'timestamps:read', size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder({ label: `${label}:profile` });
  steps.forEach((step, i) => {
    const pass = encoder.beginComputePass({ label: step.label, timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    pass.setPipeline(step.pipeline);
    pass.setBindGroup(0, step.bindGroup);
    pass.dispatchWorkgroups(...step.workgroups);
    pass.end();
  });
  encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
  encoder.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const stamps = new BigInt64Array(read.getMappedRange().slice(0));
  read.destroy();
  resolve.destroy();
  querySet.destroy();

  const msOf = (i: number) => Math.max(0, Number(stamps[2 * i + 1] - stamps[2 * i])) / 1e6;
  if (groupBy === 'dispatch') return steps.map((step, i) => ({ kernel: `${step.label} [${step.pipeline.label}] ${step.workgroups.join('x')}`, calls: 1, ms: msOf(i) }));
  const byKernel = new Map<string, KernelTime>();
  steps.forEach((step, i) => {
    const kernel = step.pipeline.label || step.label;
    const entry = byKernel.get(kernel) ?? { kernel, calls: 0, ms: 0 };
    entry.calls++;
    entry.ms += msOf(i);
    byKernel.set(kernel, entry);
  });
  return [...byKernel.values()].sort((a, b) => b.ms - a.ms);
}
