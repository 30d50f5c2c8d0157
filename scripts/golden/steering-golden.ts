// Golden checks of the steering controls (tests/fixtures/steering-tiny/steering.json, see its
// README): each case names its control, and the control's checker (scripts/golden/steering-<control>.ts)
// runs it on our engine against the reference's output. A control the engine does not have yet is
// reported as skipped, by name, so `npm run golden` shows what is left.
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import type { UNet } from '../../src/engine/nn/unet';
import type { ModelFolder } from '../../src/engine/weights/model-folder';
import { readAllF32 } from '../../src/engine/weights/safetensors';
import { compare, failure, type GoldenCheck } from './compare';

/** One case of steering.json: `control` names it; the rest are its parameters (see the README). */
export interface SteeringCase {
  name: string;
  control: string;
  out: string;
  [parameter: string]: unknown;
}

export interface SteeringFixture {
  gpu: GpuContext;
  folder: ModelFolder;
  unet: UNet;
  /** A tensor of io.safetensors, or an error naming it. */
  get(name: string): { shape: number[]; data: Float32Array };
  has(name: string): boolean;
}

export type SteeringChecker = (fixture: SteeringFixture, c: SteeringCase) => AsyncGenerator<GoldenCheck>;

/** The checker of each control; sampler cases are keyed `sampler:<steering key>` (rules, pag, sag,
 * freeu), by the one control their `steering` holds. */
export const STEERING_CHECKS: Partial<Record<string, SteeringChecker>> = {};

function checkerKey(c: SteeringCase): string {
  if (c.control !== 'sampler') return c.control;
  const keys = Object.keys((c.steering as object | undefined) ?? {});
  return `sampler:${keys.join('+')}`;
}

export async function hasSteeringCases(folder: ModelFolder): Promise<boolean> {
  return folder.has('steering.json');
}

export async function* steeringGolden(gpu: GpuContext, folder: ModelFolder, unet: UNet): AsyncGenerator<GoldenCheck> {
  const { cases } = await folder.readJson<{ cases: SteeringCase[] }>('steering.json');
  const io = await readAllF32(await folder.open('io.safetensors'));
  const fixture: SteeringFixture = {
    gpu,
    folder,
    unet,
    has: (name) => io.has(name),
    get: (name) => {
      const t = io.get(name);
      if (!t) throw new Error(`io.safetensors has no tensor "${name}"`);
      return t;
    },
  };
  for (const c of cases) {
    const checker = STEERING_CHECKS[checkerKey(c)];
    if (!checker) {
      yield { check: c.out, max_abs: 0, rel: 0, pass: true, skipped: `no engine support for "${checkerKey(c)}" yet` };
      continue;
    }
    try {
      yield* checker(fixture, c);
    } catch (e) {
      yield failure(c.out, e);
    }
  }
}

/** A sampler case's final latents and trajectory (latents after each step) against the reference's. */
export function* compareRun(fixture: SteeringFixture, c: SteeringCase, latents: Float32Array, trajectory: readonly Float32Array[]): Generator<GoldenCheck> {
  const expected = fixture.get(`${c.out}.trajectory`);
  const perStep = latents.length;
  const flat = new Float32Array(trajectory.length * perStep);
  trajectory.forEach((t, i) => flat.set(t, i * perStep));
  yield compare(`${c.out}.trajectory`, flat, expected.data);
  yield compare(c.out, latents, fixture.get(c.out).data);
}
