// Golden checks of the steering controls (tests/fixtures/steering-tiny/steering.json, see its
// README): each case names its control, and the control's checker (scripts/golden/steering-<control>.ts)
// runs it on our engine against the reference's output. A control the engine does not have yet is
// reported as skipped, by name, so `npm run golden` shows what is left.
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import type { UNet } from '../../src/engine/nn/unet';
import type { ModelFolder } from '../../src/engine/weights/model-folder';
import { readAllF32 } from '../../src/engine/weights/safetensors';
import { failure, type GoldenCheck } from './compare';
import type { SteeringCase, SteeringChecker, SteeringFixture } from './steering-fixture';
import { FREEU_CHECKS } from './steering-freeu';
import { PAG_CHECKS } from './steering-pag';
import { ATTENTION_MAP_CHECKS } from './steering-maps';
import { checkRangedRules } from './steering-step-range';
import { checkClipMultipliers } from './steering-clip-multipliers';

/** The checker of each control; sampler cases are keyed `sampler:<steering key>` (rules, pag, sag,
 * freeu), by the one control their `steering` holds. */
export const STEERING_CHECKS: Partial<Record<string, SteeringChecker>> = {
  // ...each control's checks, from its steering-<control>.ts
  ...FREEU_CHECKS,
  ...PAG_CHECKS,
  ...ATTENTION_MAP_CHECKS,
  'sampler:rules': checkRangedRules,
  clip_multipliers: checkClipMultipliers,
};

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

