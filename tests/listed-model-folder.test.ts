// A model folder that lists its files (model_index.json attention_lab.files) is asked about
// optional files without a request (src/engine/weights/model-folder.ts listedModelFolder).
import { describe, expect, it } from 'vitest';
import { listedModelFolder, urlModelFolder } from '../src/engine/weights/model-folder';

describe('listedModelFolder', () => {
  it('answers has() from the list, and fetches only files that are read', async () => {
    const requests: string[] = [];
    const fetchSpy = (async (input: RequestInfo | URL, init?: RequestInit) => {
      requests.push(`${init?.method ?? 'GET'} ${String(input)}`);
      return new Response('{"a":1}', { headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    const folder = listedModelFolder(urlModelFolder('https://example.test/m/', { fetch: fetchSpy }), ['tokenizer/tokenizer.json', '/tokenizer/tokenizer_config.json']);
    expect(await folder.has('tokenizer/tokenizer_config.json')).toBe(true);
    expect(await folder.has('tokenizer/special_tokens_map.json')).toBe(false);
    expect(requests).toEqual([]);
    expect(await folder.readJson('tokenizer/tokenizer.json')).toEqual({ a: 1 });
    expect(requests).toEqual(['GET https://example.test/m/tokenizer/tokenizer.json']);
  });
});
