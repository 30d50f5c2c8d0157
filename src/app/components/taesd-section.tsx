import { useRef, useState } from 'react';
import { formatBytes } from '../../engine/weights/cache-transfer';
import { checkTaesdHub, downloadTaesd, openTaesd } from '../models/taesd-controller';
import { pickedFolder } from '../models/model-source';
import { DEFAULT_TAESD_HUB_ID } from '../models/taesd-source';
import { useApp } from '../state/store';

/** The Model dialog's "Fast decoder (TAESD)" part: what is loaded, and the ways to load one — the
 * hub (size first, download on consent), a diffusers AutoencoderTiny folder, or one safetensors file. */
export function TaesdSection() {
  const taesd = useApp((s) => s.model.taesd);
  const busy = useApp((s) => !!s.model.taesd.loading);
  const [text, setText] = useState(DEFAULT_TAESD_HUB_ID);
  const [checking, setChecking] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const plan = taesd.hubPlan;
  const check = async () => {
    setChecking(true);
    await checkTaesdHub(text);
    setChecking(false);
  };
  return (
    <div className="taesd-section" data-testid="taesd-section">
      <p className="hint">
        TAESD, a tiny decoder (madebyollin/taesd, about 10 MB), shows every slow step as a picture and can decode the final image in a fraction of the VAE's time, a little softer. {DEFAULT_TAESD_HUB_ID} fits SD 1.x and 2.x.
      </p>
      <p data-testid="taesd-status" role="status">
        {taesd.loading ? `Loading ${taesd.loading}…` : taesd.state ? `Loaded: ${taesd.state.details.label}${taesd.state.attached ? '' : ` (not used with this model: ${taesd.state.message ?? 'its latents differ'})`}` : 'None loaded: previews use a quick colour projection.'}
      </p>
      {taesd.needed && (
        <p className="model-needed" role="status">
          {taesd.needed}
        </p>
      )}
      {taesd.error && (
        <p className="model-error" role="alert" data-testid="taesd-error">
          {taesd.error}
        </p>
      )}
      <form
        className="model-row"
        onSubmit={(e) => {
          e.preventDefault();
          void check();
        }}
      >
        <input type="text" aria-label="TAESD hub id" value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
        <button type="submit" disabled={!text.trim() || checking}>
          {checking ? 'Checking…' : 'Check TAESD size'}
        </button>
      </form>
      {plan && (
        <div className="hub-plan" data-testid="taesd-plan">
          <p>
            Total <strong>{formatBytes(plan.totalBytes)}</strong>
            {plan.cachedBytes > 0 && ` (${formatBytes(plan.cachedBytes)} already here)`}: {plan.files.map((f) => f.from).join(', ')}. Nothing is downloaded until you click Download.
          </p>
          <button type="button" className="primary" disabled={busy} onClick={() => void downloadTaesd(plan)}>
            Download {formatBytes(plan.totalBytes - plan.cachedBytes)} and use as fast decoder
          </button>
        </div>
      )}
      <div className="model-row">
        <button type="button" onClick={() => fileInput.current?.click()}>
          Open TAESD file…
        </button>
        <button type="button" onClick={() => folderInput.current?.click()}>
          Open TAESD folder…
        </button>
      </div>
      <input
        ref={fileInput}
        hidden
        type="file"
        aria-label="TAESD file"
        accept=".safetensors,.pth,.pt,.bin"
        onChange={(e) => {
          const file = e.target.files?.[0];
          e.target.value = '';
          if (file) void openTaesd({ kind: 'file', file }, file.name);
        }}
      />
      <input
        ref={folderInput}
        hidden
        type="file"
        aria-label="TAESD folder"
        {...({ webkitdirectory: '' } as object)}
        onChange={(e) => {
          const folder = pickedFolder(e.target.files);
          e.target.value = '';
          if (folder) void openTaesd(folder, folder.name);
        }}
      />
    </div>
  );
}
