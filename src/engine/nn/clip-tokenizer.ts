// CLIP's byte-level BPE tokenizer, behaving as transformers' CLIPTokenizer (the Python one diffusers
// loads for Stable Diffusion) called as diffusers calls it: padding="max_length", max_length=77,
// truncation=True. Steps, in order:
// 1. special tokens written in the prompt ("<|endoftext|>"; SD 2.x's pad "!") are cut out whole and
//    keep their own ids, as transformers' added-token split does;
// 2. the text between them is cleaned (clip-text-cleanup.ts) and lower-cased;
// 3. CLIP's regex splits words, numbers (one digit each) and runs of other symbols;
// 4. each piece's UTF-8 bytes become BYTE_SYMBOLS, the last one marked "</w>", merged by rank;
// 5. <|startoftext|> + the first maxLength - 2 tokens + <|endoftext|>, padded with the pad token.
import { basicCleanup } from './clip-text-cleanup';
import { BYTE_SYMBOLS, CLIP_BOS, CLIP_EOS, type ClipVocabulary } from './clip-vocabulary';

/** OpenAI's pattern; \p{L} runs are words, each \p{N} a token of its own. */
const CLIP_PIECES = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

export interface ClipTokenizerOptions {
  /** Every encoding has exactly this many ids (77 for Stable Diffusion). */
  maxLength: number;
  /** "<|endoftext|>" for SD 1.x, "!" for SD 2.x. */
  padToken: string;
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  /** For messages. */
  where?: string;
}

export class ClipTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  private readonly bosToken: string;
  private readonly eosToken: string;
  private readonly bosId: number;
  private readonly eosId: number;
  private readonly unkId: number;
  /** Special tokens found verbatim in a prompt, longest first. */
  private readonly specialSplit: RegExp;
  private readonly specialIds = new Map<string, number>();
  private readonly bpeCache = new Map<string, string[]>();

  constructor(
    private readonly vocabulary: ClipVocabulary,
    options: ClipTokenizerOptions,
  ) {
    const where = options.where ?? 'CLIP tokenizer';
    if (!Number.isInteger(options.maxLength) || options.maxLength < 2) throw new Error(`${where}: maximum length ${options.maxLength} leaves no room for <|startoftext|> and <|endoftext|>`);
    this.maxLength = options.maxLength;
    const idOf = (token: string, field: string) => {
      const id = vocabulary.tokenToId.get(token);
      if (id === undefined) throw new Error(`${where}: ${field} "${token}" is not in the vocabulary`);
      return id;
    };
    this.bosToken = options.bosToken ?? CLIP_BOS;
    this.eosToken = options.eosToken ?? CLIP_EOS;
    const special: [field: string, token: string][] = [
      ['bos_token', this.bosToken],
      ['eos_token', this.eosToken],
      ['unk_token', options.unkToken ?? CLIP_EOS],
      ['pad_token', options.padToken],
    ];
    for (const [field, token] of special) this.specialIds.set(token, idOf(token, field));
    [this.bosId, this.eosId, this.unkId, this.padId] = special.map(([, token]) => this.specialIds.get(token)!);
    const escaped = [...this.specialIds.keys()].sort((a, b) => b.length - a.length).map((token) => token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.specialSplit = new RegExp(`(${escaped.join('|')})`, 'u');
  }

  /** Exactly `maxLength` ids: <|startoftext|>, the prompt's tokens (cut to fit), <|endoftext|>, padding. */
  encode(text: string): Int32Array {
    const tokens = this.tokenize(text).slice(0, this.maxLength - 2);
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    ids[0] = this.bosId;
    tokens.forEach((token, i) => (ids[i + 1] = this.vocabulary.tokenToId.get(token) ?? this.unkId));
    ids[tokens.length + 1] = this.eosId;
    return ids;
  }

  /** The prompt's tokens as text, without <|startoftext|> and <|endoftext|> ("a</w>", "photo</w>"...). */
  tokenize(text: string): string[] {
    const tokens: string[] = [];
    // split() with a capturing group alternates between plain text and the special tokens found.
    text.split(this.specialSplit).forEach((part, i) => {
      if (i % 2 === 1) tokens.push(part);
      else if (part) for (const [piece] of basicCleanup(part).matchAll(CLIP_PIECES)) tokens.push(...this.bpe(piece));
    });
    return tokens;
  }

  /** <|startoftext|>, the prompt's tokens (not cut), <|endoftext|>: for debugging and tests. */
  tokens(text: string): string[] {
    return [this.bosToken, ...this.tokenize(text), this.eosToken];
  }

  /** A piece's BPE tokens: its UTF-8 bytes as symbols, then the lowest-ranked adjacent pair merged, repeatedly. */
  private bpe(piece: string): string[] {
    // Typed in another case ("<|ENDOFTEXT|>"), CLIP's markers miss step 1 but, lower-cased and kept
    // whole by the regex, still become one token, as Python's BPE cache holds them.
    if (piece === CLIP_BOS || piece === CLIP_EOS) return [piece];
    const cached = this.bpeCache.get(piece);
    if (cached) return cached;
    const symbols = Array.from(new TextEncoder().encode(piece), (byte) => BYTE_SYMBOLS[byte]);
    symbols[symbols.length - 1] += '</w>';
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.vocabulary.mergeRanks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
      }
      if (best < 0) break;
      // Merge every occurrence of that pair, left to right, as CLIP does.
      const [first, second] = [symbols[best], symbols[best + 1]];
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === first && symbols[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols.splice(0, symbols.length, ...merged);
      if (symbols.length === 1) break;
    }
    if (this.bpeCache.size > 10_000) this.bpeCache.clear();
    this.bpeCache.set(piece, symbols);
    return symbols;
  }
}
