// Keeps the address bar equal to serializeSettings(settings) (and the open XY plot's axes, `xy`),
// and settings equal to the address after Back/Forward. A drag adds one history entry when it starts and then only replaces it, and
// writes are throttled, so dragging neither floods the history nor trips the browser's rate limit.

import { DEFAULT_SETTINGS, XY_PARAM, parseSettings, serializeSettings, withModelDefaults } from './settings-schema';
import { useApp } from './store';
import { historyMoved, pushedState, replacedState } from './undo-history';
import { readXYAxes, serializeXYAxes } from './xy-axes';

const WRITE_INTERVAL_MS = 150;

export function startUrlSync(): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastWrite = 0;
  let push = false;
  let dragging = false;
  let userChanged = false;
  let applyingHistory = false;

  const write = () => {
    timer = undefined;
    lastWrite = performance.now();
    const { settings, xyAxes } = useApp.getState();
    const query = serializeSettings(settings) + (xyAxes ? `&${XY_PARAM}=${readable(serializeXYAxes(xyAxes))}` : '');
    if (query === location.search) return;
    const url = `${location.pathname}${query}${location.hash}`;
    if (push) history.pushState(pushedState(), '', url);
    else history.replaceState(replacedState(), '', url);
    push = false;
  };

  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    write();
  };

  const unsubscribe = useApp.subscribe((state, previous) => {
    if (applyingHistory) return;
    // An XY plot rendered, or its dialog closed: an entry of its own, written at once.
    if (state.xyAxes !== previous.xyAxes) {
      userChanged = true;
      dragging = false;
      push = true;
      flush();
      return;
    }
    // endDrag(): the pointer or key was released. Write the final value now, and let the next
    // drag start a new history entry.
    if (state.lastChange === 'discrete' && state.settings === previous.settings) {
      dragging = false;
      if (timer !== undefined) flush();
      return;
    }
    if (state.settings === previous.settings && state.engine.phase === previous.engine.phase) return;
    if (state.settings !== previous.settings && state.given !== previous.given) {
      userChanged = true;
      // A discrete change, or the first event of a drag, gets its own history entry.
      if (state.lastChange === 'discrete' || !dragging) push = true;
      dragging = state.lastChange === 'drag';
    }
    // Until the model's defaults are known, only a person's own change is written.
    if (state.engine.phase !== 'ready' && !userChanged) return;
    // Clicks and picks are written at once; drags and typing at most every WRITE_INTERVAL_MS.
    if (!dragging) {
      flush();
      return;
    }
    if (timer !== undefined) return;
    const wait = Math.max(0, lastWrite + WRITE_INTERVAL_MS - performance.now());
    timer = setTimeout(write, wait);
  });

  const onPopState = (event: PopStateEvent) => {
    historyMoved(event.state);
    const defaults = useApp.getState().engine.info?.defaults;
    const parsed = parseSettings(location.search, withModelDefaults(DEFAULT_SETTINGS, defaults, new Set()));
    const xy = readXYAxes(location.search);
    dragging = false;
    applyingHistory = true;
    try {
      useApp.setState({ settings: parsed.settings, given: parsed.given, xyAxes: xy.axes });
    } finally {
      applyingHistory = false;
    }
    for (const text of [...parsed.notices, ...xy.notices]) useApp.getState().notify(text, 'warning');
  };
  window.addEventListener('popstate', onPopState);

  return () => {
    unsubscribe();
    if (timer !== undefined) clearTimeout(timer);
    window.removeEventListener('popstate', onPopState);
  };
}

/** `text` encoded for a query value, keeping the characters a query allows as they are
 * ("xy=self.q@output:0.5,1;none" stays readable). */
function readable(text: string): string {
  return encodeURIComponent(text).replace(/%(2C|3B|3A|40)/gi, (code) => decodeURIComponent(code));
}
