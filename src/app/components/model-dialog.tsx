import { useRef, useState } from 'react';
import { formatBytes } from '../../engine/weights/cache-transfer';
import type { HubPlan } from '../engine/model-loader';
import { builtinUrl, checkHub, downloadHub, openModel, refreshCache, removeCached } from '../models/model-controller';
import { BUILTIN_MODELS, parseModelRef, pickedFolder } from '../models/model-source';
import { useApp } from '../state/store';
import { ModalDialog } from './modal-dialog';
import { openTaesd } from '../models/taesd-controller';
import { ModelLoading } from './model-panel';
import { TaesdSection } from './taesd-section';

/** Every way to a model: built in, a file or folder from this computer, the hub, the cache. */
export function ModelDialog() {
  const open = useApp((s) => s.model.dialog);
  const close = () => useApp.setState({ model: { ...useApp.getState().model, dialog: false } });
  return (
    <ModalDialog open={open} onClose={close} title="Model" className="model-dialog">
      {open && <ModelChoices onLoaded={close} />}
    </ModalDialog>
  );
}

function ModelChoices({ onLoaded }: { onLoaded(): void }) {
  const model = useApp((s) => s.model);
  const current = model.details?.ref;
  const load = async (promise: Promise<boolean>) => {
    if (await promise) onLoaded();
  };
  return (
    <div className="model-choices" data-testid="model-dialog">
      {model.needed?.message && (
        <p className="model-needed" role="status">
          {model.needed.message}
        </p>
      )}
      {model.error && (
        <p className="model-error" role="alert" data-testid="model-error">
          {model.error}
        </p>
      )}
      <ModelLoading />

      <h3>Built in</h3>
      <div className="model-row">
        {BUILTIN_MODELS.map((id) => (
          <button key={id} type="button" disabled={current === id} onClick={() => void load(openModel({ kind: 'builtin', id, url: builtinUrl(id) }, id))}>
            {id === 'emoji-64' ? 'Emoji 64 (small, made for this page)' : id}
            {current === id ? ' · loaded' : ''}
          </button>
        ))}
      </div>

      <h3>From this computer</h3>
      <LocalPickers onOpen={(p) => void load(p)} />
      <p className="hint">Or drop a .safetensors file or a diffusers folder anywhere on the page. Files are read here and kept in this browser; nothing is uploaded.</p>

      <h3>From Hugging Face</h3>
      <HubForm onDownload={(plan) => void load(downloadHub(plan))} />

      <h3>Fast decoder (TAESD)</h3>
      <TaesdSection />

      <h3>Cached in this browser</h3>
      <CachedModels onOpen={(key, label) => void load(openModel({ kind: 'cached', key }, label))} />
    </div>
  );
}

function LocalPickers({ onOpen }: { onOpen(p: Promise<boolean>): void }) {
  const fileInput = useRef<HTMLInputElement>(null);
  const vaeInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const [vae, setVae] = useState<File>();
  return (
    <div className="model-row">
      <button type="button" onClick={() => fileInput.current?.click()}>
        Open .safetensors file…
      </button>
      <button type="button" onClick={() => folderInput.current?.click()}>
        Open diffusers folder…
      </button>
      <button type="button" className="quiet" title="A standalone VAE used with the next single file you open" onClick={() => vaeInput.current?.click()}>
        {vae ? `VAE: ${vae.name}` : 'Add a VAE file (optional)…'}
      </button>
      {vae && (
        <button type="button" className="icon-button" aria-label="No VAE file" onClick={() => setVae(undefined)}>
          ×
        </button>
      )}
      <input
        ref={fileInput}
        hidden
        type="file"
        aria-label="Single-file checkpoint"
        accept=".safetensors,.ckpt,.pt,.pth,.bin"
        onChange={(e) => {
          const file = e.target.files?.[0];
          e.target.value = '';
          if (file) onOpen(openModel({ kind: 'file', file, vae }, file.name));
        }}
      />
      <input ref={vaeInput} hidden type="file" aria-label="VAE file" accept=".safetensors,.ckpt,.pt,.pth,.bin" onChange={(e) => setVae(e.target.files?.[0])} />
      <input
        ref={folderInput}
        hidden
        type="file"
        aria-label="Diffusers folder"
        {...({ webkitdirectory: '' } as object)}
        onChange={(e) => {
          const folder = pickedFolder(e.target.files);
          e.target.value = '';
          if (folder) onOpen(openModel(folder, folder.name));
        }}
      />
    </div>
  );
}

function HubForm({ onDownload }: { onDownload(plan: HubPlan): void }) {
  const needed = useApp((s) => s.model.needed);
  const loading = useApp((s) => !!s.model.loading);
  const linked = needed && parseModelRef(needed.ref);
  const [text, setText] = useState(linked?.kind === 'hub' ? `${linked.id}@${linked.revision}` : '');
  const [checking, setChecking] = useState(false);
  const plan = needed?.hubPlan;
  const check = async () => {
    setChecking(true);
    await checkHub(text);
    setChecking(false);
  };
  const left = plan ? plan.totalBytes - plan.cachedBytes : 0;
  return (
    <div className="hub-form">
      <form
        className="model-row"
        onSubmit={(e) => {
          e.preventDefault();
          void check();
        }}
      >
        <input type="text" aria-label="Hugging Face model id" placeholder="owner/name, e.g. stabilityai/sd-turbo (@revision optional)" value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
        <button type="submit" disabled={!text.trim() || checking}>
          {checking ? 'Checking…' : 'Check size'}
        </button>
      </form>
      {plan && (
        <div className="hub-plan" data-testid="hub-plan">
          <p>
            Total <strong data-testid="hub-total">{formatBytes(plan.totalBytes)}</strong>
            {plan.cachedBytes > 0 && ` (${formatBytes(plan.cachedBytes)} already here from an earlier download)`}. Nothing is downloaded until you click Download.
          </p>
          <button type="button" className="primary" disabled={loading} onClick={() => onDownload(plan)}>
            Download {formatBytes(left)} and load
          </button>
          <table>
            <tbody>
              {plan.files.map((f) => (
                <tr key={f.to}>
                  <td>{f.from}</td>
                  <td className="num">{formatBytes(f.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function CachedModels({ onOpen }: { onOpen(key: string, label: string): void }) {
  const cache = useApp((s) => s.model.cache);
  const current = useApp((s) => s.model.details?.key);
  const currentTaesd = useApp((s) => s.model.taesd.state?.details.key);
  if (!cache) {
    void refreshCache();
    return <p className="hint">Reading the cache…</p>;
  }
  return (
    <div data-testid="cached-models">
      {cache.models.length === 0 ? (
        <p className="hint">No models cached yet.</p>
      ) : (
        <ul className="cached-list">
          {cache.models.map((m) => (
            <li key={m.key} data-testid="cached-model">
              <span className="cached-label">
                {m.label}
                {m.role === 'taesd' && ' (TAESD)'}
              </span>
              <span className="cached-size">{m.complete ? formatBytes(m.bytes) : `${formatBytes(m.bytes)} of ${formatBytes(m.totalBytes)} (partial)`}</span>
              {m.complete && m.role !== 'taesd' && (
                <button type="button" disabled={m.key === current} onClick={() => onOpen(m.key, m.label)}>
                  {m.key === current ? 'Loaded' : 'Load'}
                </button>
              )}
              {m.complete && m.role === 'taesd' && (
                <button type="button" disabled={m.key === currentTaesd} onClick={() => void openTaesd({ kind: 'cached', key: m.key }, m.label)}>
                  {m.key === currentTaesd ? 'In use' : 'Use as fast decoder'}
                </button>
              )}
              <button type="button" aria-label={`Remove ${m.label}`} onClick={() => void removeCached(m.key)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {cache.quota !== undefined && (
        <p className="hint" data-testid="storage-usage">
          This site stores {formatBytes(cache.usage ?? 0)} of the {formatBytes(cache.quota)} the browser allows it{cache.persisted === false ? '; the browser may clear it when disk space runs low' : ''}.
        </p>
      )}
    </div>
  );
}
