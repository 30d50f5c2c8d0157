// Prepares the training data for the default model (see README.md, "Reproduce").
//
//   npm install --prefix training && node training/prepare-data.mjs
//
// Reads the 64×64 Noto (emoji-datasource-google) and Twemoji (emoji-datasource-twitter) PNGs,
// composites their alpha on white, and joins them with emojibase-data for captions. Writes:
//   training/data/images.u8.gz     N×64×64×3 uint8 RGB (HWC), gzip
//   training/data/meta.json        one record per image: style, group, label, tags, tone, ids
//   training/data/captions.i32     N×VARIANTS×MAX_LEN int32 token ids (little-endian)
//   public/models/emoji-64/tokenizer/{tokenizer.json,tokenizer_config.json}
// The token ids come from @huggingface/tokenizers, the library the app uses, so training sees
// exactly the ids the app will produce.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const requireHere = createRequire(path.join(here, 'package.json'));
const { PNG } = requireHere('pngjs');
// The app's own dependency: the tokenizer that will run in the browser.
const { Tokenizer } = await import(
  path.join(root, 'node_modules/@huggingface/tokenizers/dist/tokenizers.mjs')
);

export const MAX_LEN = 32; // text positions, BOS and EOS included
export const VARIANTS = 4; // caption variants per image, picked at random while training
const SIZE = 64;
const STYLES = [
  { style: 'noto', pkg: 'emoji-datasource-google', set: 'google' },
  { style: 'twemoji', pkg: 'emoji-datasource-twitter', set: 'twitter' },
];
const SPECIALS = ['[PAD]', '[UNK]', '[BOS]', '[EOS]'];

const nm = (p) => path.join(here, 'node_modules', p);
const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

/** The tokenizer's normalizer and pre-tokenizer, written once more in JS to build the vocabulary;
 *  `main` checks that the real tokenizer gives no [UNK] for any training caption. */
export function words(text) {
  return text
    .normalize('NFD')
    .replace(/\p{Mn}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .filter(Boolean);
}

export function tokenizerJson(vocabWords) {
  const vocab = {};
  SPECIALS.forEach((t, i) => (vocab[t] = i));
  vocabWords.forEach((w, i) => (vocab[w] = SPECIALS.length + i));
  const special = (content, id) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  return {
    version: '1.0',
    // Honoured by the Python `tokenizers` library; the JS library ignores them, so the app's
    // wrapper does the same by hand (tokenizer_config.json, "attention_lab").
    truncation: { direction: 'Right', max_length: MAX_LEN, strategy: 'LongestFirst', stride: 0 },
    padding: {
      strategy: { Fixed: MAX_LEN }, direction: 'Right', pad_to_multiple_of: null,
      pad_id: 0, pad_type_id: 0, pad_token: '[PAD]',
    },
    added_tokens: SPECIALS.map(special),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFD' },
        { type: 'StripAccents' },
        { type: 'Lowercase' },
        { type: 'Replace', pattern: { Regex: '[^a-z0-9]+' }, content: ' ' },
      ],
    },
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[BOS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[EOS]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[BOS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: '[EOS]', type_id: 0 } },
      ],
      special_tokens: {
        '[BOS]': { id: '[BOS]', ids: [2], tokens: ['[BOS]'] },
        '[EOS]': { id: '[EOS]', ids: [3], tokens: ['[EOS]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    // A WordPiece model over whole words: @huggingface/tokenizers 0.2.0 maps unknown words to
    // [UNK] here, where its WordLevel model returns undefined (shared NOTES.md).
    model: {
      type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
      max_input_chars_per_word: 100, vocab,
    },
  };
}

export const tokenizerConfig = {
  tokenizer_class: 'PreTrainedTokenizerFast',
  model_max_length: MAX_LEN,
  pad_token: '[PAD]',
  unk_token: '[UNK]',
  bos_token: '[BOS]',
  eos_token: '[EOS]',
  padding_side: 'right',
  truncation_side: 'right',
  clean_up_tokenization_spaces: false,
  attention_lab: {
    description:
      'ids = encode(text).ids, which already starts with [BOS] (2) and ends with [EOS] (3); if longer ' +
      'than max_length, keep the first max_length-1 ids and append [EOS]; then pad with [PAD] (0) ' +
      'to exactly max_length. The text encoder reads all max_length positions (no attention mask). ' +
      'The unconditional (CFG) prompt is the empty string: [BOS] [EOS] [PAD]...',
    max_length: MAX_LEN,
    pad_id: 0,
    unk_id: 1,
    bos_id: 2,
    eos_id: 3,
    pad_to_max_length: true,
    uncond_prompt: '',
  },
};

/** encode → truncate (keeping EOS) → pad: the convention in tokenizer_config.json. */
export function encodeIds(tokenizer, text) {
  let ids = tokenizer.encode(text).ids.map(Number);
  if (ids.length > MAX_LEN) ids = [...ids.slice(0, MAX_LEN - 1), 3];
  while (ids.length < MAX_LEN) ids.push(0);
  return ids;
}

// Deterministic shuffles for caption variants (mulberry32).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function captionVariants(rec, rand) {
  const s = [rec.style];
  const label = words(rec.label);
  const tone = words(rec.tone);
  const group = words(rec.groupName);
  const tags = rec.tags.flatMap(words).filter((w) => !label.includes(w));
  const shuffled = [...new Set(tags)].sort(() => rand() - 0.5).slice(0, 4);
  return [
    // 0: the canonical caption: style, label, skin tone, group, tags (tags are cut first)
    [...s, ...label, ...tone, ...group, ...tags],
    // 1: what people type: style and name
    [...s, ...label, ...tone],
    // 2: no style word: the model picks one
    [...label, ...tone, ...group],
    // 3: group first and a few tags in random order
    [...s, ...group, ...label, ...tone, ...shuffled],
  ].map((w) => w.join(' '));
}

function compositeOnWhite(png) {
  if (png.width !== SIZE || png.height !== SIZE) throw new Error(`not ${SIZE}px: ${png.width}`);
  const out = Buffer.alloc(SIZE * SIZE * 3);
  for (let p = 0; p < SIZE * SIZE; p++) {
    const a = png.data[4 * p + 3];
    for (let c = 0; c < 3; c++) {
      out[3 * p + c] = Math.round((png.data[4 * p + c] * a + 255 * (255 - a)) / 255);
    }
  }
  return out;
}

function main() {
  const outDir = path.join(here, 'data');
  const tokDir = path.join(root, 'public/models/emoji-64/tokenizer');
  fs.mkdirSync(outDir, { recursive: true });
  fs.mkdirSync(tokDir, { recursive: true });

  const base = readJson(nm('emojibase-data/en/data.json'));
  const messages = readJson(nm('emojibase-data/en/messages.json'));
  const groupNames = Object.fromEntries(messages.groups.map((g) => [g.order, g.message]));
  const norm = (h) => h.toUpperCase().split('-').filter((p) => p !== 'FE0F').join('-');
  const byHex = new Map();
  for (const e of base) {
    byHex.set(norm(e.hexcode), { entry: e, skin: null });
    for (const s of e.skins ?? []) byHex.set(norm(s.hexcode), { entry: e, skin: s });
  }

  const records = [];
  const pixels = [];
  let skipped = 0;
  for (const { style, pkg, set } of STYLES) {
    const list = readJson(nm(`${pkg}/emoji.json`));
    for (const item of list) {
      const variants = [item, ...Object.values(item.skin_variations ?? {})];
      for (const v of variants) {
        const hit = byHex.get(norm(v.unified));
        if (!v[`has_img_${set}`] || !hit || hit.entry.group === undefined) {
          skipped++;
          continue;
        }
        const { entry, skin } = hit;
        let tone = '';
        if (skin) {
          tone = skin.label.startsWith(entry.label)
            ? skin.label.slice(entry.label.length)
            : skin.label.replace(/^[^:]*:/, '');
        }
        const png = PNG.sync.read(fs.readFileSync(nm(`${pkg}/img/${set}/64/${v.image}`)));
        pixels.push(compositeOnWhite(png));
        records.push({
          style,
          hexcode: norm(v.unified),
          base: norm(entry.hexcode),
          label: entry.label,
          tone: tone.replace(/^[\s:,]+/, ''),
          tags: entry.tags ?? [],
          group: entry.group,
          groupName: groupNames[entry.group],
          subgroup: entry.subgroup,
        });
      }
    }
  }

  // Vocabulary: every word of every caption variant, most frequent first.
  const rand = rng(20261126);
  const captions = records.map((r) => captionVariants(r, rand));
  const counts = new Map();
  for (const vs of captions) for (const c of vs) for (const w of words(c)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const vocabWords = [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a) || (a < b ? -1 : 1));
  const tj = tokenizerJson(vocabWords);
  fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tj));
  fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');

  const tokenizer = new Tokenizer(tj, tokenizerConfig);
  const ids = new Int32Array(records.length * VARIANTS * MAX_LEN);
  let truncated = 0;
  let longest = 0;
  captions.forEach((vs, i) =>
    vs.forEach((c, v) => {
      const raw = tokenizer.encode(c).ids.map(Number);
      if (raw.includes(1)) throw new Error(`[UNK] in a training caption: ${c}`);
      longest = Math.max(longest, raw.length);
      if (raw.length > MAX_LEN) truncated++;
      ids.set(encodeIds(tokenizer, c), (i * VARIANTS + v) * MAX_LEN);
    }),
  );
  records.forEach((r, i) => (r.caption = captions[i][0]));

  fs.writeFileSync(path.join(outDir, 'images.u8.gz'), zlib.gzipSync(Buffer.concat(pixels), { level: 9 }));
  fs.writeFileSync(path.join(outDir, 'captions.i32'), Buffer.from(ids.buffer));
  fs.writeFileSync(
    path.join(outDir, 'meta.json'),
    JSON.stringify({
      size: SIZE, maxLen: MAX_LEN, variants: VARIANTS, vocabSize: SPECIALS.length + vocabWords.length,
      groupNames, records, captionVariants: captions,
    }),
  );
  const perGroup = {};
  for (const r of records) perGroup[r.groupName] = (perGroup[r.groupName] ?? 0) + 1;
  console.log(
    JSON.stringify({
      images: records.length, skipped, vocab: SPECIALS.length + vocabWords.length,
      longestCaptionTokens: longest, truncatedCaptions: truncated, perGroup,
    }, null, 1),
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main();
