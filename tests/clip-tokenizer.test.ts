import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../src/engine/nn/clip-tokenizer';
import { BYTE_SYMBOLS, loadBundledClipVocabulary } from '../src/engine/nn/clip-vocabulary';
import { PromptTokenizer } from '../src/engine/nn/tokenizer';
import { memoryModelFolder } from '../src/engine/weights/model-folder';

// Token ids from transformers' Python CLIPTokenizer for 44 prompts (tests/fixtures/clip-tokenizer/README.md).
interface Reference {
  cases: { prompt: string; sd1: number[]; sd2: number[] }[];
}
const reference = JSON.parse(readFileSync(new URL('./fixtures/clip-tokenizer/reference-ids.json', import.meta.url), 'utf8')) as Reference;

describe("ClipTokenizer gives transformers' CLIPTokenizer's ids with the bundled CLIP vocabulary", async () => {
  const vocabulary = await loadBundledClipVocabulary();
  const sd1 = new ClipTokenizer(vocabulary, { maxLength: 77, padToken: '<|endoftext|>' });
  const sd2 = new ClipTokenizer(vocabulary, { maxLength: 77, padToken: '!' });

  it('has the 49408 tokens of openai/clip-vit-large-patch14, in its order', () => {
    expect(vocabulary.tokenToId.size).toBe(49408);
    expect(vocabulary.mergeRanks.size).toBe(48894);
    const ids = (...tokens: string[]) => tokens.map((token) => vocabulary.tokenToId.get(token));
    expect(ids('!', '!</w>', BYTE_SYMBOLS[32], 'a</w>', 'photo</w>', 'cat</w>', '<|startoftext|>', '<|endoftext|>')).toEqual([0, 256, 220, 320, 1125, 2368, 49406, 49407]);
  });

  it.each(reference.cases.map((c, i) => [i, c] as const))('SD 1.x (pads with <|endoftext|>): prompt %i', (_, c) => {
    expect([...sd1.encode(c.prompt)]).toEqual(c.sd1);
  });

  it.each(reference.cases.map((c, i) => [i, c] as const))('SD 2.x (pads with "!", which a prompt\'s "!" also becomes): prompt %i', (_, c) => {
    expect([...sd2.encode(c.prompt)]).toEqual(c.sd2);
  });

  it('reads the bundled vocabulary once', async () => {
    expect(await loadBundledClipVocabulary()).toBe(vocabulary);
  });
});

// Stable Diffusion's tokenizer/ files, as diffusers folders ship them (SD 1.5's, and SD 2.x's "!" pad).
const special = (content: string) => ({ __type: 'AddedToken', content, lstrip: false, normalized: true, rstrip: false, single_word: false });
const specialTokens = (pad: string) => ({ bos_token: special('<|startoftext|>'), eos_token: special('<|endoftext|>'), unk_token: special('<|endoftext|>'), pad_token: pad });
const tokenizerConfig = (pad: string) => ({ ...specialTokens(pad), do_lower_case: true, errors: 'replace', model_max_length: 77, tokenizer_class: 'CLIPTokenizer' });

describe('PromptTokenizer.load picks the tokenizer a folder describes', async () => {
  const vocabulary = await loadBundledClipVocabulary();
  const vocabJson = JSON.stringify(Object.fromEntries(vocabulary.tokenToId));
  const mergesTxt = `#version: 0.2\n${[...vocabulary.mergeRanks.keys()].join('\n')}\n`;
  const folder = (files: Record<string, unknown>) =>
    memoryModelFolder('sd', Object.fromEntries(Object.entries(files).map(([path, value]) => [path, typeof value === 'string' ? value : JSON.stringify(value)])));
  const expectReference = (tokenizer: PromptTokenizer, family: 'sd1' | 'sd2') => {
    for (const c of reference.cases) expect([...tokenizer.encode(c.prompt)], c.prompt).toEqual(c[family]);
  };

  it("a diffusers folder's vocab.json + merges.txt, with SD 2.x's config (pads with \"!\")", async () => {
    const tokenizer = await PromptTokenizer.load(
      folder({ 'tokenizer/vocab.json': vocabJson, 'tokenizer/merges.txt': mergesTxt, 'tokenizer/tokenizer_config.json': tokenizerConfig('!'), 'tokenizer/special_tokens_map.json': specialTokens('!') }),
    );
    expect(tokenizer.source).toBe('vocab.json + merges.txt');
    expect([tokenizer.maxLength, tokenizer.padId]).toEqual([77, 0]);
    expectReference(tokenizer, 'sd2');
  });

  it('vocab.json + merges.txt win over a tokenizer.json beside them, as in diffusers', async () => {
    const files = { 'tokenizer/vocab.json': vocabJson, 'tokenizer/merges.txt': mergesTxt, 'tokenizer/tokenizer.json': '{}', 'tokenizer/tokenizer_config.json': tokenizerConfig('<|endoftext|>') };
    expect((await PromptTokenizer.load(folder(files))).source).toBe('vocab.json + merges.txt');
  });

  it("a single-file checkpoint's tokenizer_config alone uses the bundled vocabulary, with its pad token", async () => {
    for (const [pad, family] of [['<|endoftext|>', 'sd1'], ['!', 'sd2']] as const) {
      const tokenizer = await PromptTokenizer.load(folder({ 'tokenizer/tokenizer_config.json': tokenizerConfig(pad), 'tokenizer/special_tokens_map.json': specialTokens(pad) }));
      expect(tokenizer.source).toBe('bundled CLIP vocabulary');
      expectReference(tokenizer, family);
    }
    // special_tokens_map.json alone gives the pad token; the text model gives the length.
    const sd2 = await PromptTokenizer.load(folder({ 'tokenizer/tokenizer_config.json': { tokenizer_class: 'CLIPTokenizer' }, 'tokenizer/special_tokens_map.json': specialTokens('!') }), 'tokenizer', 77);
    expect(sd2.padId).toBe(0);
  });

  it('tokens() shows the BPE pieces, with </w> ending each word', async () => {
    const tokenizer = PromptTokenizer.fromClipVocabulary(vocabulary, tokenizerConfig('!'));
    expect(tokenizer.tokens("An astronaut's HORSE!")).toEqual(['<|startoftext|>', 'an</w>', 'astronaut</w>', "'s</w>", 'horse</w>', '!', '<|endoftext|>']);
  });

  it('names the folder, file and field when something is missing or wrong', async () => {
    await expect(PromptTokenizer.load(folder({}))).rejects.toThrow(/sd\/tokenizer: no tokenizer found: expected tokenizer.json, vocab.json \+ merges.txt/);
    await expect(PromptTokenizer.load(folder({ 'tokenizer/vocab.json': vocabJson }))).rejects.toThrow(/vocab.json without merges.txt/);
    const withFiles = (vocab: string, merges: string) => folder({ 'tokenizer/vocab.json': vocab, 'tokenizer/merges.txt': merges, 'tokenizer/tokenizer_config.json': tokenizerConfig('!') });
    await expect(PromptTokenizer.load(withFiles('[1, 2]', mergesTxt))).rejects.toThrow(/sd\/tokenizer\/vocab.json: expected an object/);
    await expect(PromptTokenizer.load(withFiles('{"a": 0}', mergesTxt))).rejects.toThrow(/vocab.json: "<\|startoftext\|>" is missing/);
    await expect(PromptTokenizer.load(withFiles(vocabJson, '#version: 0.2\na b c\n'))).rejects.toThrow(/sd\/tokenizer\/merges.txt: line 2 is not a merge/);
    const badPad = folder({ 'tokenizer/tokenizer_config.json': { ...tokenizerConfig('<pad>') } });
    await expect(PromptTokenizer.load(badPad)).rejects.toThrow(/pad_token "<pad>" is not in the vocabulary/);
    const noLength = folder({ 'tokenizer/tokenizer_config.json': { tokenizer_class: 'CLIPTokenizer' } });
    await expect(PromptTokenizer.load(noLength)).rejects.toThrow(/max_position_embeddings/);
    const otherClass = folder({ 'tokenizer/tokenizer_config.json': { tokenizer_class: 'T5Tokenizer', model_max_length: 77 } });
    await expect(PromptTokenizer.load(otherClass)).rejects.toThrow(/tokenizer.json/);
  });
});
