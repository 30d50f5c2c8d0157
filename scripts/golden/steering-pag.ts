// Golden checks of Perturbed-Attention Guidance on the steering fixture (tests/fixtures/steering-tiny):
// the `pag_identity` call-level cases (the chosen self-attentions return to_out(to_v(x)) for every
// batch item) and the `sampler` cases whose steering is `pag` (batch [uncond, cond, perturbed] in one
// call; [cond, perturbed] at guidance 1), in both sampling loops: the GPU loop's scheduler-step
// shader and the CPU loop of denoise.ts.
import { buildSiteTable, isStepInRange, pathMatches, type StepRange } from '../../src/engine/steering';
import { denoise, GpuUNetPredictor } from '../../src/engine/sampling/denoise';
import { createScheduler, parseSchedulerConfig } from '../../src/engine/sampling/schedulers';
import type { AttentionSite } from '../../src/engine';
import { compare, type GoldenCheck } from './compare';
import { schedulerKindOf } from './unet-golden';
import { compareRun, type SteeringCase, type SteeringChecker, type SteeringFixture } from './steering-fixture';

/** The self-attention sites whose diffusers path starts with one of `prefixes`. */
function selfAttentionSites(sites: readonly AttentionSite[], prefixes: readonly string[]): string[] {
  return sites.filter((s) => s.kind === 'attn1' && prefixes.some((p) => pathMatches(s, p))).map((s) => s.path);
}

function sitesOf(fixture: SteeringFixture, c: SteeringCase, prefixes: unknown): string[] {
  const sites = selfAttentionSites(fixture.unet.sites, Array.isArray(prefixes) ? prefixes : []);
  if (!sites.length) throw new Error(`${c.name}: sites ${JSON.stringify(prefixes)} name no self-attention`);
  return sites;
}

async function* identityCase(fixture: SteeringFixture, c: SteeringCase): AsyncGenerator<GoldenCheck> {
  const { unet, get } = fixture;
  const sample = get(typeof c.input === 'string' ? c.input : 'sample');
  const context = get('encoder_hidden_states');
  const [batch, , height, width] = sample.shape;
  unet.setSiteTable(buildSiteTable(unet.sites, { rules: [] }));
  const call = unet.prepare(batch, height, width, context.shape[1], { sites: sitesOf(fixture, c, c.sites), fromItem: 0 });
  unet.gpu.write(call.sample.buffer, sample.data);
  unet.gpu.write(call.timesteps.buffer, get('timestep').data);
  unet.gpu.write(call.context.buffer, context.data);
  call.contextPlan.run();
  call.plan.run();
  const expected = get(c.out).data;
  yield compare(c.out, await unet.gpu.readF32(call.output.buffer, expected.length), expected);
}

interface PagSampler {
  scheduler: string;
  scheduler_config: unknown;
  steps: number;
  guidance: number;
  noise?: string;
  steering: { pag: { scale: number; sites: string[]; range?: StepRange | null } };
}

async function* samplerCase(fixture: SteeringFixture, c: SteeringCase): AsyncGenerator<GoldenCheck> {
  const { unet, get, has } = fixture;
  const run = c as unknown as SteeringCase & PagSampler;
  const noise = get(run.noise ?? 'sampler.noise');
  const [, , height, width] = noise.shape;
  const { steps, steering } = run;
  const range = steering.pag.range ?? undefined;
  const perturbedAttention = { sites: sitesOf(fixture, c, steering.pag.sites), scales: Array.from({ length: steps }, (_, i) => (isStepInRange(range, i, steps) ? steering.pag.scale : 0)) };
  unet.setSiteTable(buildSiteTable(unet.sites, { rules: [] }));
  for (const loop of ['gpu', 'cpu'] as const) {
    const trajectory: Float32Array[] = [];
    const model = new GpuUNetPredictor(unet);
    const { latents } = await denoise({
      model,
      scheduler: createScheduler(schedulerKindOf(run.scheduler), parseSchedulerConfig(run.scheduler_config), steps),
      noise: noise.data,
      height,
      width,
      cond: get('sampler.cond').data,
      uncond: has('sampler.uncond') ? get('sampler.uncond').data : undefined,
      guidance: run.guidance,
      perturbedAttention,
      stepReadback: { latents: true },
      onStep: (_, l) => void trajectory.push(l!),
      loop,
    }).finally(() => model.destroy());
    for (const check of compareRun(fixture, c, latents, trajectory)) yield loop === 'cpu' ? { ...check, check: `${check.check} (CPU loop)` } : check;
  }
}

/** For scripts/golden/steering-golden.ts's STEERING_CHECKS. */
export const PAG_CHECKS: Record<string, SteeringChecker> = {
  pag_identity: identityCase,
  'sampler:pag': samplerCase,
};
