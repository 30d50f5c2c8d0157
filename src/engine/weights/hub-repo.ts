// A model repository on the Hugging Face hub: its file list (the hub API's tree) and its files'
// URLs (/<id>/resolve/<revision>/<path>). The endpoint is a parameter, so tests serve a local copy.

import { assertNotHtml } from './byte-source';
import type { ListedFile } from './diffusers-files';

export const HUB_ENDPOINT = 'https://huggingface.co';

export interface HubRepo {
  /** "owner/name". */
  id: string;
  revision: string;
  endpoint: string;
}

const ID = /^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/;
const REVISION = /^[\w.-][\w./-]{0,99}$/;

/** "owner/name", "owner/name@rev", or a hub URL (…/owner/name, …/tree/<rev>, …/resolve/<rev>/…). */
export function parseHubId(text: string): { id: string; revision: string } {
  let value = text.trim();
  let revision = 'main';
  const url = /^https?:\/\/(?:www\.)?(?:huggingface\.co|hf\.co)\/(.*)$/i.exec(value);
  if (url) {
    const parts = url[1].split(/[?#]/)[0].split('/').filter(Boolean);
    if (parts[0] === 'models') parts.shift();
    if ((parts[2] === 'tree' || parts[2] === 'resolve' || parts[2] === 'blob') && parts[3]) revision = decodeURIComponent(parts[3]);
    value = parts.slice(0, 2).join('/');
  } else {
    const at = value.lastIndexOf('@');
    if (at > 0) [value, revision] = [value.slice(0, at), value.slice(at + 1)];
  }
  if (!ID.test(value)) throw new Error(`"${text.slice(0, 80)}" is not a Hugging Face model id: expected owner/name, e.g. stabilityai/sd-turbo`);
  if (!REVISION.test(revision) || revision.includes('..')) throw new Error(`"${revision.slice(0, 80)}" is not a revision (a branch, tag or commit)`);
  return { id: value, revision };
}

export function hubFileUrl(repo: HubRepo, path: string): string {
  return `${repo.endpoint.replace(/\/+$/, '')}/${repo.id}/resolve/${encodeURIComponent(repo.revision)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

interface TreeEntry {
  type: 'file' | 'directory';
  path: string;
  size?: number;
  lfs?: { size: number };
}

/** Every file of the repo at its revision, with sizes (the hub API's recursive tree). */
export async function listHubFiles(repo: HubRepo, doFetch: typeof fetch = (i, init) => globalThis.fetch(i, init)): Promise<ListedFile[]> {
  const url = `${repo.endpoint.replace(/\/+$/, '')}/api/models/${repo.id}/tree/${encodeURIComponent(repo.revision)}?recursive=true`;
  let response: Response;
  try {
    response = await doFetch(url);
  } catch (e) {
    throw new Error(`${repo.id}: could not reach the hub (${(e as Error).message})`, { cause: e });
  }
  if (response.status === 401 || response.status === 403) throw new Error(`${repo.id}: the hub refused access (HTTP ${response.status}); the model may be gated or private`);
  if (response.status === 404) throw new Error(`${repo.id}@${repo.revision}: no such model or revision on the hub`);
  if (!response.ok) throw new Error(`${repo.id}: listing its files failed with HTTP ${response.status}`);
  assertNotHtml(response, url, `${repo.id} file list`);
  let entries: TreeEntry[];
  try {
    entries = (await response.json()) as TreeEntry[];
  } catch (e) {
    throw new Error(`${repo.id}: the hub's file list is not JSON (${(e as Error).message})`, { cause: e });
  }
  if (!Array.isArray(entries)) throw new Error(`${repo.id}: the hub's file list is not a list`);
  return entries.filter((e) => e.type === 'file').map((e) => ({ path: e.path, size: e.lfs?.size ?? e.size ?? 0 }));
}
