// Saved images carry their settings (src/app/state/saved-image.ts).
import { describe, expect, it } from 'vitest';
import { withPngText } from '../src/app/state/png-metadata';
import { linkQueryFromPng, parametersText, savedImageTexts } from '../src/app/state/saved-image';
import { DEFAULT_SETTINGS, parseSettings, serializeSettings } from '../src/app/state/settings-schema';

const PNG = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg=='), (c) => c.charCodeAt(0));

describe('saved images', () => {
  const settings = { ...DEFAULT_SETTINGS, prompt: 'noto red apple', negative: 'blurry', seed: 7, steps: 1, sampler: 'dpmpp2m' as const, cfg: 2, self: { q: 1.5, k: 1, v: 1, out: 1 } };

  it('write the parameters as A1111 does', () => {
    expect(parametersText(settings, { width: 64, height: 64 }, 'Emoji 64')).toBe(
      'noto red apple\nNegative prompt: blurry\nSteps: 1, Sampler: DPM++ 2M, CFG scale: 2, Seed: 7, Size: 64x64, Model: Emoji 64, ' +
        'Attention self q,k,v,out: "1.5,1,1,1", Attention cross q,k,v,out: "1,1,1,1", Attention target: all',
    );
  });

  it('give back the settings of their link', () => {
    const link = `https://lab.example/app/${serializeSettings(settings)}&xy=seed:1,2;none`;
    const png = withPngText(PNG, savedImageTexts(link, parametersText(settings, { width: 64, height: 64 }, 'Emoji 64')));
    const query = linkQueryFromPng(png, 'image.png');
    expect(parseSettings(query).settings).toEqual(settings);
    expect(new URLSearchParams(query).get('xy')).toBe('seed:1,2;none');
  });

  it('say what is wrong with a file that is not one', () => {
    expect(() => linkQueryFromPng(PNG, 'plain.png')).toThrow('plain.png carries no Attention Lab settings');
    expect(() => linkQueryFromPng(new Uint8Array([1, 2, 3]), 'photo.jpg')).toThrow(/photo.jpg: not a PNG file/);
    expect(() => linkQueryFromPng(withPngText(PNG, { parameters: 'a cat\nSteps: 20' }), 'a1111.png')).toThrow(/from another tool/);
  });
});
