import { Component, type ErrorInfo, type ReactNode } from 'react';

interface State {
  error?: Error;
}

/** A bug in a component shows what happened and a way out, never a blank page. */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = {};

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.warn('Attention Lab: a component failed', error, info.componentStack);
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <main className="app">
        <h1>Attention Lab</h1>
        <section className="error-panel" role="alert">
          <h2>Something went wrong on this page</h2>
          <p>{this.state.error.message}</p>
          <p className="help">Reload the page, or start over with the default settings. If it happens again, please report it with the page's address.</p>
          <button type="button" onClick={() => location.reload()}>
            Reload the page
          </button>{' '}
          <a href={location.pathname}>Start over with default settings</a>
        </section>
      </main>
    );
  }
}
