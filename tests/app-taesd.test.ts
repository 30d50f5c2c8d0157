// The fast decoder's app side without a GPU: which files of a hub repo or picked folder make a TAESD,
// and dec= in the link.
import { describe, expect, it } from 'vitest';
import { planTaesdFiles } from '../src/app/engine/taesd-loader';
import { DEFAULT_SETTINGS, parseSettings, serializeSettings, toGenerateRequest } from '../src/app/state/settings-schema';

describe('TAESD files', () => {
  it('takes config.json and the safetensors weights of madebyollin/taesd, not its pickles or README', () => {
    const listed = ['README.md', 'config.json', 'diffusion_pytorch_model.bin', 'diffusion_pytorch_model.safetensors', 'taesd_decoder.pth', 'taesd_encoder.pth'].map((path) => ({ path, size: 10 }));
    expect(planTaesdFiles(listed, 'madebyollin/taesd').map((f) => [f.from, f.to])).toEqual([
      ['config.json', 'config.json'],
      ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.safetensors'],
    ]);
  });

  it('finds the AutoencoderTiny in a picked folder, prefers fp16 weights, and takes a lone decoder file', () => {
    const folder = ['taesd/config.json', 'taesd/diffusion_pytorch_model.safetensors', 'taesd/diffusion_pytorch_model.fp16.safetensors'].map((path) => ({ path, size: 1 }));
    expect(planTaesdFiles(folder, 'taesd').map((f) => f.from)).toEqual(['taesd/config.json', 'taesd/diffusion_pytorch_model.fp16.safetensors']);
    expect(planTaesdFiles([{ path: 'taesd_encoder.safetensors', size: 1 }, { path: 'taesd_decoder.safetensors', size: 1 }], 'x').map((f) => f.to)).toEqual(['taesd_decoder.safetensors']);
  });

  it('says what is missing, and refuses pickle-only repos', () => {
    expect(() => planTaesdFiles([{ path: 'taesd_decoder.pth', size: 1 }], 'some/taesd')).toThrow(/some\/taesd: only pickle weights \(taesd_decoder.pth\)/);
    expect(() => planTaesdFiles([{ path: 'README.md', size: 1 }], 'some/taesd')).toThrow(/some\/taesd: no TAESD here/);
  });
});

describe('dec= in the link', () => {
  it('is written only when TAESD is chosen, read back, and repaired with a notice when unknown', () => {
    expect(serializeSettings(DEFAULT_SETTINGS)).not.toContain('dec=');
    expect(toGenerateRequest(DEFAULT_SETTINGS)).not.toHaveProperty('decoder');
    const link = serializeSettings({ ...DEFAULT_SETTINGS, decoder: 'taesd' });
    expect(link).toContain('&dec=taesd&');
    const parsed = parseSettings(link);
    expect(parsed.settings.decoder).toBe('taesd');
    expect(toGenerateRequest(parsed.settings).decoder).toBe('taesd');
    const bad = parseSettings('?dec=fast');
    expect(bad.settings.decoder).toBe('vae');
    expect(bad.notices).toEqual(['Ignored unknown decoder "fast": expected vae or taesd.']);
  });
});
