import { useState } from 'react';
import { cancelRender, resumeRender } from '../engine/render-controller';
import { isNeutral } from '../state/settings-schema';
import { useApp } from '../state/store';
import { SaveImage } from './save-image';
import { RgbaCanvas } from './rgba-canvas';
import { AttentionMapOverlay, clickForPointMap } from './attention-map-overlay';

/**
 * The image, how it was made (ms per image, step progress), and the before/after comparison
 * against every multiplier at 1. data-state is "done" once the image shows the current settings.
 */
export function ImageView() {
  const shown = useApp((s) => s.shown);
  const baseline = useApp((s) => s.baseline);
  const render = useApp((s) => s.render);
  const phase = useApp((s) => s.engine.phase);
  const compare = useApp((s) => s.settings.compare);
  const modelWidth = useApp((s) => s.engine.info?.width);
  const neutral = useApp((s) => isNeutral(s.settings.self) && isNeutral(s.settings.cross));
  const update = useApp((s) => s.update);
  const [split, setSplit] = useState(50);

  const current = !!shown && shown.key === render.wantedKey && !render.busy;
  const state = phase === 'failed' ? 'error' : render.cancelled ? 'cancelled' : !shown ? 'empty' : current ? 'done' : 'rendering';
  const showBaseline = compare && baseline && !neutral;

  return (
    <section className="panel stage" aria-labelledby="stage-heading">
      <h2 id="stage-heading" className="visually-hidden">
        Result
      </h2>
      <figure className="image-figure" data-testid="image-view" data-state={state}>
        {/* A click on the image shows where that point attends (attention maps). */}
        <div className={`frame ${state === 'rendering' ? 'is-rendering' : ''} ${shown ? 'clickable' : ''}`} onClick={shown ? clickForPointMap : undefined} data-testid="image-frame">
          {shown ? (
            <RgbaCanvas image={shown.image} label="Generated image" className="result" />
          ) : render.busy && render.preview ? null : (
            <div className="placeholder">{phase === 'failed' ? 'No image' : render.cancelled ? 'Cancelled' : phase === 'ready' ? 'Rendering the first image…' : 'Loading the model…'}</div>
          )}
          {render.busy && render.preview && (
            <div className="preview">
              {/* A latent preview is smaller than the image: smoothed, it reads as a forming picture rather than blocks. */}
              <RgbaCanvas image={render.preview} label={`Preview after step ${render.step} of ${render.steps}`} className={`result ${render.preview.width < (modelWidth ?? 0) ? 'smooth' : ''}`} />
              <span className="corner-label right">
                preview · step {render.step}/{render.steps}
              </span>
            </div>
          )}
          {showBaseline && (
            <div className="baseline" style={{ clipPath: `inset(0 ${100 - split}% 0 0)` }}>
              <RgbaCanvas image={baseline.image} label="Baseline image, every multiplier at 1" className="result" />
            </div>
          )}
          {shown && <AttentionMapOverlay />}
          {showBaseline && (
            <>
              <span className="corner-label left" aria-hidden="true">
                before ×1
              </span>
              <span className="corner-label right" aria-hidden="true">
                after
              </span>
              <div className="split-line" style={{ left: `${split}%` }} aria-hidden="true" />
            </>
          )}
        </div>
        {showBaseline && (
          <input
            type="range"
            className="split"
            aria-label="Before/after split"
            min={0}
            max={100}
            value={split}
            onChange={(e) => setSplit(Number(e.target.value))}
          />
        )}
        <NonFiniteWarning />
        <figcaption className="render-status">
          <RenderStatus />
          <SaveImage />
        </figcaption>
      </figure>
      <label className="toggle compare-toggle">
        <input type="checkbox" checked={compare} onChange={(e) => update({ compare: e.target.checked })} /> Compare with every multiplier at 1
      </label>
      {compare && neutral && <p className="hint">All multipliers are at 1, so before and after are the same image. Move a slider to see the difference.</p>}
      {compare && !neutral && !baseline && <p className="hint">Rendering the “before” image…</p>}
    </section>
  );
}

/** Says so where the image (or the preview forming) holds NaN or ±Infinity: its pixels are then
 * meaningless, often one flat colour, and should never pass for a picture. */
function NonFiniteWarning() {
  const shown = useApp((s) => s.shown);
  const render = useApp((s) => s.render);
  const brokenWeights = useApp((s) => !!s.engine.info?.warnings?.length);
  // The "before" image of the comparison, where it is shown.
  const before = useApp((s) => (s.settings.compare && !(isNeutral(s.settings.self) && isNeutral(s.settings.cross)) ? s.baseline?.nonFiniteFromStep : undefined));
  const forming = render.busy && render.preview ? render.nonFiniteFromStep : undefined;
  const step = forming ?? (render.busy && render.preview ? undefined : shown?.nonFiniteFromStep);
  if (step === undefined && before === undefined) return null;
  if (step === undefined) {
    return (
      <p className="image-warning" role="alert" data-testid="non-finite">
        The “before” image has non-finite values (NaN or Infinity) from step {before}, so it is not a real picture; {brokenWeights ? 'the model’s weights hold such values (see the notice above).' : 'try a lower CFG.'}
      </p>
    );
  }
  // Broken weights break every image; otherwise the settings pushed values past float32's range.
  const remedy = brokenWeights ? ': the model’s weights hold such values (see the notice above), so no setting will fix it.' : '; try lower multipliers or CFG.';
  return (
    <p className="image-warning" role="alert" data-testid="non-finite">
      {forming !== undefined ? 'The picture forming has' : 'The image has'} non-finite values (NaN or Infinity) from step {step}, so it is not a real picture{remedy}
    </p>
  );
}

function RenderStatus() {
  const shown = useApp((s) => s.shown);
  const render = useApp((s) => s.render);
  const phase = useApp((s) => s.engine.phase);
  const baselineRendering = useApp((s) => s.baselineRendering && s.settings.compare);
  const xy = useApp((s) => s.xy);
  if (phase !== 'ready' && !shown) return <span className="muted">Waiting for the model</span>;
  // Which image the engine is working on: the one shown, the "before" image, or XY plot cells.
  const background = baselineRendering ? 'Rendering the “before” image (every multiplier at 1)…' : xy.status === 'running' ? `Rendering the XY plot: ${xy.done} of ${xy.total} images done…` : undefined;
  return (
    <div className="status-line" aria-live="off">
      {render.busy ? (
        <span className="progress-text">
          <span className="status-what">Rendering the image</span>
          <progress aria-label="Render progress" max={Math.max(1, render.steps)} value={render.step} />
          <span data-testid="step-progress">
            step {render.step}/{render.steps}
          </span>
          <button type="button" className="small-button" onClick={cancelRender} title="Stop this render; the image shown stays">
            Cancel
          </button>
        </span>
      ) : render.cancelled ? (
        <span className="progress-text">
          <span className="muted">Cancelled{shown ? ': the image shown is from earlier settings' : ''}.</span>
          <button type="button" className="small-button" onClick={resumeRender}>
            Render
          </button>
        </span>
      ) : (
        <span className="muted" data-testid="render-state">
          {background ?? (shown ? 'Up to date' : '')}
        </span>
      )}
      {shown && (
        <span data-testid="timing" title="Wall time of the last image; milliseconds per UNet call">
          {formatMs(shown.ms)} ms per image · {formatMs(shown.msPerStep)} ms per step
        </span>
      )}
    </div>
  );
}

/** "174,952" — whole milliseconds, grouped, so slow GPUs' numbers stay readable. */
function formatMs(ms: number): string {
  return Math.round(ms).toLocaleString('en-US');
}
