// Golden checks for a UNet fixture folder (see shared/fixtures/README.md): every `out.<case>` of
// cases.json with its attention-multiplier rules, and every `sampler.*` run (final latents and
// the trajectory after each step).
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { UNet } from '../../src/engine/nn/unet';
import type { MultiplierRule } from '../../src/engine';
import { buildSiteTable } from '../../src/engine/steering';
import { denoise, GpuUNetPredictor } from '../../src/engine/sampling/denoise';
import { createScheduler, parseSchedulerConfig, type SchedulerKind } from '../../src/engine/sampling/schedulers';
import { subFolder, type ModelFolder } from '../../src/engine/weights/model-folder';
import { readAllF32 } from '../../src/engine/weights/safetensors';
import { compare, failure, type GoldenCheck } from './compare';
import { hasSteeringCases, steeringGolden } from './steering-golden';
import { isSingleFileFixture, singleFileComponentGolden, singleFileFixtureFolder } from './single-file-golden';

export interface FixtureRule {
  attn: 'attn1' | 'attn2';
  prefix?: string;
  q?: number;
  k?: number;
  v?: number;
  out?: number;
}

interface FixtureCases {
  cases: { name: string; rules: FixtureRule[] }[];
  sampler_runs?: {
    key: string;
    scheduler: string;
    scheduler_config: unknown;
    steps: number;
    guidance: number;
    case: string;
  }[];
}

type Arrays = Map<string, { shape: number[]; data: Float32Array }>;

/** A rule of cases.json as the engine's MultiplierRule: no prefix means every site of its kind. */
export function ruleFromFixture(rule: FixtureRule): MultiplierRule {
  return {
    kind: rule.attn,
    target: rule.prefix ? { path: rule.prefix } : { all: true },
    multipliers: { q: rule.q ?? 1, k: rule.k ?? 1, v: rule.v ?? 1, out: rule.out ?? 1 },
  };
}

/** cases.json names schedulers by kind, sometimes with a suffix for a config variant (euler_trailing). */
export function schedulerKindOf(name: string): SchedulerKind {
  const kinds: SchedulerKind[] = ['euler_a', 'dpmpp2m', 'euler', 'ddim'];
  const kind = kinds.find((k) => name === k || name.startsWith(`${k}_`) || name.startsWith(`${k}.`));
  if (!kind) throw new Error(`unknown scheduler "${name}" (supported: ${kinds.join(', ')})`);
  return kind;
}

export async function* unetGolden(gpu: GpuContext, folder: ModelFolder): AsyncGenerator<GoldenCheck> {
  const cases = await folder.readJson<FixtureCases>('cases.json');
  const io = await readAllF32(await folder.open('io.safetensors'));
  const get = (name: string) => {
    const t = io.get(name);
    if (!t) throw new Error(`io.safetensors has no tensor "${name}"`);
    return t;
  };
  // A single-file fixture's UNet comes from its checkpoint, mapped to diffusers names.
  const singleFile = await isSingleFileFixture(folder);
  const unet = await UNet.load(gpu, singleFile ? subFolder(await singleFileFixtureFolder(folder), 'unet') : folder);
  try {
    const rulesOf = new Map(cases.cases.map((c) => [c.name, c.rules.map(ruleFromFixture)]));
    yield* modelOutputChecks(unet, cases, get);
    for (const run of cases.sampler_runs ?? []) {
      try {
        yield* samplerChecks(unet, run, rulesOf.get(run.case) ?? [], get, io);
      } catch (e) {
        yield failure(run.key, e);
      }
    }
    if (await hasSteeringCases(folder)) yield* steeringGolden(gpu, folder, unet);
  } finally {
    unet.destroy();
  }
  if (singleFile) yield* singleFileComponentGolden(gpu, folder);
}

async function* modelOutputChecks(unet: UNet, cases: FixtureCases, get: (n: string) => { shape: number[]; data: Float32Array }): AsyncGenerator<GoldenCheck> {
  const sample = get('sample');
  const timestep = get('timestep');
  const context = get('encoder_hidden_states');
  const [batch, , height, width] = sample.shape;
  const call = unet.prepare(batch, height, width, context.shape[1]);
  for (const c of cases.cases) {
    const name = `out.${c.name}`;
    try {
      unet.setSiteTable(buildSiteTable(unet.sites, { rules: c.rules.map(ruleFromFixture) }));
      unet.gpu.write(call.sample.buffer, sample.data);
      unet.gpu.write(call.timesteps.buffer, timestep.data);
      unet.gpu.write(call.context.buffer, context.data);
      call.contextPlan.run();
      call.plan.run();
      const out = await unet.gpu.readF32(call.output.buffer, get(name).data.length);
      yield compare(name, out, get(name).data);
    } catch (e) {
      yield failure(name, e);
    }
  }
}

async function* samplerChecks(
  unet: UNet,
  run: NonNullable<FixtureCases['sampler_runs']>[number],
  rules: MultiplierRule[],
  get: (n: string) => { shape: number[]; data: Float32Array },
  io: Arrays,
): AsyncGenerator<GoldenCheck> {
  const noise = get('sampler.noise');
  const cond = get('sampler.cond');
  const uncond = io.get('sampler.uncond');
  const stepNoise = io.get(`${run.key}.step_noise`);
  const [, , height, width] = noise.shape;
  const perStep = noise.data.length;
  unet.setSiteTable(buildSiteTable(unet.sites, { rules }));
  // The sampling loop the app runs: the scheduler on the GPU (gpu-denoise.ts). The CPU loop, which
  // ONNX Runtime's backend runs, is held to it by tests/gpu-denoise.test.ts.
  const trajectory: Float32Array[] = [];
  const { latents } = await denoise({
    model: new GpuUNetPredictor(unet),
    scheduler: createScheduler(schedulerKindOf(run.scheduler), parseSchedulerConfig(run.scheduler_config), run.steps),
    noise: noise.data,
    height,
    width,
    cond: cond.data,
    uncond: uncond?.data,
    guidance: run.guidance,
    stepNoise: stepNoise ? (i) => stepNoise.data.slice(i * perStep, (i + 1) * perStep) : undefined,
    stepReadback: { latents: true },
    onStep: (_, l) => void trajectory.push(l!),
  });
  const expectedTrajectory = io.get(`${run.key}.trajectory`);
  if (expectedTrajectory) {
    const flat = new Float32Array(trajectory.length * perStep);
    trajectory.forEach((t, i) => flat.set(t, i * perStep));
    yield compare(`${run.key}.trajectory`, flat, expectedTrajectory.data);
  }
  yield compare(run.key, latents, get(run.key).data);
}
