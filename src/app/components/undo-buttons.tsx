import { useEffect } from 'react';
import { canRedo, canUndo, redo, undo, useUndoHistory } from '../state/undo-history';

/** Undo and Redo of setting changes, the same steps as the browser's Back and Forward. Ctrl+Z and
 * Ctrl+Shift+Z (Cmd on a Mac; Ctrl+Y too) work outside text fields, which keep their own undo. */
export function UndoButtons() {
  const position = useUndoHistory();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
      const target = e.target as HTMLElement | null;
      if (target?.closest('textarea, input:not([type=range]):not([type=checkbox]), select, [contenteditable=true], dialog[open]')) return;
      const key = e.key.toLowerCase();
      if (key === 'z' && !e.shiftKey) {
        e.preventDefault();
        undo();
      } else if ((key === 'z' && e.shiftKey) || key === 'y') {
        e.preventDefault();
        redo();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    <span className="undo-buttons">
      <button type="button" onClick={undo} disabled={!canUndo(position)} title="Undo the last setting change (Ctrl+Z, or the browser's Back)">
        Undo
      </button>
      <button type="button" onClick={redo} disabled={!canRedo(position)} title="Redo (Ctrl+Shift+Z, or the browser's Forward)">
        Redo
      </button>
    </span>
  );
}
