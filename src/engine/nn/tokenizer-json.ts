// The shape of a tokenizer.json, checked before @huggingface/tokenizers reads it: the library
// throws its own TypeErrors on malformed parts ("Unknown Normalizer type: undefined"), which name
// neither the file nor the field, and accepts an empty vocabulary that turns every word into [UNK].

/** Upper bound far above real vocabularies (CLIP 49,408; the largest LLM tokenizers ~260,000). */
const MAX_VOCAB = 2_000_000;

/** Throws an error naming `where` and the field when `json` cannot be a usable tokenizer.json. */
export function checkTokenizerJson(json: unknown, where: string): void {
  const fail = (field: string, why: string): never => {
    throw new Error(`${where}: ${field} ${why}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('the file', 'is not a JSON object');
  const j = json as Record<string, unknown>;

  const model = j.model;
  if (!isObject(model)) return fail('"model"', 'is missing or not an object');
  if (typeof model.type !== 'string' && !('vocab' in model)) fail('"model.type"', 'is missing');
  const vocab = model.vocab;
  const size = Array.isArray(vocab) ? vocab.length : isObject(vocab) ? Object.keys(vocab).length : fail('"model.vocab"', 'is missing or not a list or map of tokens');
  if (size === 0) fail('"model.vocab"', 'is empty: every word would become the unknown token');
  if (size > MAX_VOCAB) fail('"model.vocab"', `has ${size} tokens, more than any real tokenizer (limit ${MAX_VOCAB})`);
  if (isObject(vocab) && !Object.values(vocab).every((id) => Number.isInteger(id) && (id as number) >= 0)) fail('"model.vocab"', 'maps a token to something other than a non-negative integer id');
  if ('merges' in model && !Array.isArray(model.merges)) fail('"model.merges"', 'is not a list');

  if (j.added_tokens !== undefined && j.added_tokens !== null) {
    if (!Array.isArray(j.added_tokens)) fail('"added_tokens"', `is ${typeName(j.added_tokens)}, not a list`);
    (j.added_tokens as unknown[]).forEach((t, i) => {
      if (!isObject(t) || !Number.isInteger(t.id) || typeof t.content !== 'string') fail(`"added_tokens[${i}]"`, 'is not an object with an integer "id" and a string "content"');
    });
  }
  for (const part of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) checkComponent(j[part], `"${part}"`, fail);
}

/** A pipeline part: null, or an object with a string "type"; Sequences check their members. */
function checkComponent(value: unknown, field: string, fail: (field: string, why: string) => never): void {
  if (value === undefined || value === null) return;
  if (!isObject(value)) return fail(field, `is ${typeName(value)}, not an object or null`);
  if (typeof value.type !== 'string') fail(`${field}.type`, `is ${typeName(value.type)}; each part names its type`);
  for (const key of ['normalizers', 'pretokenizers', 'processors', 'decoders']) {
    if (!(key in value)) continue;
    const members = value[key];
    if (!Array.isArray(members)) fail(`${field}.${key}`, 'is not a list');
    (members as unknown[]).forEach((m, i) => checkComponent(m, `${field}.${key}[${i}]`, fail));
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : `a ${typeof v}`;
}
