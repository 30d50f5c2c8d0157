// The cost of each steering control: ms per sampling step with the control on against the same
// request with every control off, through the whole pipeline (scheduler on the GPU, as the page runs
// it), on one model. `npm run bench -- --only steering` (the default model) and `steering-sd15` (an
// SD 1.5-layout folder of random f16 weights, 512×512).
import type { GenerateRequest } from '../../src/engine';
import type { DiffusionPipeline } from '../../src/engine/sampling/pipeline';
import { median } from './time-kernel';

/** A control as the benchmark turns it on: what it adds to the request. */
export interface SteeringVariant {
  name: string;
  request: Partial<GenerateRequest>;
}

const ALL_SELF = { kind: 'attn1', target: { all: true }, multipliers: { q: 1.5, k: 1, v: 1.2, out: 0.9 } } as const;

export const STEERING_VARIANTS: readonly SteeringVariant[] = [
  { name: 'self-attention multipliers, every site', request: { rules: [ALL_SELF] } },
  { name: 'the same, steps 25–75 % (table rewritten per step)', request: { rules: [{ ...ALL_SELF, range: { start: 0.25, end: 0.75 } }] } },
  { name: 'text encoder multipliers', request: { clip: { multipliers: { q: 1.2, k: 1, v: 1, out: 0.9 } } } },
  { name: 'text encoder multipliers, steps 0–50 % (two encodings)', request: { clip: { multipliers: { q: 1.2, k: 1, v: 1, out: 0.9 }, range: { start: 0, end: 0.5 } } } },
  { name: 'FreeU', request: { freeu: { version: 1, b1: 1.1, b2: 1.2, s1: 0.9, s2: 0.2 } } },
  { name: 'FreeU_V2', request: { freeu: { version: 2, b1: 1.3, b2: 1.4, s1: 0.9, s2: 0.2 } } },
  { name: 'PAG, middle block (batch of three)', request: { pag: { scale: 3, target: { part: 'middle' } } } },
  { name: 'cross-attention maps (DAAM probe, every attn2)', request: { attentionMaps: { crossAttention: true } } },
  { name: 'self-attention map (one point, middle block)', request: { attentionMaps: { selfAttention: { site: 'mid_block', x: 0.5, y: 0.5 } } } },
];

export interface SteeringCostRow {
  control: string;
  msPerStep: number;
  /** msPerStep − the off request's, measured in the same turn. */
  msAdded: number;
}

export interface SteeringCostResult {
  model: string;
  settings: string;
  msPerStepOff: number;
  rows: SteeringCostRow[];
}

/** Medians of `iterations` images per variant, each variant warmed up first (its plan recorded), the
 * off request timed again beside each so drift between turns does not show as cost. */
export async function benchSteeringCost(pipeline: DiffusionPipeline, model: string, base: GenerateRequest, iterations: number, variants = STEERING_VARIANTS): Promise<SteeringCostResult> {
  const msPerStep = async (request: GenerateRequest): Promise<number> => {
    await pipeline.generate(request);
    const times: number[] = [];
    for (let i = 0; i < iterations; i++) times.push((await pipeline.generate({ ...request, seed: request.seed + 1 + i })).msPerStep);
    return median(times);
  };
  const offTimes: number[] = [];
  const rows: SteeringCostRow[] = [];
  for (const variant of variants) {
    const off = await msPerStep(base);
    offTimes.push(off);
    let on: number;
    try {
      on = await msPerStep({ ...base, ...variant.request });
    } catch (e) {
      console.error(`steering cost: ${variant.name}: ${(e as Error).message}`);
      continue;
    }
    rows.push({ control: variant.name, msPerStep: on, msAdded: on - off });
  }
  return { model, settings: `${base.sampler}, ${base.steps} steps, CFG ${base.cfg}`, msPerStepOff: median(offTimes), rows };
}

export function steeringCostReport(r: SteeringCostResult): string {
  const lines = [`Steering controls on ${r.model} (${r.settings}): ms per step, off ${r.msPerStepOff.toFixed(2)}`, '| control | ms/step | added |', '| --- | --- | --- |'];
  for (const row of r.rows) lines.push(`| ${row.control} | ${row.msPerStep.toFixed(2)} | ${row.msAdded >= 0 ? '+' : ''}${row.msAdded.toFixed(2)} |`);
  return lines.join('\n');
}
