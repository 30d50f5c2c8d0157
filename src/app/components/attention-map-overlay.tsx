import { useMemo, type MouseEvent } from 'react';
import { roundPoint } from '../../engine';
import { useApp } from '../state/store';
import { siteForClick } from './attention-maps-section';
import { heatmapImage, mapFor } from './heatmap';
import { RgbaCanvas } from './rgba-canvas';

/** The attention map over the image (smoothly upscaled, at the chosen opacity) and the probed point's marker. */
export function AttentionMapOverlay() {
  const map = useApp((s) => s.settings.map);
  const opacity = useApp((s) => s.settings.mapOpacity);
  const shown = useApp((s) => s.shown);
  const shownMap = useMemo(() => mapFor(map, shown?.attentionMaps, shown?.promptTokens), [map, shown]);
  const heat = useMemo(() => shownMap && heatmapImage(shownMap), [shownMap]);
  const current = useApp((s) => !!s.shown && s.shown.key === s.render.wantedKey);
  return (
    <>
      {shownMap && heat && (
        <div className="attention-overlay" style={{ opacity }} data-testid="attention-map" data-map={map.kind === 'token' ? `token:${map.index}` : 'point'} data-current={current}>
          <RgbaCanvas image={heat} label={`Attention map of ${shownMap.what}`} className="result smooth" />
        </div>
      )}
      {map.kind === 'point' && <span className="map-marker" data-testid="map-marker" style={{ left: `${map.x * 100}%`, top: `${map.y * 100}%` }} aria-hidden="true" />}
    </>
  );
}

/** A click on the image: show where that point attends (self-attention of the chosen block). */
export function clickForPointMap(event: MouseEvent<HTMLElement>): void {
  const rect = event.currentTarget.getBoundingClientRect();
  if (!rect.width || !rect.height) return;
  const { settings, update } = useApp.getState();
  const x = roundPoint((event.clientX - rect.left) / rect.width);
  const y = roundPoint((event.clientY - rect.top) / rect.height);
  update({ map: { kind: 'point', x, y, site: siteForClick(settings.map) } });
}
