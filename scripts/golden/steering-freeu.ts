// FreeU's golden checks (tests/fixtures/steering-tiny): one UNet call with FreeU / FreeU_V2 on
// `sample` or `sample_odd`, and whole CFG sampling runs with FreeU in a step range, through the same
// per-step factor writes as the pipeline (steering's skipScalingPerStep in beforeStep).
import type { FreeURequest } from '../../src/engine';
import { buildSiteTable, skipScalingPerStep } from '../../src/engine/steering';
import { denoise, GpuUNetPredictor } from '../../src/engine/sampling/denoise';
import { createScheduler, parseSchedulerConfig, type SchedulerKind } from '../../src/engine/sampling/schedulers';
import { compare, type GoldenCheck } from './compare';
import { compareRun, type SteeringCase, type SteeringChecker, type SteeringFixture } from './steering-fixture';

/** A case's FreeU as the engine's request: `range: null` is every step. */
function freeuOf(c: Record<string, unknown>): FreeURequest {
  const number = (key: string) => {
    const v = c[key];
    if (typeof v !== 'number') throw new Error(`steering.json: FreeU's "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const version = number('version');
  if (version !== 1 && version !== 2) throw new Error(`steering.json: FreeU's version must be 1 or 2, got ${version}`);
  const range = c.range as FreeURequest['range'] | null | undefined;
  return { version, b1: number('b1'), b2: number('b2'), s1: number('s1'), s2: number('s2'), ...(range && { range }) };
}

async function* callCase(fixture: SteeringFixture, c: SteeringCase): AsyncGenerator<GoldenCheck> {
  const { unet } = fixture;
  const sample = fixture.get(String(c.input ?? 'sample'));
  const context = fixture.get('encoder_hidden_states');
  const [batch, , height, width] = sample.shape;
  unet.setSiteTable(buildSiteTable(unet.sites, { rules: [] }));
  skipScalingPerStep({ rules: [], freeu: freeuOf(c) }, 1, (f) => unet.setSkipScaling(f));
  try {
    const call = unet.prepare(batch, height, width, context.shape[1]);
    unet.gpu.write(call.sample.buffer, sample.data);
    unet.gpu.write(call.timesteps.buffer, fixture.get('timestep').data);
    unet.gpu.write(call.context.buffer, context.data);
    call.contextPlan.run();
    call.plan.run();
    const expected = fixture.get(c.out).data;
    yield compare(c.out, await unet.gpu.readF32(call.output.buffer, expected.length), expected);
  } finally {
    unet.setSkipScaling(undefined);
  }
}

async function* samplerCase(fixture: SteeringFixture, c: SteeringCase): AsyncGenerator<GoldenCheck> {
  const { unet } = fixture;
  const steps = Number(c.steps);
  const noise = fixture.get(String(c.noise ?? 'sampler.noise'));
  const [, , height, width] = noise.shape;
  const request = { rules: [], freeu: freeuOf((c.steering as { freeu: Record<string, unknown> }).freeu) };
  unet.setSiteTable(buildSiteTable(unet.sites, request));
  const beforeStep = skipScalingPerStep(request, steps, (f) => unet.setSkipScaling(f));
  const trajectory: Float32Array[] = [];
  try {
    const { latents } = await denoise({
      model: new GpuUNetPredictor(unet),
      scheduler: createScheduler(String(c.scheduler) as SchedulerKind, parseSchedulerConfig(c.scheduler_config), steps),
      noise: noise.data,
      height,
      width,
      cond: fixture.get('sampler.cond').data,
      uncond: fixture.get('sampler.uncond').data,
      guidance: Number(c.guidance),
      beforeStep,
      stepReadback: { latents: true },
      onStep: (_, l) => void trajectory.push(l!),
    });
    yield* compareRun(fixture, c, latents, trajectory);
  } finally {
    unet.setSkipScaling(undefined);
  }
}

/** The registry's entries (steering-golden.ts STEERING_CHECKS). */
export const FREEU_CHECKS: Record<string, SteeringChecker> = {
  freeu: callCase,
  'sampler:freeu': samplerCase,
};
