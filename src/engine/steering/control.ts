// The contract every steering control follows: what it lets people set (parameters, each with a
// range, default, label, explanation and link form), where it acts in the network (its hook), and
// the plain-TypeScript reference its hook is held to. The playground's settings, link, sliders and
// XY axes are drawn from these descriptors, so a new control is its own file plus one hook.
import type { AttentionMultipliers, AttentionSite, GenerateRequest } from '../api';
import type { StepRange } from './step-range';
import type { SiteTable } from '../nn/unet-sites';
import type { FreeUFactors } from '../kernels/freeu';

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
  /** Whether the link leaves `value` out (a step range over all steps): reading then keeps the default. */
  omit?(value: Value): boolean;
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
  /** It acts on the whole control, not on a target of sites (a step range, the text encoder's
   * factors): the plot offers and writes no target for it. */
  untargeted?: boolean;
}

/** An XY cell's value for one axis, on the sites of `target`. */
export interface AxisValue {
  axis: ControlAxis;
  target: string;
  value: number;
}

/** Where a control acts. Every kind is recorded into the UNet's plan once; a control that is off
 * adds no dispatch and no pass. Only site-table has a control so far. */
export type HookKind = 'site-table' | 'text-encoder' | 'attention-probe' | 'guidance-pass' | 'skip-scaling';

/** What of a request the steering controls read (grows as controls are added). */
export type SteeringRequest = Pick<GenerateRequest, 'rules' | 'clip' | 'freeu' | 'pag' | 'attentionMaps'>;

/** Step `step` (0-based) of `steps`: where a control with a step range asks which steps it acts in. */
export interface SamplingStep {
  step: number;
  steps: number;
}

/** Factors in the per-site table (q, k, v, out per attention site) that the attention kernels read
 * at run time: writing it never re-records the plan. */
export interface SiteTableHook {
  kind: 'site-table';
  /** Whether `request` asks anything of this control; when not, `apply` is not called. */
  isActive(request: Readonly<SteeringRequest>): boolean;
  /** Whether its factors change from step to step (a step range that is not all of sampling): the
   * table is then built again before every step, and written when it changed. */
  isStepwise(request: Readonly<SteeringRequest>): boolean;
  /** Multiplies this control's factors into `table` for every site they reach; with `at`, only
   * those whose step range holds that step (without, every factor: a single UNet call). */
  apply(table: SiteTable, sites: readonly AttentionSite[], request: Readonly<SteeringRequest>, at?: SamplingStep): void;
}

/** Factors the text encoder's attention reads at run time (q·k on the logits, v on the values, out
 * on out_proj), as the UNet's attention reads the site table; the prompt is encoded again when they
 * change, and a step range picks per step which encoding the UNet's cross-attention gets. */
export interface TextEncoderHook {
  kind: 'text-encoder';
  /** The factors `request` asks for, or undefined when it asks nothing (all ones). */
  factors(request: Readonly<SteeringRequest>): AttentionMultipliers | undefined;
  /** The steps that get the factors' encoding; undefined: all of them. */
  range(request: Readonly<SteeringRequest>): StepRange | undefined;
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
 * (PAG: cfg + (cond − perturbed)·scale; SAG: cfg + (degraded − sag)·scale). Its values (the scale
 * per step) go in the sampling loop's step uniforms; its sites are recorded into the UNet's plan. */
export interface GuidancePassHook {
  kind: 'guidance-pass';
  isActive(request: Readonly<SteeringRequest>): boolean;
  /** PAG's pass for `request` on a model with `sites` over `steps` steps: the self-attention paths
   * whose attention is the identity for the perturbed item, and each step's scale (0 outside the
   * control's step range); undefined when there is none. */
  perturbedPass(request: Readonly<SteeringRequest>, sites: readonly AttentionSite[], steps: number): PerturbedPass | undefined;
}

/** A batch part whose self-attention at `sites` is the identity, weighted by scales[step]. */
export interface PerturbedPass {
  sites: string[];
  scales: number[];
}

/** Scales the decoder's backbone features and skip connections where each up-block resnet joins them
 * (FreeU b1/b2, s1/s2), from a factor buffer the UNet reads at run time: turning it on records the
 * extra dispatches; new factors, and steps outside its range (neutral factors), are buffer writes. */
export interface SkipScalingHook {
  kind: 'skip-scaling';
  /** The factors `request` asks for at step `at` (all ones outside its step range; without `at`,
   * one UNet call: its factors), or undefined when it asks nothing: nothing is recorded then. */
  factors(request: Readonly<SteeringRequest>, at?: SamplingStep): FreeUFactors | undefined;
  /** Whether its factors change from step to step (a step range that is not all of sampling). */
  isStepwise(request: Readonly<SteeringRequest>): boolean;
}

export type SteeringHook = SiteTableHook | TextEncoderHook | AttentionProbeHook | GuidancePassHook | SkipScalingHook;

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
