// Undo and redo are the browser's Back and Forward over the page's own history entries: every
// settings change already pushes one (url-sync.ts), so Ctrl+Z, the Undo button and Back agree.
// Each entry the page writes carries its position, so the page knows how far back its own entries
// go (Undo never leaves the page) and whether a Forward entry is there to redo.

import { create } from 'zustand';

interface Position {
  /** The current entry's position among the page's entries; 0 is where the visit began. */
  index: number;
  /** The last entry that Forward can reach. */
  top: number;
}

const KEY = 'attentionLab';
const start = typeof history === 'undefined' ? 0 : indexOf(history.state);

export const useUndoHistory = create<Position>()(() => ({ index: start, top: start }));

function indexOf(state: unknown): number {
  const value = (state as Record<string, unknown> | null)?.[KEY];
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 0;
}

/** The state for history.pushState: one entry further, and nothing left to redo. */
export function pushedState(): Record<string, number> {
  const index = useUndoHistory.getState().index + 1;
  useUndoHistory.setState({ index, top: index });
  return { [KEY]: index };
}

/** The state for history.replaceState: the same position. */
export function replacedState(): Record<string, number> {
  return { [KEY]: useUndoHistory.getState().index };
}

/** After Back or Forward (popstate): where the page is now. */
export function historyMoved(state: unknown): void {
  const index = indexOf(state);
  useUndoHistory.setState({ index, top: Math.max(index, useUndoHistory.getState().top) });
}

export function canUndo(p: Position = useUndoHistory.getState()): boolean {
  return p.index > 0;
}

export function canRedo(p: Position = useUndoHistory.getState()): boolean {
  return p.index < p.top;
}

export function undo(): void {
  if (canUndo()) history.back();
}

export function redo(): void {
  if (canRedo()) history.forward();
}
