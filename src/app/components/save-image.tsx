import { useState } from 'react';
import { parametersText, savedImageTexts } from '../state/saved-image';
import { serializeSettings } from '../state/settings-schema';
import { useApp } from '../state/store';
import { downloadBlob, imageFileName, pngWithText, scaledCanvas } from './image-file';

/** Sizes offered for a model's image: its own, and for small models a larger copy that keeps the
 * pixels square (nearest-neighbour) so it can be looked at and posted. */
export function saveScales(width: number): number[] {
  const scales = [1];
  for (const s of [2, 4, 8]) if (width * s <= 512) scales.push(s);
  return scales;
}

/** Download the image shown as a PNG that carries its settings and link. */
export function SaveImage() {
  const shown = useApp((s) => s.shown);
  const current = useApp((s) => !!s.shown && s.shown.key === s.render.wantedKey && !s.render.busy);
  const [scale, setScale] = useState(0);
  if (!shown) return null;
  const { width, height } = shown.image;
  const scales = saveScales(width);
  // Small models default to the largest copy; the choice stays once made.
  const chosen = scales.includes(scale) ? scale : scales[scales.length - 1];
  const save = async () => {
    const { settings, engine } = useApp.getState();
    const link = `${location.origin}${location.pathname}${serializeSettings(settings)}`;
    const texts = savedImageTexts(link, parametersText(settings, { width, height }, engine.info?.name ?? settings.model));
    try {
      const blob = await pngWithText(scaledCanvas(shown.image, chosen), texts);
      downloadBlob(blob, imageFileName(settings.seed, settings.prompt, chosen > 1 ? `-x${chosen}` : ''));
    } catch (e) {
      useApp.getState().notify(`Could not save the image: ${(e as Error).message}`, 'warning');
    }
  };
  return (
    <span className="save-image">
      {scales.length > 1 && (
        <select aria-label="Saved image size" value={chosen} onChange={(e) => setScale(Number(e.target.value))}>
          {scales.map((s) => (
            <option key={s} value={s}>
              {width * s}×{height * s}
              {s > 1 ? ` (×${s})` : ''}
            </option>
          ))}
        </select>
      )}
      <button
        type="button"
        disabled={!current}
        onClick={() => void save()}
        title={current ? 'A PNG with its settings inside: drop it on this page to get them back' : 'Wait until the image shows the current settings'}
      >
        Download PNG
      </button>
    </span>
  );
}
