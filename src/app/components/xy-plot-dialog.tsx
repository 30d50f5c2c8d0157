import { useEffect, useMemo, useRef, useState } from 'react';
import { cancelXYPlot, runXYPlot } from '../engine/render-controller';
import { parametersText, savedImageTexts } from '../state/saved-image';
import { serializeSettings, XY_PARAM, type Target } from '../state/settings-schema';
import { useApp } from '../state/store';
import { AXIS_KINDS, MAX_CELLS, axisName, axisTitle, isSteeringAxis, parseAxisValues, serializeXYAxes, type Axis, type AxisKind } from '../state/xy-axes';
import { blocksOf } from './attention-panel';
import { ModalDialog } from './modal-dialog';
import { downloadBlob, pngWithText } from './image-file';
import { drawGrid, exportPixelRatio, plural } from './xy-grid-drawing';

interface AxisDraft {
  kind: AxisKind;
  target: Target;
  text: string;
}

function defaultValues(kind: AxisKind, seed: number): string {
  switch (kind) {
    case 'seed':
      return `${seed}, ${(seed + 1) % 2 ** 32}, ${(seed + 2) % 2 ** 32}`;
    case 'cfg':
      return '1, 4, 7';
    case 'steps':
      return '5, 10, 20';
    case 'none':
      return '';
    default:
      // A step range's start or end: fractions of sampling.
      if (/\.(start|end)$/.test(kind)) return kind.endsWith('start') ? '0, 0.25, 0.5' : '0.5, 0.75, 1';
      return '0.5, 1, 1.5';
  }
}

const draftOf = (axis: Axis): AxisDraft => ({ kind: axis.kind, target: axis.target, text: axis.values.join(', ') });

/** The XY plot: two axes over any multiplier (per attention type and target), seed, CFG or steps.
 * A rendered grid's axes go into the URL (store.xyAxes); a link with them opens this dialog with
 * those axes and renders the grid as soon as the model is ready. */
export function XYPlotDialog({ open, onClose }: { open: boolean; onClose(): void }) {
  const seed = useApp((s) => s.settings.seed);
  const xy = useApp((s) => s.xy);
  const linked = useApp((s) => s.xyAxes);
  const info = useApp((s) => s.engine.info);
  const ready = useApp((s) => s.engine.phase === 'ready');
  const [x, setX] = useState<AxisDraft>(linked ? draftOf(linked.x) : { kind: 'self.q', target: 'all', text: '0.5, 1, 1.5' });
  const [y, setY] = useState<AxisDraft>(linked ? draftOf(linked.y) : { kind: 'cross.v', target: 'all', text: '0.5, 1, 1.5' });
  const canvas = useRef<HTMLCanvasElement>(null);

  // The grid the URL asks for, when it is not the one on screen (a link opened, Back/Forward):
  // its axes in the form, and rendered once the model is ready.
  const shownKey = xy.x && xy.y ? serializeXYAxes({ x: xy.x, y: xy.y }) : undefined;
  const linkedKey = linked ? serializeXYAxes(linked) : undefined;
  useEffect(() => {
    if (!linked || linkedKey === shownKey || xy.status === 'running' || !ready) return;
    setX(draftOf(linked.x));
    setY(draftOf(linked.y));
    void runXYPlot(linked.x, linked.y);
  }, [linked, linkedKey, shownKey, xy.status, ready]);

  const parsedX = useMemo(() => parseAxisValues(x.kind, x.text), [x.kind, x.text]);
  const parsedY = useMemo(() => parseAxisValues(y.kind, y.text), [y.kind, y.text]);
  const cells = Math.max(1, parsedX.values.length) * Math.max(1, parsedY.values.length);
  const valid = parsedX.ok && parsedX.values.length > 0 && parsedY.ok && (y.kind === 'none' || parsedY.values.length > 0) && cells <= MAX_CELLS;
  const running = xy.status === 'running';

  useEffect(() => {
    if (!canvas.current || !xy.x || !xy.y || !xy.settings || !info) return;
    const geometry = drawGrid(canvas.current, { x: xy.x, y: xy.y, cells: xy.cells, settings: xy.settings, width: xy.settings?.width ?? info.width, height: xy.settings?.height ?? info.height });
    // Where the cells are, for tools that read the grid back (and the e2e tests).
    canvas.current.dataset.geometry = JSON.stringify(geometry);
  }, [xy, info]);

  const start = () => {
    const toAxis = (draft: AxisDraft, values: number[]): Axis => ({ kind: draft.kind, target: isSteeringAxis(draft.kind) ? draft.target : 'all', values });
    const axes = { x: toAxis(x, parsedX.values), y: toAxis(y, y.kind === 'none' ? [] : parsedY.values) };
    useApp.setState({ xyAxes: axes });
    void runXYPlot(axes.x, axes.y);
  };

  // The saved grid: cells at least 256 px (nearest-neighbour), with its link inside, so dropping
  // it on the page brings back the settings and the axes.
  const download = async () => {
    if (!xy.x || !xy.y || !xy.settings || !info) return;
    const picture = { x: xy.x, y: xy.y, cells: xy.cells, settings: xy.settings, width: info.width, height: info.height };
    const large = document.createElement('canvas');
    drawGrid(large, picture, exportPixelRatio(info.width));
    const link = `${location.origin}${location.pathname}${serializeSettings(xy.settings)}&${XY_PARAM}=${encodeURIComponent(serializeXYAxes({ x: xy.x, y: xy.y }))}`;
    try {
      const blob = await pngWithText(large, savedImageTexts(link, `XY plot: X ${axisTitle(xy.x)}, Y ${axisTitle(xy.y)}\n${parametersText(xy.settings, info, info.name)}`));
      downloadBlob(blob, `attention-lab-xy-${xy.x.kind}-${xy.y.kind}.png`);
    } catch (e) {
      useApp.getState().notify(`Could not save the grid: ${(e as Error).message}`, 'warning');
    }
  };

  return (
    <ModalDialog open={open} onClose={onClose} title="XY plot" className="xy-dialog">
      <div className="xy-form">
        <AxisEditor name="X" draft={x} onChange={(d) => setX(withDefaults(x, d, seed))} problems={parsedX.problems} info={info} allowNone={false} />
        <AxisEditor name="Y" draft={y} onChange={(d) => setY(withDefaults(y, d, seed))} problems={parsedY.problems} info={info} allowNone />
      </div>
      <p className="hint">
        Values: a list <code>0.5, 1, 1.5</code> or a range <code>0..2 step 0.5</code>. Every cell shares the page’s settings — the same seed, prompt and sliders — except
        what its axes set. {cells > MAX_CELLS && <strong>That is {cells} cells; at most {MAX_CELLS} fit.</strong>}
      </p>
      <div className="xy-actions">
        <button type="button" className="primary" disabled={!valid || !ready || running} onClick={start}>
          Render {Math.max(1, parsedX.values.length)}×{y.kind === 'none' ? 1 : Math.max(1, parsedY.values.length)} grid
        </button>
        <button type="button" disabled={!running} onClick={cancelXYPlot}>
          Cancel
        </button>
        <button type="button" disabled={xy.done === 0 || running} onClick={() => void download()}>
          Download PNG
        </button>
        {xy.status !== 'idle' && (
          <span className="xy-progress" data-testid="xy-status" data-status={xy.status}>
            <progress aria-label="Grid progress" max={Math.max(1, xy.total)} value={xy.done} />
            {xy.done} of {plural(xy.total, 'cell')}
            {xy.status === 'cancelled' && ' — cancelled'}
            {xy.status === 'done' && ' — done'}
            {xy.status === 'failed' && ` — failed: ${xy.message}`}
          </span>
        )}
      </div>
      {!ready && <p className="hint">The model is not ready yet.</p>}
      {!!xy.nonFinite?.length && (
        <p className="image-warning" role="alert" data-testid="xy-non-finite">
          {plural(xy.nonFinite.length, 'cell')} {xy.nonFinite.length === 1 ? 'has' : 'have'} non-finite values (NaN or Infinity), so {xy.nonFinite.length === 1 ? 'it is' : 'they are'} not real pictures: {xy.nonFinite.slice(0, 4).join('; ')}
          {xy.nonFinite.length > 4 ? ` and ${xy.nonFinite.length - 4} more` : ''}. {info?.warnings?.length ? 'The model’s weights hold such values (see the notice).' : 'Try lower multipliers or CFG.'}
        </p>
      )}
      <div className="xy-canvas-wrap">{xy.status !== 'idle' && <canvas ref={canvas} role="img" aria-label="XY plot grid" className="xy-canvas" />}</div>
    </ModalDialog>
  );
}

/** Axes whose values read as multipliers (0–10, 1 neutral): their typed values carry over. */
function isMultiplierLike(kind: AxisKind): boolean {
  return kind.includes('.') && !/\.(start|end)$/.test(kind);
}

function withDefaults(previous: AxisDraft, next: AxisDraft, seed: number): AxisDraft {
  if (next.kind === previous.kind) return next;
  const sameFamily = isMultiplierLike(next.kind) && isMultiplierLike(previous.kind);
  return { ...next, text: sameFamily ? next.text : defaultValues(next.kind, seed) };
}

function AxisEditor({
  name,
  draft,
  onChange,
  problems,
  info,
  allowNone,
}: {
  name: 'X' | 'Y';
  draft: AxisDraft;
  onChange(d: AxisDraft): void;
  problems: string[];
  info: ReturnType<typeof useApp.getState>['engine']['info'];
  allowNone: boolean;
}) {
  const blocks = info ? blocksOf(info.sites) : [];
  const kinds = AXIS_KINDS.filter((k) => allowNone || k !== 'none');
  return (
    <fieldset className="axis-editor">
      <legend>{name} axis</legend>
      <label className="field-label" htmlFor={`axis-${name}`}>
        {name} varies
      </label>
      <select id={`axis-${name}`} value={draft.kind} onChange={(e) => onChange({ ...draft, kind: e.target.value as AxisKind })}>
        {kinds.map((k) => (
          <option key={k} value={k}>
            {axisName(k)}
          </option>
        ))}
      </select>
      {isSteeringAxis(draft.kind) && (
        <>
          <label className="field-label" htmlFor={`axis-${name}-target`}>
            {name} acts on
          </label>
          <select id={`axis-${name}-target`} value={draft.target} onChange={(e) => onChange({ ...draft, target: e.target.value })}>
            <option value="all">All blocks</option>
            <option value="input">Input blocks</option>
            <option value="middle">Middle block</option>
            <option value="output">Output blocks</option>
            {blocks.map((b) => (
              <option key={b.comfyBlock} value={b.comfyBlock}>
                {b.comfyBlock} · {b.resolution}
              </option>
            ))}
          </select>
        </>
      )}
      {draft.kind !== 'none' && (
        <>
          <label className="field-label" htmlFor={`axis-${name}-values`}>
            {name} values
          </label>
          <input
            id={`axis-${name}-values`}
            type="text"
            value={draft.text}
            spellCheck={false}
            aria-invalid={problems.length > 0}
            aria-describedby={`axis-${name}-problems`}
            onChange={(e) => onChange({ ...draft, text: e.target.value })}
          />
          <span id={`axis-${name}-problems`} className="field-problem">
            {problems.join(' ')}
          </span>
        </>
      )}
    </fieldset>
  );
}
