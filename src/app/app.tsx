import { useEffect, useState } from 'react';
import { AboutDialog } from './components/about-dialog';
import { AttentionPanel } from './components/attention-panel';
import { FreeUPanel } from './components/freeu-panel';
import { GuidancePanel } from './components/guidance-panel';
import { CopyLinkButton } from './components/copy-link-button';
import { DropZone } from './components/drop-zone';
import { ErrorBoundary } from './components/error-boundary';
import { ErrorPanel } from './components/error-panel';
import { GenerationControls } from './components/generation-controls';
import { ImageView } from './components/image-view';
import { AttentionMapsSection } from './components/attention-maps-section';
import { LoadProgress } from './components/load-progress';
import { ModelDialog } from './components/model-dialog';
import { ModelPanel } from './components/model-panel';
import { Notices } from './components/notices';
import { PresetsMenu } from './components/presets-menu';
import { UndoButtons } from './components/undo-buttons';
import { XYPlotDialog } from './components/xy-plot-dialog';
import { startPlayground } from './engine/render-controller';
import { useApp } from './state/store';
import './styles.css';

/** The playground: the image, its settings, the attention sliders, XY plots. */
export function App() {
  return (
    <ErrorBoundary>
      <Playground />
    </ErrorBoundary>
  );
}

function Playground() {
  const [dialog, setDialog] = useState<'xy' | 'about' | null>(null);
  // A link (or Back/Forward) with an XY plot in it opens the XY dialog.
  const linkedXY = useApp((s) => s.xyAxes !== undefined);
  useEffect(() => startPlayground(), []);
  const closeXY = () => {
    setDialog(null);
    useApp.setState({ xyAxes: undefined });
  };
  return (
    <div className="app">
      <header className="top-bar">
        <div className="brand">
          <h1>Attention Lab</h1>
          <AdapterLine />
        </div>
        <nav className="actions" aria-label="Playground">
          <UndoButtons />
          <PresetsMenu />
          <CopyLinkButton />
          <button type="button" onClick={() => setDialog('xy')}>
            XY plot
          </button>
          <button type="button" onClick={() => setDialog('about')}>
            About
          </button>
        </nav>
      </header>
      <LoadProgress />
      <ErrorPanel />
      <Notices />
      <main className="layout">
        <div className="column controls">
          <ModelPanel />
          <GenerationControls />
          <AttentionPanel />
          <FreeUPanel />
          <GuidancePanel />
        </div>
        <div className="column stage-column">
          <ImageView />
          <AttentionMapsSection />
        </div>
      </main>
      <XYPlotDialog open={dialog === 'xy' || linkedXY} onClose={closeXY} />
      <AboutDialog open={dialog === 'about'} onClose={() => setDialog(null)} />
      <ModelDialog />
      <DropZone />
    </div>
  );
}

function AdapterLine() {
  const adapter = useApp((s) => s.engine.adapter);
  const error = useApp((s) => s.error);
  const text = adapter ?? (error && (error.kind === 'no-webgpu' || error.kind === 'no-adapter') ? 'none' : 'Looking…');
  return (
    <p className="adapter" data-testid="adapter">
      WebGPU adapter: {text}
    </p>
  );
}
