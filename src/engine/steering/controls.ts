// Every steering control, in the order the page shows them and the link writes them. A new control
// is its own file, one entry here, and its hook.
import { attentionMultipliers } from './attention-multipliers';
import { perturbedAttentionGuidance } from './perturbed-attention-guidance';
import type { AttentionSite, BackendName } from '../api';
import type { PerturbedPass, SteeringControl, SteeringRequest } from './control';
import { neutralSiteTable, type SiteTable } from '../nn/unet-sites';

export const STEERING_CONTROLS: readonly SteeringControl[] = [attentionMultipliers, perturbedAttentionGuidance];

/** The table for `request`: every active site-table control multiplies its factors in. */
export function buildSiteTable(sites: readonly AttentionSite[], request: Readonly<SteeringRequest>): SiteTable {
  const table = neutralSiteTable(sites);
  for (const control of STEERING_CONTROLS) {
    const hook = control.hook;
    if (hook.kind === 'site-table' && hook.isActive(request)) hook.apply(table, sites, request);
  }
  return table;
}

/** The perturbed pass of the active guidance-pass control, if any (PAG). */
export function perturbedPass(sites: readonly AttentionSite[], request: Readonly<SteeringRequest>, steps: number): PerturbedPass | undefined {
  for (const control of STEERING_CONTROLS) {
    const hook = control.hook;
    if (hook.kind === 'guidance-pass' && hook.isActive(request)) return hook.perturbedPass(request, sites, steps);
  }
  return undefined;
}

/** `request` without the controls `backend` cannot run, and a notice for each. Only our WebGPU
 * engine changes the network's insides; ONNX Runtime's graph takes the per-site table alone. */
export function supportedSteering<R extends SteeringRequest>(request: R, backend: BackendName): { request: R; notices: string[] } {
  if (backend === 'webgpu') return { request, notices: [] };
  const notices: string[] = [];
  let supported = request;
  for (const control of STEERING_CONTROLS) {
    const hook = control.hook;
    // Every hook kind but the site table's changes the network's insides (kinds without isActive yet have no control).
    const active = hook.kind !== 'site-table' && 'isActive' in hook && (hook as { isActive(r: Readonly<SteeringRequest>): boolean }).isActive(supported);
    if (!active) continue;
    notices.push(`${control.label} needs the WebGPU engine: the ONNX Runtime backend rendered this image without it.`);
    supported = { ...supported, ...control.off };
  }
  return { request: supported, notices };
}
