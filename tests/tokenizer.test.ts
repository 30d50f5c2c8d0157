import { describe, expect, it } from 'vitest';
import { PromptTokenizer } from '../src/engine/nn/tokenizer';
import { memoryModelFolder } from '../src/engine/weights/model-folder';

// A miniature of openai/clip-vit-large-patch14's tokenizer.json: the same normalizer, pre-tokenizer,
// BPE settings and post-processor, with a vocabulary of single letters, a few merges and the two
// special tokens. "!" comes first so that, as in SD 2.x's vocabulary, its id is 0.
function clipTokenizerJson() {
  const vocab: Record<string, number> = {};
  for (const symbol of '!abcdefghijklmnopqrstuvwxyz') vocab[symbol] = Object.keys(vocab).length;
  for (const symbol of '!abcdefghijklmnopqrstuvwxyz') vocab[`${symbol}</w>`] = Object.keys(vocab).length;
  const merges = ['c a', 'ca t</w>', 'd o', 'do g</w>'];
  for (const merge of merges) vocab[merge.replace(' ', '')] = Object.keys(vocab).length;
  const bos = Object.keys(vocab).length;
  vocab['<|startoftext|>'] = bos;
  vocab['<|endoftext|>'] = bos + 1;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(bos, '<|startoftext|>'), special(bos + 1, '<|endoftext|>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', bos + 1], cls: ['<|startoftext|>', bos], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

const json = clipTokenizerJson();
const id = (token: string) => json.model.vocab[token];
const BOS = id('<|startoftext|>');
const EOS = id('<|endoftext|>');

// SD 1.5's tokenizer_config.json (abridged): pads with <|endoftext|>.
const sd15Config = {
  add_prefix_space: false,
  bos_token: { content: '<|startoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false },
  eos_token: { content: '<|endoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false },
  pad_token: '<|endoftext|>',
  unk_token: { content: '<|endoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false },
  model_max_length: 77,
  tokenizer_class: 'CLIPTokenizer',
  do_lower_case: true,
};
// SD 2.x's: pads with "!", id 0.
const sd2Config = { ...sd15Config, pad_token: '!' };

function padded(ids: number[], pad: number, length = 77): number[] {
  return [...ids, ...new Array(length - ids.length).fill(pad)];
}

function folder(files: Record<string, unknown>) {
  return memoryModelFolder('model', Object.fromEntries(Object.entries(files).map(([path, value]) => [path, JSON.stringify(value)])));
}

describe('PromptTokenizer turns a prompt into the 77 ids a CLIP text encoder reads', () => {
  it('wraps the words in <|startoftext|> ... <|endoftext|> and pads with <|endoftext|> (SD 1.x)', async () => {
    const tokenizer = await PromptTokenizer.load(folder({ 'tokenizer/tokenizer.json': json, 'tokenizer/tokenizer_config.json': sd15Config }));
    expect(tokenizer.maxLength).toBe(77);
    expect(tokenizer.tokens('a cat')).toEqual(['<|startoftext|>', 'a</w>', 'cat</w>', '<|endoftext|>']);
    expect([...tokenizer.encode('a cat')]).toEqual(padded([BOS, id('a</w>'), id('cat</w>'), EOS], EOS));
  });

  it('pads with "!" (id 0) when tokenizer_config says so (SD 2.x)', async () => {
    const tokenizer = await PromptTokenizer.load(folder({ 'tokenizer/tokenizer.json': json, 'tokenizer/tokenizer_config.json': sd2Config }));
    expect(tokenizer.padId).toBe(0);
    expect([...tokenizer.encode('a cat')]).toEqual(padded([BOS, id('a</w>'), id('cat</w>'), EOS], 0));
  });

  it('lowercases, folds whitespace, splits punctuation and merges by BPE', async () => {
    const tokenizer = PromptTokenizer.fromJson(json, sd15Config);
    expect([...tokenizer.encode('A  DOG!\n cat')]).toEqual(padded([BOS, id('a</w>'), id('dog</w>'), id('!</w>'), id('cat</w>'), EOS], EOS));
    // "dot" has no merge for "t" after "do": d-o merges, then "t</w>" stays separate.
    expect(tokenizer.tokens('dot')).toEqual(['<|startoftext|>', 'do', 't</w>', '<|endoftext|>']);
  });

  it('an empty prompt is <|startoftext|><|endoftext|> and padding', () => {
    const tokenizer = PromptTokenizer.fromJson(json, sd15Config);
    expect([...tokenizer.encode('')]).toEqual(padded([BOS, EOS], EOS));
  });

  it('a long prompt is cut to 75 words and still ends with <|endoftext|>', () => {
    const tokenizer = PromptTokenizer.fromJson(json, sd2Config);
    const ids = [...tokenizer.encode(new Array(100).fill('cat').join(' '))];
    expect(ids).toHaveLength(77);
    expect(ids).toEqual([BOS, ...new Array(75).fill(id('cat</w>')), EOS]);
    // Exactly 75 words fit without cutting; 76 lose the last word, not the eos.
    expect(tokenizer.encode(new Array(76).fill('dog').join(' '))[76]).toBe(EOS);
  });

  it('characters outside the vocabulary become the unk token, as BPE defines it', () => {
    const tokenizer = PromptTokenizer.fromJson(json, sd15Config);
    // "7" is not in the miniature vocabulary; CLIP's unk is <|endoftext|>.
    expect([...tokenizer.encode('cat 7')].slice(0, 4)).toEqual([BOS, id('cat</w>'), EOS, EOS]);
  });

  it('without tokenizer_config.json, takes the length from the model and pads with the eos the post-processor adds', async () => {
    const tokenizer = await PromptTokenizer.load(folder({ 'text/tokenizer.json': json }), 'text', 8);
    expect([...tokenizer.encode('a dog')]).toEqual(padded([BOS, id('a</w>'), id('dog</w>'), EOS], EOS, 8));
    await expect(PromptTokenizer.load(folder({ 'tokenizer/tokenizer.json': json }))).rejects.toThrow(/max_position_embeddings/);
  });

  it('a WordLevel vocabulary maps unknown words to its unk id instead of undefined', () => {
    const wordLevel = {
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'Whitespace' },
      decoder: null,
      added_tokens: [
        { id: 1, content: '[CLS]', special: true },
        { id: 2, content: '[SEP]', special: true },
      ],
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
        pair: [],
        special_tokens: { '[CLS]': { id: '[CLS]', ids: [1], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [2], tokens: ['[SEP]'] } },
      },
      model: { type: 'WordLevel', vocab: { '[UNK]': 0, '[CLS]': 1, '[SEP]': 2, '[PAD]': 3, red: 4, cube: 5 }, unk_token: '[UNK]' },
    };
    const tokenizer = PromptTokenizer.fromJson(wordLevel, { pad_token: '[PAD]' }, 6);
    expect([...tokenizer.encode('Red sphere')]).toEqual([1, 4, 0, 2, 3, 3]);
    // Truncation keeps [SEP] last here too.
    expect([...tokenizer.encode('red cube red cube red')]).toEqual([1, 4, 5, 4, 5, 2]);
  });

  it('names the field when the configured pad token is not in the vocabulary', () => {
    expect(() => PromptTokenizer.fromJson(json, { ...sd15Config, pad_token: '<pad>' })).toThrow(/pad_token "<pad>"/);
  });
});
