import { PAG_SCALE, PAG_USUAL_SCALE, perturbedAttentionGuidance, type StepRange } from '../../engine';
import { siteInTarget, type Target } from '../state/settings-schema';
import { useApp } from '../state/store';
import { blocksOf } from './attention-panel';
import { NumberField } from './number-field';

const BLOCK_OPTIONS: { value: Target; label: string }[] = [
  { value: 'middle', label: 'Middle block' },
  { value: 'input', label: 'Input blocks (down)' },
  { value: 'output', label: 'Output blocks (up)' },
  { value: 'all', label: 'All blocks' },
];

/** Perturbed-Attention Guidance: its scale, the blocks whose self-attention it blurs out, and the
 * part of sampling it acts in (steering/perturbed-attention-guidance.ts). */
export function GuidancePanel() {
  const settings = useApp((s) => s.settings);
  const sites = useApp((s) => s.engine.info?.sites);
  const update = useApp((s) => s.update);
  const endDrag = useApp((s) => s.endDrag);
  const { pag, pagTarget, pagRange } = settings;
  const setScale = (value: number, change: 'drag' | 'discrete') => {
    const clamped = PAG_SCALE.clamp(value);
    if (clamped !== useApp.getState().settings.pag) update({ pag: clamped }, change);
  };
  const setRange = (range: StepRange) => {
    if (range.start < range.end) update({ pagRange: range });
  };
  const blocks = sites ? blocksOf(sites).filter((b) => b.sites.some((s) => s.kind === 'attn1')) : [];
  const perturbed = sites?.filter((s) => s.kind === 'attn1' && siteInTarget(s, pagTarget)).length;
  return (
    <section className="panel guidance-panel" aria-labelledby="guidance-heading">
      <h2 id="guidance-heading">Guidance</h2>
      <fieldset className="attention-kind">
        <legend>
          {perturbedAttentionGuidance.label}
          <button type="button" className="link-button" onClick={() => setScale(pag > 0 ? 0 : PAG_USUAL_SCALE, 'discrete')}>
            {pag > 0 ? 'Turn off' : `Turn on (${PAG_USUAL_SCALE})`}
          </button>
        </legend>
        <p className="hint">{PAG_SCALE.explanation}</p>
        <div className={`multiplier ${pag > 0 ? 'changed' : ''}`}>
          <span className="multiplier-part" aria-hidden="true">
            scale
          </span>
          <input
            type="range"
            aria-label={PAG_SCALE.label}
            min={PAG_SCALE.min}
            max={PAG_SCALE.max}
            step={PAG_SCALE.step}
            value={pag}
            onChange={(e) => setScale(Number(e.target.value), 'drag')}
            onPointerUp={endDrag}
            onKeyUp={endDrag}
            onBlur={endDrag}
          />
          <NumberField className="multiplier-number" label={null} ariaLabel="PAG scale value" name={PAG_SCALE.label} value={pag} min={PAG_SCALE.min} max={PAG_SCALE.max} step={PAG_SCALE.step} onCommit={setScale} />
        </div>
        <div className="target-row">
          <label className="field-label" htmlFor="pag-target">
            Blocks
          </label>
          <select id="pag-target" value={pagTarget} onChange={(e) => update({ pagTarget: e.target.value })}>
            {BLOCK_OPTIONS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
            {!BLOCK_OPTIONS.some((o) => o.value === pagTarget) && !blocks.some((b) => b.comfyBlock === pagTarget) && <option value={pagTarget}>{pagTarget}</option>}
            {blocks.length > 0 && (
              <optgroup label="One block">
                {blocks.map((b) => (
                  <option key={b.comfyBlock} value={b.comfyBlock}>
                    {b.comfyBlock} · {b.resolution}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        </div>
        <div className="target-row">
          <NumberField label="From" name="PAG steps start" value={pagRange.start} min={0} max={1} step={0.01} onCommit={(start) => setRange({ ...pagRange, start })} />
          <NumberField label="to" name="PAG steps end" value={pagRange.end} min={0} max={1} step={0.01} onCommit={(end) => setRange({ ...pagRange, end })} />
          <span className="hint">of sampling</span>
        </div>
        {perturbed !== undefined && <p className="hint">Perturbs {perturbed} self-attention module{perturbed === 1 ? '' : 's'}; each UNet call carries one more image while PAG is on.</p>}
        {settings.backend !== 'webgpu' && pag > 0 && (
          <p className="hint warning" role="status">
            PAG needs the WebGPU engine: the ONNX Runtime backend renders without it.
          </p>
        )}
      </fieldset>
    </section>
  );
}
