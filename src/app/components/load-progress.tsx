import { useApp } from '../state/store';

/** The model download and upload to the GPU; hidden once the model is ready. */
export function LoadProgress() {
  const engine = useApp((s) => s.engine);
  const model = useApp((s) => s.model.loading?.label ?? s.settings.model);
  if (engine.phase !== 'starting' && engine.phase !== 'loading') return null;
  const percent = Math.round(engine.loadFraction * 100);
  return (
    <div className="load-progress" data-testid="load-progress">
      <progress aria-label="Model loading" max={1} value={engine.phase === 'starting' ? undefined : engine.loadFraction} />
      <span>
        {engine.phase === 'starting' ? 'Starting the GPU engine…' : `Loading ${model}: ${engine.loadWhat || '…'} ${percent}%`}
      </span>
    </div>
  );
}
