// How transformers' CLIPTokenizer cleans a prompt before its regex and BPE see it when ftfy is not
// installed (ftfy is a dependency of neither diffusers, transformers nor ComfyUI): its BasicTokenizer
// with strip_accents=False and no punctuation splitting. With ftfy, transformers would unescape HTML
// entities and fix text instead; we follow the common install. Python's rules are spelled out here because JS's
// \s and Python's str.split() disagree on a few characters.

/** Python's str.isspace() characters, which str.split() separates words on. */
const PYTHON_SPACE_RUN = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;
const CONTROL = /^\p{C}$/u; // Unicode categories Cc, Cf, Cs, Co, Cn
const SPACE_SEPARATOR = /^\p{Zs}$/u;

/** BERT's "Chinese character" blocks: CJK ideographs, which get a space on each side. */
function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/**
 * Drops NUL, U+FFFD and control/format characters (zero-width joiners too), turns tabs, newlines and
 * space separators into spaces, spaces out CJK ideographs, NFC-normalises, splits on whitespace,
 * lower-cases each word and joins the words with single spaces. Accents stay.
 */
export function basicCleanup(text: string): string {
  let cleaned = '';
  for (const char of text) {
    const cp = char.codePointAt(0)!;
    if (char === ' ' || char === '\t' || char === '\n' || char === '\r' || SPACE_SEPARATOR.test(char)) cleaned += ' ';
    else if (cp === 0 || cp === 0xfffd || CONTROL.test(char)) continue;
    else if (isCjkIdeograph(cp)) cleaned += ` ${char} `;
    else cleaned += char;
  }
  return cleaned
    .normalize('NFC')
    .split(PYTHON_SPACE_RUN)
    .filter((word) => word !== '')
    .map((word) => word.toLowerCase())
    .join(' ');
}
