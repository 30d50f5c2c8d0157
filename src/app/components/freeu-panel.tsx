import { Fragment } from 'react';
import { FREEU_PARAMETERS, FREEU_STEP_RANGE, RANGE_END_PARAMETER, RANGE_START_PARAMETER, freeu as freeuControl, withFreeUVersion, type FreeUPart, type FreeUVersion } from '../../engine';
import { useApp } from '../state/store';
import { NumberField } from './number-field';

/** FreeU and FreeU_V2 (ComfyUI's nodes): on/off, which node, b1 b2 s1 s2, and the steps they act in. */
export function FreeUPanel() {
  const values = useApp((s) => s.settings.freeu);
  const range = useApp((s) => s.settings.freeuRange);
  const backend = useApp((s) => s.settings.backend);
  const update = useApp((s) => s.update);
  const setPart = (part: FreeUPart, value: number, change: 'drag' | 'discrete') => {
    const clamped = FREEU_PARAMETERS.find((p) => p.id === part)!.clamp(value);
    const now = useApp.getState().settings.freeu;
    if (clamped !== now[part]) update({ freeu: { ...now, [part]: clamped } }, change);
  };
  const setRange = (end: 'start' | 'end', value: number) => {
    const parameter = end === 'start' ? RANGE_START_PARAMETER : RANGE_END_PARAMETER;
    const next = { ...range, [end]: parameter.clamp(value) };
    if (next.start > next.end) next[end === 'start' ? 'end' : 'start'] = next[end];
    update({ freeuRange: next });
  };
  return (
    <section className="panel freeu-panel" aria-labelledby="freeu-heading">
      <h2 id="freeu-heading">FreeU</h2>
      <p className="hint">{freeuControl.explanation}</p>
      <div className="target-row">
        <label className="toggle">
          <input type="checkbox" checked={values.on} onChange={(e) => update({ freeu: { ...values, on: e.target.checked } })} /> FreeU on
        </label>
        <label className="field-label" htmlFor="freeu-version">
          Node
        </label>
        <select id="freeu-version" value={values.version} onChange={(e) => update({ freeu: withFreeUVersion(values, Number(e.target.value) as FreeUVersion) })}>
          <option value={1}>FreeU</option>
          <option value={2}>FreeU_V2</option>
        </select>
      </div>
      {backend !== 'webgpu' && values.on && <p className="hint warning">FreeU needs the WebGPU engine: the ONNX Runtime backend renders without it.</p>}
      <fieldset className="attention-kind" disabled={!values.on}>
        <legend>Factors (1 leaves the network as it is)</legend>
        {FREEU_PARAMETERS.map((p) => (
          <div key={p.id} className={`multiplier ${values[p.id] !== 1 ? 'changed' : ''}`}>
            <span className="multiplier-part" aria-hidden="true">
              {p.label}
            </span>
            <input
              type="range"
              className="freeu-slider"
              aria-label={`FreeU ${p.label}`}
              title={p.explanation}
              min={p.min}
              max={p.max}
              step={p.step}
              value={values[p.id]}
              onChange={(e) => setPart(p.id, Number(e.target.value), 'drag')}
              onPointerUp={() => useApp.getState().endDrag()}
              onKeyUp={() => useApp.getState().endDrag()}
            />
            <NumberField className="multiplier-number" label={null} ariaLabel={`FreeU ${p.label} value`} name={`FreeU ${p.label}`} value={values[p.id]} min={p.min} max={p.max} step={p.step} onCommit={(v, change) => setPart(p.id, v, change)} />
          </div>
        ))}
        <div className="multiplier">
          <span className="multiplier-part">steps</span>
          <NumberField label="from" name={`${FREEU_STEP_RANGE.label} start`} value={range.start} min={0} max={1} step={0.01} onCommit={(v) => setRange('start', v)} />
          <NumberField label="to" name={`${FREEU_STEP_RANGE.label} end`} value={range.end} min={0} max={1} step={0.01} onCommit={(v) => setRange('end', v)} />
        </div>
      </fieldset>
      <dl className="explain">
        {[FREEU_PARAMETERS[0], FREEU_PARAMETERS[2], RANGE_START_PARAMETER].map((p) => (
          <Fragment key={p.id}>
            <dt>{p.id === 'b1' ? 'b1 · b2' : p.id === 's1' ? 's1 · s2' : 'steps'}</dt>
            <dd>{p.explanation}</dd>
          </Fragment>
        ))}
      </dl>
    </section>
  );
}
