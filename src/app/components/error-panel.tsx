import { restartEngine } from '../engine/render-controller';
import { useApp } from '../state/store';

/** A problem that stops rendering, what it means and what to do about it. */
export function ErrorPanel() {
  const error = useApp((s) => s.error);
  if (!error) return null;
  return (
    <section className="error-panel" role="alert" data-testid="error" data-kind={error.kind}>
      <h2>{error.title}</h2>
      <p>{error.message}</p>
      <p className="help">{error.help}</p>
      {error.action === 'retry' && (
        <button type="button" onClick={() => restartEngine()}>
          Try again
        </button>
      )}
      {error.action === 'reload' && (
        <button type="button" onClick={() => location.reload()}>
          Reload the page
        </button>
      )}
    </section>
  );
}
