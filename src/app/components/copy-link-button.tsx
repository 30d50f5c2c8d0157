import { useState } from 'react';
import { serializeSettings } from '../state/settings-schema';
import { useApp } from '../state/store';

/** Copies a link that reproduces the image; where the clipboard is refused, shows it to copy by hand. */
export function CopyLinkButton() {
  const [manual, setManual] = useState<string>();
  const copy = async () => {
    const url = `${location.origin}${location.pathname}${serializeSettings(useApp.getState().settings)}`;
    try {
      await navigator.clipboard.writeText(url);
      setManual(undefined);
      useApp.getState().notify('Link copied. Opening it renders this exact image.', 'info');
    } catch {
      setManual(url);
    }
  };
  return (
    <span className="copy-link">
      <button type="button" onClick={() => void copy()}>
        Copy link
      </button>
      {manual && (
        <span className="manual-link" role="group" aria-label="Link to copy by hand">
          <input readOnly value={manual} aria-label="Link to these settings" ref={(el) => el?.select()} onFocus={(e) => e.target.select()} />
          <span className="hint">The clipboard is not available here: press Ctrl+C (⌘C) to copy.</span>
          <button type="button" className="icon-button" aria-label="Close" onClick={() => setManual(undefined)}>
            ×
          </button>
        </span>
      )}
    </span>
  );
}
