import { useState } from 'react';
import { PRESETS, applyPreset, matchingPreset } from '../state/presets';
import { useApp } from '../state/store';
import { applyUserPreset, matchingUserPreset, useUserPresets } from '../state/user-presets';
import { UserPresetsDialog } from './user-presets-dialog';

const MINE = 'mine:';

/** Named settings: the built-in multiplier presets (they keep the prompt and seed) and the
 * person's own (they set everything they saved), and the dialog that manages the latter. */
export function PresetsMenu() {
  const settings = useApp((s) => s.settings);
  const mine = useUserPresets((s) => s.presets);
  const [managing, setManaging] = useState(false);
  const ownMatch = matchingUserPreset(settings, mine);
  const builtIn = matchingPreset(settings);
  const value = ownMatch ? MINE + ownMatch.name : (builtIn?.name ?? '');
  const choose = (value: string) => {
    const state = useApp.getState();
    if (value.startsWith(MINE)) {
      const preset = mine.find((p) => p.name === value.slice(MINE.length));
      if (!preset) return;
      const applied = applyUserPreset(state.settings, preset);
      state.update(applied.settings);
      for (const n of applied.notices) state.notify(n, 'warning');
      state.notify(`Preset “${preset.name}” applied.`, 'info');
      return;
    }
    const preset = PRESETS.find((p) => p.name === value);
    if (!preset) return;
    const next = applyPreset(state.settings, preset);
    state.update({ self: next.self, cross: next.cross, target: next.target });
    state.notify(`${preset.name}: ${preset.hint}`, 'info');
  };
  return (
    <span className="select-field presets">
      <label className="field-label" htmlFor="preset-select">
        Preset
      </label>
      <select id="preset-select" value={value} onChange={(e) => choose(e.target.value)} title={ownMatch ? undefined : builtIn?.hint}>
        {!value && <option value="">Custom</option>}
        <optgroup label="Built in (attention only)">
          {PRESETS.map((p) => (
            <option key={p.name} value={p.name} title={p.hint}>
              {p.name}
            </option>
          ))}
        </optgroup>
        {mine.length > 0 && (
          <optgroup label="Yours">
            {mine.map((p) => (
              <option key={p.name} value={MINE + p.name}>
                {p.name}
              </option>
            ))}
          </optgroup>
        )}
      </select>
      <button type="button" onClick={() => setManaging(true)} title="Save the current settings as a preset; rename, delete, export or import yours">
        Save…
      </button>
      <UserPresetsDialog open={managing} onClose={() => setManaging(false)} />
    </span>
  );
}
