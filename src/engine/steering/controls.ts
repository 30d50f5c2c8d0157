// Every steering control, in the order the page shows them and the link writes them. A new control
// is its own file, one entry here, and its hook.
import { attentionMultipliers } from './attention-multipliers';
import { attentionMaps } from './attention-maps';
import type { AttentionSite } from '../api';
import type { SteeringControl, SteeringRequest } from './control';
import { neutralSiteTable, type SiteTable } from '../nn/unet-sites';

export const STEERING_CONTROLS: readonly SteeringControl[] = [attentionMultipliers, attentionMaps];

/** The table for `request`: every active site-table control multiplies its factors in. */
export function buildSiteTable(sites: readonly AttentionSite[], request: Readonly<SteeringRequest>): SiteTable {
  const table = neutralSiteTable(sites);
  for (const control of STEERING_CONTROLS) {
    const hook = control.hook;
    if (hook.kind === 'site-table' && hook.isActive(request)) hook.apply(table, sites, request);
  }
  return table;
}
