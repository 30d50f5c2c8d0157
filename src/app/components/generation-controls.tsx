import { useEffect, useRef, useState } from 'react';
import { BACKEND_NAMES, SAMPLER_NAMES, type BackendName, type SamplerName } from '../../engine';
import { LIMITS } from '../state/settings-schema';
import { useApp } from '../state/store';
import { NumberField } from './number-field';
import { SizeFields } from './size-fields';

const SAMPLER_LABELS: Record<SamplerName, string> = {
  dpmpp2m: 'DPM++ 2M',
  euler: 'Euler',
  euler_a: 'Euler ancestral',
  ddim: 'DDIM',
};

/** Typing pauses this long before the prompt is rendered, so a word is not rendered letter by letter. */
const TYPING_PAUSE_MS = 300;

/** Prompt, negative prompt, seed, steps, sampler and CFG. */
export function GenerationControls() {
  const settings = useApp((s) => s.settings);
  const update = useApp((s) => s.update);
  // Until the model's defaults are known, the settings they fill in show a placeholder, not
  // values the model would replace a moment later.
  const pending = usePendingDefaults();
  return (
    <section className="panel generation" aria-labelledby="generation-heading">
      <h2 id="generation-heading">Image</h2>
      <TextSetting field="prompt" label="Prompt" placeholder="describe an emoji, e.g. noto red apple" rows={2} />
      <TextSetting field="negative" label="Negative" placeholder="what to steer away from (optional)" rows={1} />
      {settings.cfg === 1 && settings.negative !== '' && <p className="hint">CFG 1 renders the prompt alone, so the negative prompt has no effect; raise CFG to use it.</p>}
      <div className="field-grid">
        <div className="seed-field">
          <NumberField label="Seed" name="Seed" value={settings.seed} min={LIMITS.seed.min} max={LIMITS.seed.max} step={1} integer onCommit={(seed, change) => update({ seed }, change)} />
          <button type="button" className="icon-button" aria-label="Randomize" title="Random seed" onClick={() => update({ seed: randomSeed() })}>
            Random
          </button>
        </div>
        {pending('steps') ? <PendingField label="Steps" /> : <NumberField label="Steps" name="Steps" value={settings.steps} min={LIMITS.steps.min} max={LIMITS.steps.max} step={1} integer onCommit={(steps, change) => update({ steps }, change)} />}
        <span className="select-field">
          <label className="field-label" htmlFor="sampler-select">
            Sampler
          </label>
          <select id="sampler-select" value={pending('sampler') ? '' : settings.sampler} disabled={pending('sampler')} onChange={(e) => update({ sampler: e.target.value as SamplerName })}>
            {pending('sampler') && <option value="">…</option>}
            {SAMPLER_NAMES.map((name) => (
              <option key={name} value={name}>
                {SAMPLER_LABELS[name]}
              </option>
            ))}
          </select>
        </span>
        {pending('cfg') ? <PendingField label="CFG" /> : <NumberField label="CFG" name="CFG" value={settings.cfg} min={LIMITS.cfg.min} max={LIMITS.cfg.max} step={0.5} onCommit={(cfg, change) => update({ cfg }, change)} />}
        <SizeFields />
        <span className="select-field backend-field">
          <label className="field-label" htmlFor="backend-select">
            Backend
          </label>
          <select
            id="backend-select"
            value={settings.backend}
            title="What runs the model. Both make the same image; switching loads the model again."
            onChange={(e) => update({ backend: e.target.value as BackendName })}
          >
            {BACKEND_NAMES.map((name) => (
              <option key={name} value={name}>
                {BACKEND_LABELS[name]}
              </option>
            ))}
          </select>
        </span>
      </div>
    </section>
  );
}

/** Whether a setting still waits for the model's default (loading, and not given by the link). */
function usePendingDefaults(): (key: 'prompt' | 'negative' | 'steps' | 'sampler' | 'cfg') => boolean {
  const waiting = useApp((s) => !s.engine.info && (s.engine.phase === 'starting' || s.engine.phase === 'loading'));
  const given = useApp((s) => s.given);
  return (key) => waiting && !given.has(key);
}

function PendingField({ label }: { label: string }) {
  return (
    <span className="number-field">
      <label className="field-label">
        {label}
        <input type="text" disabled placeholder="…" aria-label={`${label}: the model's default, loading`} />
      </label>
    </span>
  );
}

const BACKEND_LABELS: Record<BackendName, string> = {
  webgpu: 'Our WGSL engine (WebGPU)',
  onnxruntime: 'ONNX Runtime Web (WebGPU)',
};

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** A text setting that is applied when typing pauses, or at once on Enter or leaving the field. */
function TextSetting({ field, label, placeholder, rows }: { field: 'prompt' | 'negative'; label: string; placeholder: string; rows: number }) {
  const value = useApp((s) => s.settings[field]);
  const update = useApp((s) => s.update);
  const pending = usePendingDefaults()(field);
  const [draft, setDraft] = useState(value);
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const id = `${field}-input`;
  useEffect(() => setDraft(value), [value]);
  useEffect(() => () => clearTimeout(timer.current), []);

  const apply = (text: string, change: 'drag' | 'discrete') => {
    clearTimeout(timer.current);
    const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, LIMITS.promptLength);
    if (clean !== useApp.getState().settings[field]) update({ [field]: clean }, change);
  };

  return (
    <div className="text-setting">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      <textarea
        id={id}
        rows={rows}
        maxLength={LIMITS.promptLength}
        placeholder={pending ? 'the model’s default, loading…' : placeholder}
        disabled={pending}
        spellCheck={false}
        value={draft}
        onChange={(e) => {
          const text = e.target.value;
          setDraft(text);
          clearTimeout(timer.current);
          timer.current = setTimeout(() => apply(text, 'drag'), TYPING_PAUSE_MS);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey) {
            e.preventDefault();
            apply(draft, 'discrete');
          }
        }}
        onBlur={() => {
          apply(draft, 'discrete');
          useApp.getState().endDrag();
        }}
      />
    </div>
  );
}
