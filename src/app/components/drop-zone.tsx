import { useEffect, useState } from 'react';
import { openModel } from '../models/model-controller';
import type { ModelSource } from '../models/model-source';
import { applyLink } from '../state/apply-link';
import { linkQueryFromPng } from '../state/saved-image';
import { useApp } from '../state/store';

/**
 * The page's one drop target. A PNG saved by Attention Lab (an image or an XY grid) restores its
 * settings; a .safetensors file (with a VAE file beside it) or a diffusers folder loads as the model.
 */
export function DropZone() {
  const [over, setOver] = useState(false);
  useEffect(() => {
    let depth = 0;
    const hasFiles = (e: DragEvent) => !!e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files');
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setOver(true);
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (!depth) setOver(false);
    };
    const overHandler = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer!.dropEffect = 'copy';
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      setOver(false);
      const files = Array.from(e.dataTransfer!.files);
      if (files.length === 1 && isPng(files[0])) {
        void openSavedPng(files[0]);
        return;
      }
      void droppedSource(e.dataTransfer!).then((dropped) => dropped && openModel(dropped.source, dropped.label));
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragleave', leave);
    window.addEventListener('dragover', overHandler);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('dragover', overHandler);
      window.removeEventListener('drop', drop);
    };
  }, []);
  if (!over) return null;
  return (
    <div className="drop-overlay" aria-hidden="true">
      <p>
        Drop a .safetensors file or a diffusers folder to load it,
        <br />
        or a PNG saved by Attention Lab to restore its settings
      </p>
    </div>
  );
}

function isPng(file: File): boolean {
  return file.type === 'image/png' || /\.png$/i.test(file.name);
}

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

async function droppedSource(data: DataTransfer): Promise<{ source: ModelSource; label: string } | undefined> {
  // Entries must be taken during the drop event, before any await.
  const entries = Array.from(data.items, (item) => item.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  const plainFiles = Array.from(data.files);
  const directory = entries.find((e) => e.isDirectory) as FileSystemDirectoryEntry | undefined;
  if (directory) {
    const files = await readDirectory(directory, directory.name);
    return { source: { kind: 'folder', name: directory.name, files }, label: directory.name };
  }
  if (!plainFiles.length) return undefined;
  // Two files: the larger is the checkpoint, the smaller its VAE.
  const [file, vae] = [...plainFiles].sort((a, b) => b.size - a.size);
  return { source: { kind: 'file', file, vae }, label: file.name };
}
async function readDirectory(dir: FileSystemDirectoryEntry, prefix: string): Promise<{ path: string; file: File }[]> {
  const reader = dir.createReader();
  const out: { path: string; file: File }[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const entry of batch) {
      const path = `${prefix}/${entry.name}`;
      if (entry.isDirectory) out.push(...(await readDirectory(entry as FileSystemDirectoryEntry, path)));
      else out.push({ path, file: await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)) });
    }
  }
  return out;
}
