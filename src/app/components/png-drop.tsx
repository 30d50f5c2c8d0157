import { useEffect, useState } from 'react';
import { applyLink } from '../state/apply-link';
import { linkQueryFromPng } from '../state/saved-image';
import { useApp } from '../state/store';

/** Reads the settings out of a PNG saved by Attention Lab (an image or an XY grid) and applies them. */
export async function openSavedPng(file: File): Promise<void> {
  try {
    const query = linkQueryFromPng(new Uint8Array(await file.arrayBuffer()), file.name);
    applyLink(query);
    useApp.getState().notify(`Settings restored from ${file.name}.`, 'info');
  } catch (e) {
    useApp.getState().notify((e as Error).message, 'warning');
  }
}

/** Dropping a saved PNG anywhere on the page restores its settings; a hint shows while dragging. */
export function PngDrop() {
  const [over, setOver] = useState(false);
  useEffect(() => {
    const hasFiles = (e: DragEvent) => !!e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files');
    const onOver = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer!.dropEffect = 'copy';
      setOver(true);
    };
    const onLeave = (e: DragEvent) => {
      if (!e.relatedTarget) setOver(false);
    };
    const onDrop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      setOver(false);
      const file = e.dataTransfer!.files[0];
      if (file) void openSavedPng(file);
    };
    window.addEventListener('dragover', onOver);
    window.addEventListener('dragleave', onLeave);
    window.addEventListener('drop', onDrop);
    return () => {
      window.removeEventListener('dragover', onOver);
      window.removeEventListener('dragleave', onLeave);
      window.removeEventListener('drop', onDrop);
    };
  }, []);
  if (!over) return null;
  return (
    <div className="drop-hint" aria-hidden="true">
      Drop a PNG saved by Attention Lab to restore its settings
    </div>
  );
}
