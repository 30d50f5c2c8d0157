import { useState } from 'react';
import { DEFAULT_MAP_SITE, MAP_OPACITY, selfAttentionSiteOf, type AttentionSite, type MapView } from '../../engine';
import { serializeSettings } from '../state/settings-schema';
import { useApp } from '../state/store';
import { mapFor, overlayCanvas } from './heatmap';
import { downloadBlob, imageFileName, pngWithText } from './image-file';
import { savedImageTexts } from '../state/saved-image';

/** The self-attention block picked in the menu, for the next click on the image while no point is shown. */
let pickedSite = DEFAULT_MAP_SITE;

/** The block a click on the image maps: the point's shown now, else the one picked last. */
export function siteForClick(map: MapView): string {
  return map.kind === 'point' ? map.site : pickedSite;
}

/** A token as people read it: CLIP's word-end marker dropped, its start and end markers named. */
export function tokenLabel(token: string): string {
  if (token === '<|startoftext|>') return '⟨start⟩';
  if (token === '<|endoftext|>') return '⟨end⟩';
  return token.replace(/<\/w>$/, '') || token;
}

/** The self-attention blocks a person can pick: the middle one by its short name, then every attn1. */
function siteChoices(sites: readonly AttentionSite[]): { value: string; label: string }[] {
  const choices = sites.filter((s) => s.kind === 'attn1').map((s) => ({ value: s.path, label: `${s.path.replace(/\.transformer_blocks\.0\.attn1$/, '').replace(/\.attn1$/, '')} · ${s.resolution}` }));
  const middle = selfAttentionSiteOf(sites, DEFAULT_MAP_SITE);
  if (middle) choices.unshift({ value: DEFAULT_MAP_SITE, label: `Middle block · ${middle.resolution}` });
  return choices;
}

/**
 * Where attention looks: a prompt token's cross-attention map over the image (DAAM), or, after a
 * click on the image, where that point attends in one self-attention block.
 */
export function AttentionMapsSection() {
  const settings = useApp((s) => s.settings);
  const shown = useApp((s) => s.shown);
  // The info object itself: a selector that builds a new array each time re-renders without end.
  const info = useApp((s) => s.engine.info);
  const sites = info?.sites ?? [];
  const update = useApp((s) => s.update);
  const { map, mapOpacity, mapStep } = settings;
  const [site, setSite] = useState(siteForClick(map));
  const tokens = shown?.promptTokens;
  const choices = siteChoices(sites);
  const chosenSite = map.kind === 'point' ? map.site : site;
  const shownMap = mapFor(map, shown?.attentionMaps, tokens);

  const chooseSite = (value: string) => {
    setSite(value);
    pickedSite = value;
    if (map.kind === 'point') update({ map: { ...map, site: value } });
  };
  const exportPng = async () => {
    if (!shown || !shownMap) return;
    const canvas = overlayCanvas(shown.image, shownMap, mapOpacity, map.kind === 'point' ? map : undefined);
    const link = `${location.origin}${location.pathname}${serializeSettings(settings)}`;
    try {
      const blob = await pngWithText(canvas, savedImageTexts(link, `Attention map of ${shownMap.what}`));
      downloadBlob(blob, imageFileName(settings.seed, settings.prompt, `-map-${map.kind === 'token' ? `token${map.index}` : 'point'}`));
    } catch (e) {
      useApp.getState().notify(`Could not save the map: ${(e as Error).message}`, 'warning');
    }
  };

  return (
    <section className="panel maps-panel" aria-labelledby="maps-heading">
      <h2 id="maps-heading">Attention maps</h2>
      <p className="hint">
        Choose a token to see where it acts on the picture (cross-attention of every block, averaged over heads and steps, as DAAM does). Click the image to see
        where that point looks (self-attention of one block).
      </p>
      <div className="token-list" role="group" aria-label="Prompt tokens">
        {tokens?.length ? (
          tokens.map((token, index) => (
            <button
              key={index}
              type="button"
              className="token"
              aria-pressed={map.kind === 'token' && map.index === index}
              title={`Token ${index}: ${token}`}
              onClick={() => update({ map: { kind: 'token', index } })}
            >
              {tokenLabel(token)}
            </button>
          ))
        ) : (
          <span className="muted">The prompt’s tokens appear with the first image.</span>
        )}
      </div>
      <div className="map-options">
        <label>
          Self-attention block{' '}
          <select value={chosenSite} onChange={(e) => chooseSite(e.target.value)} aria-label="Self-attention block">
            {choices.some((c) => c.value === chosenSite) ? null : <option value={chosenSite}>{chosenSite}</option>}
            {choices.map((c) => (
              <option key={c.value} value={c.value}>
                {c.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Steps{' '}
          <select value={mapStep} onChange={(e) => update({ mapStep: Number(e.target.value) })} aria-label="Self-attention map steps">
            <option value={0}>All steps (average)</option>
            {Array.from({ length: Math.max(settings.steps, mapStep) }, (_, i) => (
              <option key={i + 1} value={i + 1}>
                Step {i + 1} only
              </option>
            ))}
          </select>
        </label>
        <label>
          {MAP_OPACITY.label}{' '}
          <input
            type="range"
            aria-label="Map opacity"
            min={MAP_OPACITY.min}
            max={MAP_OPACITY.max}
            step={MAP_OPACITY.step}
            value={mapOpacity}
            onChange={(e) => update({ mapOpacity: MAP_OPACITY.clamp(Number(e.target.value)) }, 'drag')}
            onPointerUp={() => useApp.getState().endDrag()}
          />
        </label>
      </div>
      <p className="map-status" data-testid="map-status">
        {describe(map, shownMap?.what)}
      </p>
      <div className="map-actions">
        <button type="button" disabled={map.kind === 'none'} onClick={() => update({ map: { kind: 'none' } })}>
          Hide map
        </button>
        <button type="button" disabled={!shownMap} onClick={() => void exportPng()} title="The image with the map over it, at the image's size">
          Download map PNG
        </button>
      </div>
    </section>
  );
}

function describe(map: MapView, what: string | undefined): string {
  if (map.kind === 'none') return 'No map shown.';
  if (!what) return 'Rendering the map…';
  return map.kind === 'token' ? `Cross-attention of ${what}.` : `Where ${what} attends.`;
}
