// tokenizer_config.json and special_tokens_map.json: the fields every tokenizer path reads.

/** These files write a token as a string or as {content, lstrip, ...}. */
export type TokenSpec = string | { content: string } | null | undefined;

export interface TokenizerConfigJson {
  tokenizer_class?: string;
  bos_token?: TokenSpec;
  pad_token?: TokenSpec;
  eos_token?: TokenSpec;
  unk_token?: TokenSpec;
  model_max_length?: number;
  [key: string]: unknown;
}

export function tokenText(spec: TokenSpec): string | undefined {
  if (!spec) return undefined;
  return typeof spec === 'string' ? spec : spec.content;
}

/** The text model's context when known (its max_position_embeddings), else model_max_length. */
export function maxLengthFrom(config: TokenizerConfigJson, maxLength: number | undefined, where: string): number {
  const length = maxLength ?? config.model_max_length;
  if (length === undefined || !Number.isInteger(length) || length < 2 || length > 1_000_000) {
    throw new Error(`${where}: no usable maximum length (got ${length}); pass the text model's max_position_embeddings`);
  }
  return length;
}
