// Samplers of diffusers, reproduced to the float32 rounding: DDIMScheduler (eta 0),
// EulerDiscreteScheduler, EulerAncestralDiscreteScheduler and DPMSolverMultistepScheduler as
// DPM++ 2M. step() runs on the CPU; each step's coefficients (stepFormula) also drive the GPU
// sampling loop (gpu-denoise.ts), which our WGSL UNet uses so that nothing is read back per step.
//
// Use, as diffusers' StableDiffusionPipeline does, with a new scheduler for every image (DPM++
// remembers the previous step's prediction):
//
//   const scheduler = createScheduler(kind, parseSchedulerConfig(json), steps);
//   let latents = noise.map((v) => v * scheduler.initNoiseSigma);
//   for (let i = 0; i < scheduler.timesteps.length; i++) {   // may differ from `steps`, see timestepsFor
//     const eps = guidedUnet(scheduler.scaleModelInput(latents, i), scheduler.timesteps[i]);
//     latents = scheduler.step(eps, i, latents, () => gaussianNoise(seed, latents.length, i + 1)).prevSample;
//   }
//
// To replay a diffusers run, pass its draws: for euler_a, `() => stepNoise[i]`.
import { type SchedulerConfig, type SchedulerKind } from './scheduler-config';
import { createDdimScheduler } from './scheduler-ddim';
import { createDpmpp2mScheduler } from './scheduler-dpmpp2m';
import { createEulerScheduler } from './scheduler-euler';
import type { Scheduler } from './scheduler-interface';

export { parseSchedulerConfig, SCHEDULER_CONFIG_DEFAULTS, type SchedulerConfig, type SchedulerKind } from './scheduler-config';
export type { Scheduler, StepResult } from './scheduler-interface';

export function createScheduler(kind: SchedulerKind, config: SchedulerConfig, steps: number): Scheduler {
  switch (kind) {
    case 'ddim':
      return createDdimScheduler(config, steps);
    case 'euler':
    case 'euler_a':
      return createEulerScheduler(kind, config, steps);
    case 'dpmpp2m':
      return createDpmpp2mScheduler(config, steps);
    default:
      throw new Error(`createScheduler: unknown sampler ${JSON.stringify(kind)}`);
  }
}
