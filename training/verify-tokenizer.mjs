// Checks that the app's tokenizer (@huggingface/tokenizers, JS) and the Python `tokenizers`
// library give the same ids for public/models/emoji-64/tokenizer/tokenizer.json.
//
//   node training/verify-tokenizer.mjs training/runs/main/results.json
//
// evaluate.py (on the GPU machine) writes the Python ids of a few probe strings — an unknown word
// and punctuation included — into results.json ("tokenizer.probes"), and checks there that Python
// reproduces the ids of all 30,288 training captions that prepare-data.mjs made with the JS library.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeIds } from './prepare-data.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Tokenizer } = await import(path.join(root, 'node_modules/@huggingface/tokenizers/dist/tokenizers.mjs'));
const dir = path.join(root, 'public/models/emoji-64/tokenizer');
const tokenizer = new Tokenizer(
  JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
  JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
);
const results = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { probes, captions_checked: checked, mismatches } = results.tokenizer;
let failures = 0;
for (const [text, pyIds] of Object.entries(probes)) {
  const jsIds = encodeIds(tokenizer, text);
  const same = JSON.stringify(jsIds) === JSON.stringify(pyIds);
  if (!same) failures++;
  console.log(same ? 'same' : 'DIFFERENT', JSON.stringify(text), jsIds.filter((id) => id !== 0).join(','));
}
console.log(`python reproduced ${checked - mismatches}/${checked} training captions`);
process.exit(failures || mismatches ? 1 : 0);
