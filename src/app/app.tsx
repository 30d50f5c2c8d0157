import { useEffect, useState } from 'react';
import { GpuContext, GpuError } from '../engine/gpu/gpu-context';

/** Shows which WebGPU adapter the page got, or what to do when there is none. */
export function App() {
  const [adapter, setAdapter] = useState<string>('Looking for a WebGPU adapter…');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let context: GpuContext | undefined;
    GpuContext.create(navigator.gpu)
      .then((c) => {
        context = c;
        setAdapter(c.adapterName);
      })
      .catch((e: unknown) => setError(e instanceof GpuError ? e.message : String(e)));
    return () => context?.destroy();
  }, []);

  return (
    <main>
      <h1>Attention Lab</h1>
      {error ? <p role="alert">{error}</p> : <p data-testid="adapter">WebGPU adapter: {adapter}</p>}
    </main>
  );
}
