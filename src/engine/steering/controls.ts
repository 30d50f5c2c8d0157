// Every steering control, in the order the page shows them and the link writes them. A new control
// is its own file, one entry here, and its hook.
import { attentionMultipliers } from './attention-multipliers';
import { clipAttentionMultipliers } from './clip-attention-multipliers';
import { freeu } from './freeu';
import { attentionMaps } from './attention-maps';
import { perturbedAttentionGuidance } from './perturbed-attention-guidance';
import type { FreeUFactors } from '../kernels/freeu';
import type { AttentionMultipliers, AttentionSite, BackendName } from '../api';
import type { PerturbedPass, SamplingStep, SteeringControl, SteeringRequest } from './control';
import type { StepRange } from './step-range';
import { neutralSiteTable, type SiteTable } from '../nn/unet-sites';

export const STEERING_CONTROLS: readonly SteeringControl[] = [attentionMultipliers, clipAttentionMultipliers, perturbedAttentionGuidance, freeu, attentionMaps];

/** The table for `request`: every active site-table control multiplies its factors in (at step
 * `at` of sampling, where given: controls outside their step range add nothing). */
export function buildSiteTable(sites: readonly AttentionSite[], request: Readonly<SteeringRequest>, at?: SamplingStep): SiteTable {
  const table = neutralSiteTable(sites);
  for (const control of STEERING_CONTROLS) {
    const hook = control.hook;
    if (hook.kind === 'site-table' && hook.isActive(request)) hook.apply(table, sites, request, at);
  }
  return table;
}

/**
 * Writes the table of step 0 of `steps` now. Where a control's factors change with the step (a step
 * range that is not all of sampling), returns what to call before each step: it builds that step's
 * table and writes it only when it differs from the last one written. Otherwise nothing changes
 * between steps and it returns undefined.
 */
export function siteTablesPerStep(sites: readonly AttentionSite[], request: Readonly<SteeringRequest>, steps: number, write: (table: SiteTable) => void): ((step: number) => void) | undefined {
  const stepwise = STEERING_CONTROLS.some(({ hook }) => hook.kind === 'site-table' && hook.isActive(request) && hook.isStepwise(request));
  let written = buildSiteTable(sites, request, stepwise ? { step: 0, steps } : undefined);
  write(written);
  if (!stepwise) return undefined;
  return (step) => {
    const table = buildSiteTable(sites, request, { step, steps });
    if (table.every((v, i) => v === written[i])) return;
    write(table);
    written = table;
  };
}

/** What `request` asks of the text encoder: its attention factors and the steps that get them, or
 * undefined when no control acts there. */
export function textEncoderSteering(request: Readonly<SteeringRequest>): { factors: AttentionMultipliers; range?: StepRange } | undefined {
  for (const { hook } of STEERING_CONTROLS) {
    if (hook.kind !== 'text-encoder') continue;
    const factors = hook.factors(request);
    if (factors) return { factors, range: hook.range(request) };
  }
  return undefined;
}

/** The perturbed pass of the active guidance-pass control, if any (PAG). */
export function perturbedPass(sites: readonly AttentionSite[], request: Readonly<SteeringRequest>, steps: number): PerturbedPass | undefined {
  for (const control of STEERING_CONTROLS) {
    const hook = control.hook;
    if (hook.kind === 'guidance-pass' && hook.isActive(request)) return hook.perturbedPass(request, sites, steps);
  }
  return undefined;
}

/** The skip-scaling control `request` turns on (FreeU), if any: a backend without the hook names it. */
export function skipScalingControl(request: Readonly<SteeringRequest>): SteeringControl | undefined {
  return STEERING_CONTROLS.find(({ hook }) => hook.kind === 'skip-scaling' && hook.factors(request) !== undefined);
}

/**
 * Writes the decoder's skip-scaling factors of step 0 of `steps` now (undefined: none asked, so the
 * UNet records none). Where they change with the step (a step range), returns what to call before
 * each step: it writes that step's factors when they differ from the last written.
 */
export function skipScalingPerStep(request: Readonly<SteeringRequest>, steps: number, write: (factors: FreeUFactors | undefined) => void): ((step: number) => void) | undefined {
  const hook = skipScalingControl(request)?.hook;
  if (hook?.kind !== 'skip-scaling') {
    write(undefined);
    return undefined;
  }
  const stepwise = hook.isStepwise(request);
  let written = hook.factors(request, stepwise ? { step: 0, steps } : undefined);
  write(written);
  if (!stepwise) return undefined;
  return (step) => {
    const factors = hook.factors(request, { step, steps });
    if (JSON.stringify(factors) === JSON.stringify(written)) return;
    write(factors);
    written = factors;
  };
}

/** `request` without the controls `backend` cannot run, and a notice for each. Only our WebGPU
 * engine changes the network's insides; ONNX Runtime's graph takes the per-site table alone. */
export function supportedSteering<R extends SteeringRequest>(request: R, backend: BackendName): { request: R; notices: string[] } {
  if (backend === 'webgpu') return { request, notices: [] };
  const notices: string[] = [];
  let supported = request;
  for (const control of STEERING_CONTROLS) {
    const hook = control.hook;
    // Every hook kind but the site table's changes the network's insides. Attention maps are a view,
    // not a change of the image: the pipeline says itself where it cannot draw them.
    if (hook.kind === 'attention-probe') continue;
    const active = hook.kind === 'skip-scaling' ? hook.factors(supported) !== undefined : hook.kind !== 'site-table' && 'isActive' in hook && (hook as { isActive(r: Readonly<SteeringRequest>): boolean }).isActive(supported);
    if (!active) continue;
    notices.push(`${control.label} needs the WebGPU engine: the ONNX Runtime backend rendered this image without it (choose WebGPU in the Backend menu).`);
    supported = { ...supported, ...control.off };
  }
  return { request: supported, notices };
}
