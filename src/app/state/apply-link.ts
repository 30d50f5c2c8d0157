// Opening a link's settings in place (a dropped PNG's link, a preset): as Back does, through the
// one validated parser, with the model's defaults for what the link leaves out. It is a settings
// change of its own, so it gets a history entry and Undo takes it back.

import { DEFAULT_SETTINGS, parseSettings, withModelDefaults } from './settings-schema';
import { useApp } from './store';
import { readXYAxes } from './xy-axes';

export function applyLink(query: string): void {
  const state = useApp.getState();
  const parsed = parseSettings(query, withModelDefaults(DEFAULT_SETTINGS, state.engine.info?.defaults, new Set()));
  const xy = readXYAxes(query);
  // Model and backend changes are the model loader's business; a link keeps the ones running.
  const settings = { ...parsed.settings, model: state.settings.model, backend: state.settings.backend };
  if (parsed.given.has('model') && parsed.settings.model !== state.settings.model) state.notify(`These settings were made with the model ${parsed.settings.model}; they are applied to ${state.settings.model}.`, 'warning');
  useApp.setState({ settings, given: new Set([...state.given, ...parsed.given]), lastChange: 'discrete', xyAxes: xy.axes });
  for (const text of [...parsed.notices, ...xy.notices]) state.notify(text, 'warning');
}
