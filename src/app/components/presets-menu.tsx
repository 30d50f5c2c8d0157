import { PRESETS, applyPreset, matchingPreset } from '../state/presets';
import { useApp } from '../state/store';

/** Named multiplier settings; picking one keeps the prompt and seed. */
export function PresetsMenu() {
  const settings = useApp((s) => s.settings);
  const current = matchingPreset(settings);
  const choose = (name: string) => {
    const preset = PRESETS.find((p) => p.name === name);
    if (!preset) return;
    const next = applyPreset(useApp.getState().settings, preset);
    useApp.getState().update({ self: next.self, cross: next.cross, target: next.target });
    useApp.getState().notify(`${preset.name}: ${preset.hint}`, 'info');
  };
  return (
    <span className="select-field presets">
      <label className="field-label" htmlFor="preset-select">
        Preset
      </label>
      <select id="preset-select" value={current?.name ?? ''} onChange={(e) => choose(e.target.value)} title={current?.hint}>
        {!current && <option value="">Custom</option>}
        {PRESETS.map((p) => (
          <option key={p.name} value={p.name} title={p.hint}>
            {p.name}
          </option>
        ))}
      </select>
    </span>
  );
}
