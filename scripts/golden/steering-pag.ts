// Golden checks of Perturbed-Attention Guidance on the steering fixture (tests/fixtures/steering-tiny,
// STEERING-FIXTURE.md): the `pag_identity` call-level cases (the chosen self-attentions return
// to_out(to_v(x)) for every batch item) and the `sampler` cases whose steering has `pag` (batch
// [uncond, cond, perturbed] in one call; [cond, perturbed] at guidance 1), in both sampling loops.
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { UNet } from '../../src/engine/nn/unet';
import { buildSiteTable, isStepInRange, pathMatches, type StepRange } from '../../src/engine/steering';
import { denoise, GpuUNetPredictor } from '../../src/engine/sampling/denoise';
import { createScheduler, parseSchedulerConfig } from '../../src/engine/sampling/schedulers';
import type { ModelFolder } from '../../src/engine/weights/model-folder';
import { readAllF32 } from '../../src/engine/weights/safetensors';
import type { AttentionSite, MultiplierRule } from '../../src/engine';
import { compare, failure, type GoldenCheck } from './compare';
import { ruleFromFixture, schedulerKindOf } from './unet-golden';

type FixtureRule = Parameters<typeof ruleFromFixture>[0] & { range?: StepRange };

interface SteeringCase {
  name: string;
  control: string;
  out: string;
  /** pag_identity: attn1 path prefixes; the input sample ("sample" or "sample_odd"). */
  sites?: string[];
  input?: string;
  /** sampler */
  scheduler?: string;
  scheduler_config?: unknown;
  steps?: number;
  guidance?: number;
  noise?: string;
  steering?: { rules?: FixtureRule[]; pag?: { scale: number; sites: string[]; range?: StepRange } };
}

type Arrays = Map<string, { shape: number[]; data: Float32Array }>;

/** The self-attention sites whose diffusers path starts with one of `prefixes`. */
function selfAttentionSites(sites: readonly AttentionSite[], prefixes: readonly string[]): string[] {
  return sites.filter((s) => s.kind === 'attn1' && prefixes.some((p) => pathMatches(s, p))).map((s) => s.path);
}

export async function* steeringPagGolden(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  const { cases } = await folder.readJson<{ cases: SteeringCase[] }>('steering.json');
  const pagCases = cases.filter((c) => c.control === 'pag_identity' || (c.control === 'sampler' && c.steering?.pag));
  if (!pagCases.length) return;
  const io: Arrays = await readAllF32(await folder.open('io.safetensors'));
  const get = (name: string) => {
    const t = io.get(name);
    if (!t) throw new Error(`io.safetensors has no tensor "${name}"`);
    return t;
  };
  const unet = await UNet.load(gpu, folder);
  try {
    for (const c of pagCases) {
      try {
        if (c.control === 'pag_identity') yield await identityCheck(unet, c, get);
        else yield* samplerChecks(unet, c, get, io);
      } catch (e) {
        yield failure(c.out ?? c.name, e);
      }
    }
  } finally {
    unet.destroy();
  }
}

async function identityCheck(unet: UNet, c: SteeringCase, get: (n: string) => { shape: number[]; data: Float32Array }): Promise<GoldenCheck> {
  const sample = get(c.input ?? 'sample');
  const timestep = get('timestep');
  const context = get('encoder_hidden_states');
  const [batch, , height, width] = sample.shape;
  const sites = selfAttentionSites(unet.sites, c.sites ?? []);
  if (!sites.length) throw new Error(`${c.name}: sites ${JSON.stringify(c.sites)} name no self-attention`);
  unet.setSiteTable(buildSiteTable(unet.sites, { rules: [] }));
  const call = unet.prepare(batch, height, width, context.shape[1], { sites, fromItem: 0 });
  unet.gpu.write(call.sample.buffer, sample.data);
  unet.gpu.write(call.timesteps.buffer, timestep.data);
  unet.gpu.write(call.context.buffer, context.data);
  call.contextPlan.run();
  call.plan.run();
  const expected = get(c.out).data;
  return compare(c.out, await unet.gpu.readF32(call.output.buffer, expected.length), expected);
}

async function* samplerChecks(unet: UNet, c: SteeringCase, get: (n: string) => { shape: number[]; data: Float32Array }, io: Arrays): AsyncGenerator<GoldenCheck> {
  const noise = get(c.noise ?? 'sampler.noise');
  const [, , height, width] = noise.shape;
  const steps = c.steps!;
  const pag = c.steering!.pag!;
  const rules = (c.steering?.rules ?? []).map((r) => ({ rule: ruleFromFixture(r), range: r.range }));
  const rulesAt = (step: number): MultiplierRule[] => rules.filter((r) => isStepInRange(r.range, step, steps)).map((r) => r.rule);
  const sites = selfAttentionSites(unet.sites, pag.sites);
  if (!sites.length) throw new Error(`${c.name}: pag sites ${JSON.stringify(pag.sites)} name no self-attention`);
  const perturbedAttention = { sites, scales: Array.from({ length: steps }, (_, i) => (isStepInRange(pag.range, i, steps) ? pag.scale : 0)) };
  const stepNoise = io.get(`${c.out}.step_noise`);
  const perStep = noise.data.length;
  for (const loop of ['gpu', 'cpu'] as const) {
    const trajectory: Float32Array[] = [];
    const model = new GpuUNetPredictor(unet);
    const { latents } = await denoise({
      model,
      scheduler: createScheduler(schedulerKindOf(c.scheduler!), parseSchedulerConfig(c.scheduler_config), steps),
      noise: noise.data,
      height,
      width,
      cond: get('sampler.cond').data,
      uncond: io.get('sampler.uncond')?.data,
      guidance: c.guidance!,
      perturbedAttention,
      beforeStep: (i) => unet.setSiteTable(buildSiteTable(unet.sites, { rules: rulesAt(i) })),
      stepNoise: stepNoise ? (i) => stepNoise.data.slice(i * perStep, (i + 1) * perStep) : undefined,
      stepReadback: { latents: true },
      onStep: (_, l) => void trajectory.push(l!),
      loop,
    }).finally(() => model.destroy());
    const suffix = loop === 'cpu' ? ' (CPU loop)' : '';
    const expectedTrajectory = io.get(`${c.out}.trajectory`);
    if (expectedTrajectory) {
      const flat = new Float32Array(trajectory.length * perStep);
      trajectory.forEach((t, i) => flat.set(t, i * perStep));
      yield compare(`${c.out}.trajectory${suffix}`, flat, expectedTrajectory.data);
    }
    yield compare(`${c.out}${suffix}`, latents, get(c.out).data);
  }
}
