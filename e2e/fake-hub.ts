// A local stand-in for the Hugging Face hub, answering as its file URLs and tree API do
// (GET <endpoint>/api/models/<id>/tree/<rev>?recursive=true, GET <endpoint>/<id>/resolve/<rev>/<path>
// with Range support and an ETag), so e2e tests load hub models through the page's own code.
import type { BrowserContext, Route } from '@playwright/test';

export type HubFiles = Record<string, Uint8Array | string>;

export interface FakeHub {
  /** Every request for a file: path and Range header. */
  requests: { path: string; range?: string }[];
  /** Answer the next request for `path` with only its first `bytes` bytes (a cut connection). */
  cutNext(path: string, bytes: number): void;
  /** Serve `path` of repo `id` as an HTML page (what a misconfigured server or a login wall returns). */
  serveHtml(id: string, path: string): void;
}

export const FAKE_HUB_PATH = '/fake-hub';

/** Points the page at the fake hub (window.attentionLabHubEndpoint) and serves `repos` there. */
export async function fakeHub(context: BrowserContext, repos: Record<string, HubFiles>): Promise<FakeHub> {
  const requests: FakeHub['requests'] = [];
  const cuts = new Map<string, number>();
  const html = new Set<string>();
  await context.addInitScript((path) => ((window as unknown as { attentionLabHubEndpoint: string }).attentionLabHubEndpoint = location.origin + path), FAKE_HUB_PATH);
  await context.route(`**${FAKE_HUB_PATH}/**`, async (route: Route) => {
    const url = new URL(route.request().url());
    const rest = url.pathname.slice(url.pathname.indexOf(FAKE_HUB_PATH) + FAKE_HUB_PATH.length + 1);
    const tree = /^api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(rest);
    if (tree) {
      const files = repos[tree[1]];
      if (!files) return route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"Repository not found"}' });
      return route.fulfill({ contentType: 'application/json', body: JSON.stringify(Object.entries(files).map(([path, data]) => ({ type: 'file', path, size: bytesOf(data).byteLength }))) });
    }
    const file = /^([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(rest);
    const data = file ? repos[file[1]]?.[decodeURIComponent(file[3])] : undefined;
    if (!file || data === undefined) return route.fulfill({ status: 404, body: 'Entry not found' });
    const path = decodeURIComponent(file[3]);
    const range = route.request().headers()['range'];
    requests.push({ path, range });
    if (html.has(`${file[1]}/${path}`)) return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Sign in</title>' });
    const bytes = bytesOf(data);
    const start = range ? Number(/bytes=(\d+)-/.exec(range)?.[1] ?? 0) : 0;
    const cut = cuts.get(path);
    cuts.delete(path);
    const body = Buffer.from(bytes.subarray(start, cut === undefined ? undefined : Math.min(bytes.byteLength, cut)));
    const headers: Record<string, string> = { etag: `"${path.length}-${bytes.byteLength}"`, 'accept-ranges': 'bytes' };
    if (start > 0) headers['content-range'] = `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}`;
    return route.fulfill({ status: start > 0 ? 206 : 200, contentType: path.endsWith('.json') ? 'application/json' : 'application/octet-stream', headers, body });
  });
  return {
    requests,
    cutNext: (path, bytes) => void cuts.set(path, bytes),
    serveHtml: (id, path) => void html.add(`${id}/${path}`),
  };
}

function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}
