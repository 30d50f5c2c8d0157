// Sampler cases whose steering is multiplier `rules` with a step range (steering.json's ranges_self):
// the app's loop on the GPU, the site table rebuilt per step by siteTablesPerStep as the pipeline does.
import type { FixtureRule } from './unet-golden';
import { GpuUNetPredictor, denoise } from '../../src/engine/sampling/denoise';
import { createScheduler, parseSchedulerConfig, type SchedulerKind } from '../../src/engine/sampling/schedulers';
import { siteTablesPerStep } from '../../src/engine/steering/controls';
import type { MultiplierRule } from '../../src/engine';
import type { SteeringChecker } from './steering-fixture';
import { compareRun } from './steering-fixture';

/** A rule as cases.json writes it (no prefix: every site of its kind), with its step range. */
type RangedFixtureRule = FixtureRule & { range?: { start: number; end: number } };

function ruleOf(r: RangedFixtureRule): MultiplierRule {
  const multipliers = { q: r.q ?? 1, k: r.k ?? 1, v: r.v ?? 1, out: r.out ?? 1 };
  return { kind: r.attn, target: r.prefix ? { path: r.prefix } : { all: true }, multipliers, ...(r.range && { range: r.range }) };
}

export const checkRangedRules: SteeringChecker = async function* (fixture, c) {
  const steering = c.steering as { rules: RangedFixtureRule[] };
  const rules = steering.rules.map(ruleOf);
  const steps = c.steps as number;
  const noise = fixture.get(c.noise as string);
  const [, , height, width] = noise.shape;
  const { unet } = fixture;
  const beforeStep = siteTablesPerStep(unet.sites, { rules }, steps, (table) => unet.setSiteTable(table));
  const trajectory: Float32Array[] = [];
  const { latents } = await denoise({
    model: new GpuUNetPredictor(unet),
    scheduler: createScheduler(c.scheduler as SchedulerKind, parseSchedulerConfig(c.scheduler_config), steps),
    noise: noise.data,
    height,
    width,
    cond: fixture.get('sampler.cond').data,
    uncond: fixture.has('sampler.uncond') ? fixture.get('sampler.uncond').data : undefined,
    guidance: c.guidance as number,
    beforeStep,
    stepReadback: { latents: true },
    onStep: (_, l) => void trajectory.push(l!),
  });
  yield* compareRun(fixture, c, latents, trajectory);
};
