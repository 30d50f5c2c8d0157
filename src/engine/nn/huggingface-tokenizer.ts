// A tokenizer.json (normalizer, pre-tokenizer, BPE/WordPiece/WordLevel model, post-processor) read
// through @huggingface/tokenizers, encoding to fixed-length ids as diffusers' pipelines call the
// tokenizer: padding="max_length", max_length, truncation=True. The post-processor adds the special
// tokens (for CLIP's BPE, RobertaProcessing puts <|startoftext|> before and <|endoftext|> after);
// like transformers, we truncate the text's own tokens so that those special tokens survive (the eos
// stays last), then pad with the configured pad token.
import { Tokenizer } from '@huggingface/tokenizers';
import { maxLengthFrom, tokenText, type TokenizerConfigJson } from './tokenizer-config';
import { checkTokenizerJson } from './tokenizer-json';

export interface TokenizerJson {
  model?: { type?: string; unk_token?: string | null };
  [key: string]: unknown;
}

export class HuggingFaceTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Every encoding has exactly this many ids. */
    readonly maxLength: number,
    readonly padId: number,
    /** What the model's vocabulary maps unknown words to; WordLevel models leave them undefined. */
    private readonly unkId: number | undefined,
  ) {}

  /** `config` is tokenizer_config.json over special_tokens_map.json; `where` names the files in errors. */
  static fromJson(json: TokenizerJson, config: TokenizerConfigJson = {}, maxLength?: number, where = 'tokenizer.json'): HuggingFaceTokenizer {
    checkTokenizerJson(json, where);
    // The library insists that these keys exist; real files may leave some out instead of writing null.
    const complete = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...json };
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(complete, config);
    } catch (e) {
      // What the shape check cannot know: a part type or option this library does not implement.
      throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
    }

    const length = maxLengthFrom(config, maxLength, where);

    const idOf = (token: string, field: string): number => {
      const id = tokenizer.token_to_id(token);
      if (id === undefined) throw new Error(`${where}: ${field} "${token}" is not in the vocabulary`);
      return id;
    };
    const unkToken = json.model?.unk_token ?? tokenText(config.unk_token);
    const unkId = unkToken ? tokenizer.token_to_id(unkToken) : undefined;

    // CLIPTokenizer's pad token defaults to its eos, <|endoftext|>; SD 2.x configures "!" instead.
    const padToken = tokenText(config.pad_token) ?? tokenText(config.eos_token);
    let padId: number;
    if (padToken) {
      padId = idOf(padToken, config.pad_token ? 'pad_token' : 'eos_token (used as pad_token)');
    } else {
      // Neither configured: pad with the token the post-processor ends every sequence with (CLIP's eos).
      const ends = tokenizer.encode('').ids;
      if (ends.length === 0 || ends[ends.length - 1] === undefined) throw new Error(`${where}: no pad_token or eos_token configured, and none can be inferred`);
      padId = ends[ends.length - 1];
    }
    return new HuggingFaceTokenizer(tokenizer, length, padId, unkId);
  }

  /** Exactly `maxLength` ids: special tokens, the text's tokens (truncated to fit), padding. */
  encode(text: string): Int32Array {
    const withSpecial = this.tokenizer.encode(text);
    const plain = this.tokenizer.encode(text, { add_special_tokens: false });
    const [prefix, suffix] = splitSpecial(withSpecial.tokens, plain.tokens);
    const room = this.maxLength - prefix - suffix;
    if (room < 0) throw new Error(`tokenizer: ${prefix + suffix} special tokens do not fit in ${this.maxLength}`);
    const kept = [
      ...withSpecial.ids.slice(0, prefix),
      ...plain.ids.slice(0, room),
      ...withSpecial.ids.slice(withSpecial.ids.length - suffix),
    ];
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    for (let i = 0; i < kept.length; i++) {
      const id = kept[i];
      if (id !== undefined) ids[i] = id;
      else if (this.unkId !== undefined) ids[i] = this.unkId;
      else throw new Error(`tokenizer: a word of "${text}" is not in the vocabulary, and the tokenizer defines no unk_token`);
    }
    return ids;
  }

  /** Tokens as text, for debugging and tests ("<|startoftext|>", "cat</w>", ...). */
  tokens(text: string): string[] {
    return this.tokenizer.encode(text).tokens;
  }
}

/**
 * How many of `full`'s tokens the post-processor put before and after `plain` (the text's own
 * tokens). Found by matching token strings, which WordLevel's missing ids do not disturb.
 */
function splitSpecial(full: string[], plain: string[]): [prefix: number, suffix: number] {
  const specials = full.length - plain.length;
  if (specials < 0) throw new Error('tokenizer: encoding with special tokens gave fewer tokens than without');
  if (plain.length === 0) return [specials, 0];
  for (let start = 0; start <= specials; start++) {
    if (plain.every((token, i) => full[start + i] === token)) return [start, specials - start];
  }
  throw new Error('tokenizer: cannot find the text between the special tokens its post-processor adds');
}
