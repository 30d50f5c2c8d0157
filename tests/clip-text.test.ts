import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClipTextEncoder, parseClipTextConfig } from '../src/engine/nn/clip-text';
import { nodeFileSource, nodeModelFolder } from '../src/engine/weights/node-byte-source';
import { readAllF32 } from '../src/engine/weights/safetensors';
import { relError, testGpu } from './support/gpu';

// CI clones the repository with shared/ beside it.
const FIXTURES = process.env.FIXTURES_DIR ?? join(fileURLToPath(new URL('..', import.meta.url)), '../shared/fixtures');
const CLIP = join(FIXTURES, 'clip-text-tiny');

describe('CLIP text encoder (transformers CLIPTextModel)', () => {
  it('matches transformers on the clip-text-tiny golden: last hidden state and clip skip', async () => {
    const gpu = await testGpu();
    const encoder = await ClipTextEncoder.load(gpu, nodeModelFolder(CLIP), '');
    expect([encoder.maxLength, encoder.hiddenSize]).toEqual([77, 32]);
    const io = await readAllF32(await nodeFileSource(join(CLIP, 'io.safetensors')));
    const inputIds = io.get('input_ids')!;
    const [batch, length] = inputIds.shape;
    const ids = Int32Array.from(inputIds.data, Math.round);

    for (const [name, clipSkip] of [
      ['last_hidden_state', false],
      ['penultimate_after_final_layer_norm', true],
    ] as const) {
      const expected = io.get(name)!;
      const out = await encoder.encode(ids, batch, { clipSkip });
      expect(out.shape).toEqual([batch, length, 32]);
      const error = relError(await encoder.readF32(out), expected.data);
      console.log(`clip-text-tiny ${name}: rel error ${error.toExponential(2)}`);
      expect(error).toBeLessThanOrEqual(1e-3);
    }

    // A second call replays the recorded plan with new ids: the first prompt alone, as a batch of one.
    const single = await encoder.encode(ids.subarray(0, length), 1);
    const expected = io.get('last_hidden_state')!.data.subarray(0, length * 32);
    expect(relError(await encoder.readF32(single), expected)).toBeLessThanOrEqual(1e-3);
    encoder.destroy();
  });

  it('refuses ids outside the vocabulary and prompts longer than the positions', async () => {
    const gpu = await testGpu();
    const encoder = await ClipTextEncoder.load(gpu, nodeModelFolder(CLIP), '');
    await expect(encoder.encode(Int32Array.from([1, 2, 1000]), 1)).rejects.toThrow(/outside the vocabulary of 1000/);
    await expect(encoder.encode(new Int32Array(78), 1)).rejects.toThrow(/77 positions/);
    encoder.destroy();
  });

  it('refuses configs it cannot run, naming the field', () => {
    expect(() => parseClipTextConfig({ hidden_act: 'relu' })).toThrow(/hidden_act/);
    expect(() => parseClipTextConfig({ hidden_size: 30, num_attention_heads: 4 })).toThrow(/num_attention_heads/);
    expect(parseClipTextConfig({ text_config: { hidden_act: 'gelu', hidden_size: 1024, num_attention_heads: 16 } }).activation).toBe('gelu');
  });
});
