// XY plot axes: which setting an axis varies, the values people type for it ("0.5, 1, 1.5" or
// "0..2 step 0.5"), and the request of each grid cell. Every cell shares the page's settings,
// seed included, except what its two axes set.

// Steering axes (self.q, cross.out, …) come from the steering controls' descriptors.

import { STEERING_CONTROLS, type AttentionSite, type AxisValue, type ControlAxis, type GenerateRequest } from '../../engine';
import { LIMITS, XY_PARAM, isValidTarget, roundHundredths, toGenerateRequest, type Settings, type Target } from './settings-schema';

/** A setting of the page, or a steering control's axis ('self.q'). */
export type AxisKind = 'none' | 'seed' | 'cfg' | 'steps' | `${string}.${string}`;

const STEERING_AXES: readonly ControlAxis[] = STEERING_CONTROLS.flatMap((c) => c.axes);

function steeringAxis(kind: AxisKind): ControlAxis | undefined {
  return STEERING_AXES.find((a) => a.id === kind);
}

export interface Axis {
  kind: AxisKind;
  /** Sites a multiplier axis acts on; ignored by the others. */
  target: Target;
  values: number[];
}

export const AXIS_KINDS: readonly AxisKind[] = [
  ...STEERING_AXES.map((a) => a.id as AxisKind),
  'seed',
  'cfg',
  'steps',
  'none',
];

export const MAX_AXIS_VALUES = 12;
export const MAX_CELLS = 100;

export function axisName(kind: AxisKind): string {
  switch (kind) {
    case 'none':
      return 'None';
    case 'seed':
      return 'Seed';
    case 'cfg':
      return 'CFG';
    case 'steps':
      return 'Steps';
    default:
      return steeringAxis(kind)?.name ?? kind;
  }
}

/** Whether `kind` is a steering control's axis that acts on a target of sites (a step range or the
 * text encoder's factors act on the whole control: no target). */
export function isSteeringAxis(kind: AxisKind): boolean {
  const axis = steeringAxis(kind);
  return axis !== undefined && !axis.untargeted;
}

export function targetName(target: Target): string {
  return target === 'all' ? 'all blocks' : target === 'input' ? 'input blocks' : target === 'output' ? 'output blocks' : target === 'middle' ? 'middle block' : target;
}

/** "Self-attention q (output blocks)" — the axis title drawn on the grid. */
export function axisTitle(axis: Pick<Axis, 'kind' | 'target'>): string {
  return isSteeringAxis(axis.kind) ? `${axisName(axis.kind)} (${targetName(axis.target)})` : axisName(axis.kind);
}

export function formatAxisValue(kind: AxisKind, value: number): string {
  return steeringAxis(kind)?.format(value) ?? String(value);
}

export interface ParsedValues {
  values: number[];
  /** Why the text was refused, or what was repaired; empty when all is well. */
  problems: string[];
  ok: boolean;
}

/**
 * Reads "0.5, 1, 1.5" (a list) or "0..2 step 0.5" (a range, both ends included). Values are
 * clamped into the axis's range (integers for seed and steps); duplicates are kept, in order.
 */
export function parseAxisValues(kind: AxisKind, text: string): ParsedValues {
  const problems: string[] = [];
  if (kind === 'none') return { values: [], problems, ok: true };
  const trimmed = text.trim();
  let raw: number[];
  const range = /^(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)(?:\s*(?:step|by|:)\s*([\d.]+))?$/i.exec(trimmed);
  if (range) {
    const [start, end] = [Number(range[1]), Number(range[2])];
    const step = range[3] !== undefined ? Number(range[3]) : defaultStep(kind);
    if (![start, end, step].every(Number.isFinite) || step <= 0) return fail(`"${trimmed}": write a range as "0..2 step 0.5" with a step above 0.`);
    const count = Math.floor(Math.abs(end - start) / step + 1e-9) + 1;
    if (count > MAX_AXIS_VALUES) return fail(`"${trimmed}" gives ${count} values; at most ${MAX_AXIS_VALUES} fit an axis.`);
    const sign = end >= start ? 1 : -1;
    raw = Array.from({ length: count }, (_, i) => start + sign * i * step);
  } else {
    const parts = trimmed.split(/[,;\s]+/).filter(Boolean);
    if (!parts.length) return fail('Type values as a list "0.5, 1, 1.5" or a range "0..2 step 0.5".');
    const bad = parts.filter((p) => !/^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(p));
    if (bad.length) return fail(`Not a number: ${bad.slice(0, 3).join(', ')}. Type a list "0.5, 1, 1.5" or a range "0..2 step 0.5".`);
    if (parts.length > MAX_AXIS_VALUES) return fail(`${parts.length} values; at most ${MAX_AXIS_VALUES} fit an axis.`);
    raw = parts.map(Number);
  }
  const values = raw.map((v) => {
    const clamped = clampAxisValue(kind, v);
    if (clamped !== roundHundredths(v)) problems.push(`${formatNumber(v)} became ${clamped}`);
    return clamped;
  });
  return { values, problems: problems.length ? [`Out of range or not whole: ${problems.join(', ')}.`] : [], ok: true };

  function fail(message: string): ParsedValues {
    return { values: [], problems: [message], ok: false };
  }
}

function defaultStep(kind: AxisKind): number {
  return kind === 'seed' || kind === 'steps' ? 1 : kind === 'cfg' ? 1 : (steeringAxis(kind)?.rangeStep ?? 1);
}

function formatNumber(v: number): string {
  return String(roundHundredths(v));
}

export function clampAxisValue(kind: AxisKind, value: number): number {
  switch (kind) {
    case 'seed':
      return Math.min(LIMITS.seed.max, Math.max(LIMITS.seed.min, Math.round(value)));
    case 'steps':
      return Math.min(LIMITS.steps.max, Math.max(LIMITS.steps.min, Math.round(value)));
    case 'cfg':
      return roundHundredths(Math.min(LIMITS.cfg.max, Math.max(LIMITS.cfg.min, value)));
    case 'none':
      return value;
    default:
      return steeringAxis(kind)?.parameter.clamp(value) ?? value;
  }
}

/** The request of the cell where axis `x` has value `xValue` and `y` has `yValue`. */
export function cellRequest(
  settings: Readonly<Settings>,
  sites: readonly AttentionSite[],
  cell: readonly { axis: Pick<Axis, 'kind' | 'target'>; value: number }[],
): GenerateRequest {
  const changed: Settings = { ...settings };
  const forced: AxisValue[] = [];
  for (const { axis, value } of cell) {
    if (axis.kind === 'none') continue;
    if (axis.kind === 'seed' || axis.kind === 'cfg' || axis.kind === 'steps') changed[axis.kind] = value;
    else {
      const steering = steeringAxis(axis.kind);
      if (steering) forced.push({ axis: steering, target: axis.target, value });
    }
  }
  return toGenerateRequest(changed, { forced, sites });
}

/** The grid on screen: its two axes (y may be 'none'). */
export interface XYAxes {
  x: Axis;
  y: Axis;
}

/**
 * The URL form of a grid's axes (the `xy` parameter): "x;y", each axis "kind[@target]:values" with
 * the values as a comma list, e.g. "self.q:0.5,1,1.5;cross.v@output:0,1,2" or "seed:1,2,3;none".
 * The target is written only for multiplier axes that act on less than all blocks.
 */
export function serializeXYAxes({ x, y }: XYAxes): string {
  const one = (axis: Axis) => {
    if (axis.kind === 'none') return 'none';
    const target = isSteeringAxis(axis.kind) && axis.target !== 'all' ? `@${axis.target}` : '';
    return `${axis.kind}${target}:${axis.values.join(',')}`;
  };
  return `${one(x)};${one(y)}`;
}

/** Reads serializeXYAxes' form; never throws. Anything it cannot use is dropped with a notice, and
 * values are clamped as the dialog clamps them (with a notice too). */
export function parseXYAxes(text: string): { axes?: XYAxes; notices: string[] } {
  const notices: string[] = [];
  const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  const refuse = (why: string) => ({ notices: [`Ignored the XY plot in the link ("${shown}"): ${why}`] });
  const parts = text.split(';');
  if (parts.length !== 2) return refuse('expected two axes, "x;y".');
  const axes: Axis[] = [];
  for (const [i, part] of parts.entries()) {
    const name = i === 0 ? 'X' : 'Y';
    if (part === 'none') {
      if (i === 0) return refuse('the X axis cannot be None.');
      axes.push({ kind: 'none', target: 'all', values: [] });
      continue;
    }
    const m = /^([a-z]+(?:\.[a-z][a-z0-9]*)?)(?:@([^:]+))?:(.*)$/.exec(part);
    const kind = m?.[1] as AxisKind | undefined;
    if (!m || !kind || !AXIS_KINDS.includes(kind) || kind === 'none') return refuse(`${name} axis "${part}" is not "kind[@target]:values" with a known kind.`);
    const target = m[2] ?? 'all';
    if (!isValidTarget(target) || (m[2] !== undefined && !isSteeringAxis(kind))) return refuse(`${name} axis has an unknown target "${target}".`);
    const parsed = parseAxisValues(kind, m[3].replaceAll(',', ', '));
    if (!parsed.ok || !parsed.values.length) return refuse(`${name} values: ${parsed.problems.join(' ')}`);
    notices.push(...parsed.problems.map((p) => `XY plot, ${name} axis: ${p}`));
    axes.push({ kind, target, values: parsed.values });
  }
  const [x, y] = axes;
  const cells = x.values.length * Math.max(1, y.values.length);
  if (cells > MAX_CELLS) return refuse(`${cells} cells; at most ${MAX_CELLS} fit.`);
  return { axes: { x, y }, notices };
}

/** The `xy` parameter of a query string, if it has one, read by parseXYAxes. */
export function readXYAxes(query: string): { axes?: XYAxes; notices: string[] } {
  const text = new URLSearchParams(query).get(XY_PARAM);
  return text === null ? { notices: [] } : parseXYAxes(text);
}
