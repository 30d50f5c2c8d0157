// The contract every steering control follows: what it lets people set (parameters, each with a
// range, default, label, explanation and link form), where it acts in the network (its hook), and
// the plain-TypeScript reference its hook is held to. The playground's settings, link, sliders and
// XY axes are drawn from these descriptors, so a new control is its own file plus one hook.
import type { AttentionSite, GenerateRequest } from '../api';
import type { SiteTable } from '../nn/unet-sites';

/** One number people set: a slider, a link value, an XY axis. */
export interface ControlParameter {
  /** As links and XY axes write it: 'q'. */
  id: string;
  label: string;
  /** One line for people: what turning it does. */
  explanation: string;
  min: number;
  max: number;
  default: number;
  /** The finest step; values are rounded to it, so what the link writes is what renders. */
  step: number;
  /** `value` as the control takes it: within min–max, rounded to the step. */
  clamp(value: number): number;
}

/** How one setting of a control is written in the page's link and read back. Reading never
 * throws: a value it repairs or ignores adds a notice, and undefined keeps the setting as it was. */
export interface LinkField<Value> {
  /** The setting's key in the playground's settings. */
  key: string;
  /** The URL parameter. */
  param: string;
  /** People's name, for notices and labels: 'Self-attention'. */
  label: string;
  default: Value;
  parse(text: string, base: Value, notices: string[]): Value | undefined;
  write(value: Value): string;
}

/** One parameter an XY plot can vary over a target of sites. */
export interface ControlAxis {
  /** As the link's `xy` writes it: 'self.q'. */
  id: string;
  /** 'Self-attention q' */
  name: string;
  parameter: ControlParameter;
  /** The step of a range typed without one ("0..2"). */
  rangeStep: number;
  /** A value as the grid labels it: '×1.5'. */
  format(value: number): string;
}

/** An XY cell's value for one axis, on the sites of `target`. */
export interface AxisValue {
  axis: ControlAxis;
  target: string;
  value: number;
}

/**
 * Where a control acts. Every kind is recorded into the UNet's plan once; a control that is off
 * adds no dispatch and no pass.
 * - site-table: factors in the per-site table (4 floats per attention site: q, k, v, out) that the
 *   attention kernels read at run time; writing it never re-records the plan. (Implemented.)
 * - attention-probe: reads attention probabilities of chosen sites (attention maps). (Planned.)
 * - guidance-pass: an extra UNet pass combined with CFG's (PAG, SAG). (Planned.)
 * - skip-scaling: scales backbone and skip features of the decoder (FreeU). (Planned.)
 */
export type HookKind = 'site-table' | 'attention-probe' | 'guidance-pass' | 'skip-scaling';

/** What of a request the steering controls read (grows as controls are added). */
export type SteeringRequest = Pick<GenerateRequest, 'rules'>;

export interface SiteTableHook {
  kind: 'site-table';
  /** Whether `request` asks anything of this control; when not, `apply` is not called. */
  isActive(request: Readonly<SteeringRequest>): boolean;
  /** Multiplies this control's factors into `table` for every site they reach. */
  apply(table: SiteTable, sites: readonly AttentionSite[], request: Readonly<SteeringRequest>): void;
}

/** A hook kind the contract names but no control uses yet. */
export interface PlannedHook {
  kind: Exclude<HookKind, 'site-table'>;
}

export type SteeringHook = SiteTableHook | PlannedHook;

/** `Settings`: what the control adds to the page's settings (its link fields' keys). */
export interface SteeringControl<Settings = any, Reference = unknown> {
  id: string;
  label: string;
  /** One line for people: what the control does. */
  explanation: string;
  parameters: readonly ControlParameter[];
  /** The settings the control adds to the page and its link, in link order. */
  linkFields: readonly LinkField<unknown>[];
  axes: readonly ControlAxis[];
  /** What the engine is asked for `settings`, with the XY cell's values of this control's axes
   * forced on top (`sites`: the model's, for axes that act on a target). */
  toRequest(settings: Readonly<Settings>, forced: readonly AxisValue[], sites: readonly AttentionSite[]): Partial<SteeringRequest>;
  /** The request part with the control off: the before/after comparison's. */
  off: Partial<SteeringRequest>;
  hook: SteeringHook;
  /** The control's formula in plain TypeScript, as its reference defines it (`cites`); tests hold
   * the hook to it. */
  reference: { cites: string } & Reference;
}
