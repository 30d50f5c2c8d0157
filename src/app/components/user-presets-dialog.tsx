import { useRef, useState } from 'react';
import { useApp } from '../state/store';
import { cleanName, exportJson, parseImport, presetQuery, renamed, saveUserPresets, useUserPresets, withPreset } from '../state/user-presets';
import { downloadBlob } from './image-file';
import { ModalDialog } from './modal-dialog';

/** Save the current settings under a name; rename, delete, export and import one's presets. */
export function UserPresetsDialog({ open, onClose }: { open: boolean; onClose(): void }) {
  const presets = useUserPresets((s) => s.presets);
  const [name, setName] = useState('');
  const [editing, setEditing] = useState<{ from: string; to: string }>();
  const file = useRef<HTMLInputElement>(null);
  const clean = cleanName(name);
  const exists = presets.some((p) => p.name === clean);

  const save = () => {
    if (!clean) return;
    saveUserPresets(withPreset(presets, { name: clean, query: presetQuery(useApp.getState().settings) }));
    useApp.getState().notify(`Saved the current settings as “${clean}”.`, 'info');
    setName('');
  };
  const importFile = async (picked: File) => {
    try {
      const imported = parseImport(await picked.text(), picked.name);
      saveUserPresets(imported.reduce(withPreset, presets));
      useApp.getState().notify(`Imported ${imported.length} preset${imported.length === 1 ? '' : 's'} from ${picked.name}.`, 'info');
    } catch (e) {
      useApp.getState().notify((e as Error).message, 'warning');
    }
  };

  return (
    <ModalDialog open={open} onClose={onClose} title="Your presets" className="user-presets">
      <p className="hint">A preset keeps the prompt, seed, steps, sampler, CFG and attention multipliers. It is stored in this browser.</p>
      <form
        className="preset-save"
        onSubmit={(e) => {
          e.preventDefault();
          save();
        }}
      >
        <label className="field-label" htmlFor="preset-name">
          Name
        </label>
        <input id="preset-name" value={name} maxLength={60} placeholder="e.g. crisp whale" onChange={(e) => setName(e.target.value)} />
        <button type="submit" disabled={!clean}>
          {exists ? 'Replace' : 'Save current settings'}
        </button>
      </form>
      {presets.length === 0 ? (
        <p className="muted">No presets yet.</p>
      ) : (
        <ul className="preset-list" aria-label="Your presets">
          {presets.map((p) => (
            <li key={p.name}>
              {editing?.from === p.name ? (
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    saveUserPresets(renamed(presets, p.name, editing.to));
                    setEditing(undefined);
                  }}
                >
                  <input aria-label={`New name for ${p.name}`} value={editing.to} maxLength={60} autoFocus onChange={(e) => setEditing({ from: p.name, to: e.target.value })} />
                  <button type="submit">OK</button>
                  <button type="button" onClick={() => setEditing(undefined)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <>
                  <span className="preset-name">{p.name}</span>
                  <button type="button" className="small-button" onClick={() => setEditing({ from: p.name, to: p.name })}>
                    Rename
                  </button>
                  <button type="button" className="small-button" aria-label={`Delete ${p.name}`} onClick={() => saveUserPresets(presets.filter((q) => q.name !== p.name))}>
                    Delete
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      <div className="dialog-actions">
        <button type="button" disabled={presets.length === 0} onClick={() => downloadBlob(new Blob([exportJson(presets)], { type: 'application/json' }), 'attention-lab-presets.json')}>
          Export JSON
        </button>
        <button type="button" onClick={() => file.current?.click()}>
          Import JSON…
        </button>
        <input
          ref={file}
          type="file"
          accept="application/json,.json"
          hidden
          onChange={(e) => {
            const picked = e.target.files?.[0];
            e.target.value = '';
            if (picked) void importFile(picked);
          }}
        />
      </div>
    </ModalDialog>
  );
}
