import { describe, expect, it } from 'vitest';
import { formatModelRef, parseModelRef } from '../src/app/models/model-source';
import { parseSettings, serializeSettings, DEFAULT_SETTINGS } from '../src/app/state/settings-schema';
import { hubFileUrl, parseHubId } from '../src/engine/weights/hub-repo';

describe('how a link names a model', () => {
  it('reads back what it writes, for built-in, hub, file and folder models', () => {
    for (const text of ['emoji-64', 'hf:stabilityai/sd-turbo@main', 'hf:runwayml/stable-diffusion-v1-5@39593d5650112b4cc580433f6b0435385882d819', 'file:dreamshaper_8.safetensors@0123456789abcdef', 'folder:sd-turbo@fedcba9876543210']) {
      const ref = parseModelRef(text);
      expect(ref, text).toBeDefined();
      expect(formatModelRef(ref!)).toBe(text);
    }
  });

  it('refuses what it cannot load or ask for', () => {
    for (const text of ['sd15', 'hf:nope', 'hf:a/b', 'hf:a/b@../x', 'file:x.safetensors@123', 'file:a/b.safetensors@0123456789abcdef', 'http://evil/x']) expect(parseModelRef(text), text).toBeUndefined();
  });

  it('the settings carry the model, the image size and a chosen prediction type', () => {
    const parsed = parseSettings('?model=hf:stabilityai/sd-2-1@main&w=768&h=516&pred=v_prediction');
    expect(parsed.settings).toMatchObject({ model: 'hf:stabilityai/sd-2-1@main', width: 768, height: 520, prediction: 'v_prediction' });
    expect(parsed.notices).toEqual(['Rounded Height 516 to 520 (multiples of 8).']);
    expect(serializeSettings(parsed.settings)).toMatch(/^\?model=hf%3Astabilityai%2Fsd-2-1%40main&w=768&h=520&pred=v_prediction&/);
    const bad = parseSettings('?model=sd15&w=99999&pred=x');
    expect(bad.settings.model).toBe(DEFAULT_SETTINGS.model);
    expect(bad.settings.width).toBe(2048);
    expect(bad.notices.join(' ')).toMatch(/unknown model "sd15".*Clamped Width 99999 to 2048.*unknown prediction type "x"/);
  });
});

describe('Hugging Face ids', () => {
  it('accepts ids, ids with a revision, and hub URLs', () => {
    expect(parseHubId('stabilityai/sd-turbo')).toEqual({ id: 'stabilityai/sd-turbo', revision: 'main' });
    expect(parseHubId(' stabilityai/sd-turbo@fp16 ')).toEqual({ id: 'stabilityai/sd-turbo', revision: 'fp16' });
    expect(parseHubId('https://huggingface.co/stabilityai/sd-turbo/tree/b261bac6')).toEqual({ id: 'stabilityai/sd-turbo', revision: 'b261bac6' });
    expect(parseHubId('https://huggingface.co/stabilityai/sd-turbo/resolve/main/unet/config.json')).toEqual({ id: 'stabilityai/sd-turbo', revision: 'main' });
    expect(() => parseHubId('sd-turbo')).toThrow(/not a Hugging Face model id: expected owner\/name/);
  });

  it('reads files through /<id>/resolve/<revision>/<path> on the configured endpoint', () => {
    expect(hubFileUrl({ id: 'a/b', revision: 'main', endpoint: 'http://127.0.0.1:4183/fake-hub/' }, 'unet/config.json')).toBe('http://127.0.0.1:4183/fake-hub/a/b/resolve/main/unet/config.json');
  });
});
