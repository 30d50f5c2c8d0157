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
  /** Left out of the link while it writes what its default writes (a view that is off). */
  omitAtDefault?: boolean;
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

/** Where a control acts. Every kind is recorded into the UNet's plan once; a control that is off
 * adds no dispatch and no pass. Only site-table has a control so far. */
export type HookKind = 'site-table' | 'attention-probe' | 'guidance-pass' | 'skip-scaling';

/** What of a request the steering controls read (grows as controls are added). */
export type SteeringRequest = Pick<GenerateRequest, 'rules' | 'attentionMaps'>;

/** Factors in the per-site table (q, k, v, out per attention site) that the attention kernels read
 * at run time: writing it never re-records the plan. */
export interface SiteTableHook {
  kind: 'site-table';
  /** Whether `request` asks anything of this control; when not, `apply` is not called. */
  isActive(request: Readonly<SteeringRequest>): boolean;
  /** Multiplies this control's factors into `table` for every site they reach. */
  apply(table: SiteTable, sites: readonly AttentionSite[], request: Readonly<SteeringRequest>): void;
}

// The hook kinds no control uses yet: each will grow the fields its first control needs (which
// sites, which pass, which decoder levels) without changing the controls that use the others.

/** Reads attention probabilities at chosen sites, for the probed queries only (attention maps):
 * probes recorded into the UNet's plan only while `isActive` (nn/unet-probes.ts), and the probe
 * kernels of kernels/attention-probe.ts (probeQueryRows, probeKeyTotals). */
export interface AttentionProbeHook {
  kind: 'attention-probe';
  /** Whether `request` asks for a probe; when not, none is recorded. */
  isActive(request: Readonly<SteeringRequest>): boolean;
}

/** One more conditional UNet pass in the same call as CFG's two, and how it joins the guidance
 * (PAG: cfg + (cond − perturbed)·scale; SAG: cfg + (degraded − sag)·scale). */
export interface GuidancePassHook {
  kind: 'guidance-pass';
}

/** Scales decoder backbone features and skip connections (FreeU b1/b2, s1/s2). */
export interface SkipScalingHook {
  kind: 'skip-scaling';
}

export type SteeringHook = SiteTableHook | AttentionProbeHook | GuidancePassHook | SkipScalingHook;

/** `Settings`: what the control adds to the page's settings (its link fields' keys); `any` in the
 * list of all controls, whose settings the page's Settings type extends. */
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
