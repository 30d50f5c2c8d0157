// Prompt text -> the fixed-length token ids a CLIP text encoder reads. PromptTokenizer.load decides,
// in one place (tokenizerSource), which tokenizer a model folder's tokenizer/ describes:
// - vocab.json + merges.txt (diffusers' Stable Diffusion folders): CLIP's BPE (clip-tokenizer.ts),
//   which is what diffusers runs for them, even where a tokenizer.json sits beside those files;
// - tokenizer.json: @huggingface/tokenizers (huggingface-tokenizer.ts; the default model's WordLevel one);
// - neither, with a tokenizer_config.json naming a CLIP tokenizer (single-file checkpoints carry no
//   tokenizer): CLIP's BPE with OpenAI's vocabulary, bundled and loaded on first use.
// tokenizer_config.json (over special_tokens_map.json) gives the pad token and model_max_length.
import { subFolder, type ModelFolder } from '../weights/model-folder';
import { ClipTokenizer } from './clip-tokenizer';
import { CLIP_EOS, clipVocabularyFromFiles, loadBundledClipVocabulary, type ClipVocabulary } from './clip-vocabulary';
import { HuggingFaceTokenizer, type TokenizerJson } from './huggingface-tokenizer';
import { maxLengthFrom, tokenText, type TokenizerConfigJson } from './tokenizer-config';

export type { TokenizerConfigJson } from './tokenizer-config';

/** Where a PromptTokenizer's vocabulary came from. */
export type TokenizerSource = 'vocab.json + merges.txt' | 'tokenizer.json' | 'bundled CLIP vocabulary';

interface FixedLengthTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  encode(text: string): Int32Array;
  tokens(text: string): string[];
}

const CLIP_CLASSES = new Set(['CLIPTokenizer', 'CLIPTokenizerFast']);

/**
 * Which files of the tokenizer folder to read. For a CLIP tokenizer (or an unnamed one),
 * vocab.json + merges.txt win, as diffusers' CLIPTokenizer reads only those two; other classes
 * are read from tokenizer.json, the one format we read for them. Probes only what it must.
 */
export async function tokenizerSource(dir: ModelFolder, config: TokenizerConfigJson): Promise<TokenizerSource> {
  const tokenizerClass = config.tokenizer_class;
  if (tokenizerClass !== undefined && !CLIP_CLASSES.has(tokenizerClass)) return 'tokenizer.json';
  const [vocab, merges] = await Promise.all([dir.has('vocab.json'), dir.has('merges.txt')]);
  if (vocab && merges) return 'vocab.json + merges.txt';
  if (await dir.has('tokenizer.json')) return 'tokenizer.json';
  if (tokenizerClass !== undefined) return 'bundled CLIP vocabulary';
  const half = vocab ? ' (vocab.json without merges.txt)' : merges ? ' (merges.txt without vocab.json)' : '';
  throw new Error(
    `${dir.name}: no tokenizer found${half}: expected tokenizer.json, vocab.json + merges.txt, or a tokenizer_config.json whose tokenizer_class is CLIPTokenizer`,
  );
}

export class PromptTokenizer {
  private constructor(
    private readonly tokenizer: FixedLengthTokenizer,
    readonly source: TokenizerSource,
  ) {}

  /**
   * Reads `subdir` of `folder`: its tokenizer files and, when present, tokenizer_config.json and
   * special_tokens_map.json. `maxLength` is the text model's context (its max_position_embeddings);
   * without it, tokenizer_config's model_max_length is used.
   */
  static async load(folder: ModelFolder, subdir = 'tokenizer', maxLength?: number): Promise<PromptTokenizer> {
    const dir = subdir ? subFolder(folder, subdir) : folder;
    const optionalJson = async (path: string) => ((await dir.has(path)) ? dir.readJson<TokenizerConfigJson>(path) : undefined);
    const [config, specialTokens] = await Promise.all([optionalJson('tokenizer_config.json'), optionalJson('special_tokens_map.json')]);
    const merged: TokenizerConfigJson = { ...specialTokens, ...config };
    const source = await tokenizerSource(dir, merged);
    switch (source) {
      case 'tokenizer.json':
        return PromptTokenizer.fromJson(await dir.readJson<TokenizerJson>('tokenizer.json'), merged, maxLength, `${dir.name}/tokenizer.json`);
      case 'vocab.json + merges.txt': {
        const where = { vocab: `${dir.name}/vocab.json`, merges: `${dir.name}/merges.txt` };
        const [vocab, merges] = await Promise.all([dir.readJson<unknown>('vocab.json'), dir.readText('merges.txt')]);
        return PromptTokenizer.fromClipVocabulary(clipVocabularyFromFiles(vocab, merges, where), merged, maxLength, source, dir.name);
      }
      case 'bundled CLIP vocabulary':
        return PromptTokenizer.fromClipVocabulary(await loadBundledClipVocabulary(), merged, maxLength, source, dir.name);
    }
  }

  /** A parsed tokenizer.json; `where` names it in errors. */
  static fromJson(json: TokenizerJson, config: TokenizerConfigJson = {}, maxLength?: number, where = 'tokenizer.json'): PromptTokenizer {
    return new PromptTokenizer(HuggingFaceTokenizer.fromJson(json, config, maxLength, where), 'tokenizer.json');
  }

  /** CLIP's BPE over `vocabulary`, with the special tokens `config` names (CLIPTokenizer's defaults otherwise). */
  static fromClipVocabulary(
    vocabulary: ClipVocabulary,
    config: TokenizerConfigJson = {},
    maxLength?: number,
    source: TokenizerSource = 'vocab.json + merges.txt',
    where = 'tokenizer',
  ): PromptTokenizer {
    const length = maxLengthFrom(config, maxLength, `${where}/tokenizer_config.json`);
    const tokenizer = new ClipTokenizer(vocabulary, {
      maxLength: length,
      // CLIPTokenizer pads with <|endoftext|> unless configured; SD 2.x configures "!".
      padToken: tokenText(config.pad_token) ?? CLIP_EOS,
      bosToken: tokenText(config.bos_token),
      eosToken: tokenText(config.eos_token),
      unkToken: tokenText(config.unk_token),
      where: `${where} (${source})`,
    });
    return new PromptTokenizer(tokenizer, source);
  }

  /** Every encoding has exactly this many ids. */
  get maxLength(): number {
    return this.tokenizer.maxLength;
  }

  get padId(): number {
    return this.tokenizer.padId;
  }

  /** Exactly `maxLength` ids: special tokens, the text's tokens (truncated to fit), padding. */
  encode(text: string): Int32Array {
    return this.tokenizer.encode(text);
  }

  /** Tokens as text, for debugging and tests ("<|startoftext|>", "cat</w>", ...). */
  tokens(text: string): string[] {
    return this.tokenizer.tokens(text);
  }
}
