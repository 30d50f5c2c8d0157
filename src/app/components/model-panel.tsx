import { formatBytes } from '../../engine/weights/cache-transfer';
import { setPrediction, stopLoading } from '../models/model-controller';
import { useApp } from '../state/store';

/** Which model renders, what it is, and the way to another one (the Model dialog). */
export function ModelPanel() {
  const details = useApp((s) => s.model.details);
  const info = useApp((s) => s.engine.info);
  const prediction = useApp((s) => s.settings.prediction);
  const needed = useApp((s) => s.model.needed);
  const open = () => useApp.setState({ model: { ...useApp.getState().model, dialog: true } });
  const showPrediction = details && (details.predictionGuessed || /SD 2/.test(details.family ?? ''));
  return (
    <section className="panel model-panel" aria-labelledby="model-heading" data-testid="model-panel">
      <div className="model-line">
        <h2 id="model-heading">Model</h2>
        <button type="button" onClick={open}>
          Change model…
        </button>
      </div>
      {details && info ? (
        <p className="model-name" data-testid="model-name">
          <strong>{info.name}</strong>
          {details.family && <span className="model-family"> · {details.family}</span>}
          <span className="model-size">
            {' '}
            · made for {info.width}×{info.height}
          </span>
        </p>
      ) : (
        <p className="model-name">{needed ? 'Waiting for the model this link names.' : 'Loading…'}</p>
      )}
      {showPrediction && (
        <label className="prediction-field">
          Predicts{' '}
          <select
            aria-label="Prediction type"
            value={prediction || details.predictionType || 'epsilon'}
            title="SD 2.x models at 512 px predict noise (epsilon), at 768 px v. A single file does not say which: this is a guess. Switch it if the images look burnt or grey."
            onChange={(e) => setPrediction(e.target.value as 'epsilon' | 'v_prediction')}
          >
            <option value="epsilon">noise (epsilon, SD 2.x 512)</option>
            <option value="v_prediction">v (SD 2.x 768)</option>
          </select>
          {details.predictionGuessed && !prediction && <span className="hint"> guessed</span>}
        </label>
      )}
      <DecoderChoice />
      <ModelLoading />
    </section>
  );
}

/** VAE or TAESD for the final image: offered once a TAESD fits the model (or a link asks for one). */
function DecoderChoice() {
  const decoder = useApp((s) => s.settings.decoder);
  const taesd = useApp((s) => s.model.taesd.state);
  const update = useApp((s) => s.update);
  if (!taesd?.attached && decoder !== 'taesd') return null;
  return (
    <label className="decoder-field">
      Decoder{' '}
      <select aria-label="Decoder" value={decoder} onChange={(e) => update({ decoder: e.target.value as 'vae' | 'taesd' })}>
        <option value="vae">VAE (full quality)</option>
        <option value="taesd">TAESD (fast)</option>
      </select>
      {decoder === 'taesd' && !taesd?.attached && <span className="hint"> no TAESD loaded: the VAE renders</span>}
    </label>
  );
}

/** A model loading beside the current one: download or copy progress, bytes, rate, time left. */
export function ModelLoading() {
  const loading = useApp((s) => s.model.loading);
  const firstLoad = useApp((s) => s.engine.phase !== 'ready');
  // The first model's GPU upload shows in the page's own bar (load-progress.tsx); downloads show here.
  if (!loading || (firstLoad && !loading.transfer)) return null;
  const t = loading.transfer;
  const fraction = t && t.loaded < t.total ? t.loaded / Math.max(1, t.total) : loading.fraction;
  const text = t && t.loaded < t.total ? `${t.what}: ${formatBytes(t.loaded)} of ${formatBytes(t.total)}${t.rate ? ` · ${formatBytes(t.rate)}/s` : ''}${t.eta !== undefined && t.rate ? ` · ${formatEta(t.eta)} left` : ''}` : `Loading ${loading.label}${loading.what ? `: ${loading.what}` : '…'}`;
  return (
    <div className="model-loading" data-testid="model-loading">
      <progress aria-label="Model download" max={1} value={fraction} />
      <span>{text}</span>
      {t && t.loaded < t.total && (
        <button type="button" onClick={stopLoading}>
          Stop
        </button>
      )}
    </div>
  );
}

export function formatEta(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
