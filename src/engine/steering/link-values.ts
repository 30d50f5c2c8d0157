// Reading numbers from a link the way every setting does: plain decimals only, clamped into range
// with a notice, never a throw.

/** Rounds to hundredths, the finest step of every slider: what the URL writes is what renders. */
export function roundHundredths(value: number): number {
  return Math.round(value * 100) / 100;
}

/** `text` as a number in `range`, or undefined (with a notice) when it is not one. */
export function readLinkNumber(text: string | null, name: string, range: { min: number; max: number }, notices: string[], integer: boolean): number | undefined {
  if (text === null) return undefined;
  const trimmed = text.trim();
  // Number('') is 0 and Number('0x10') is 16: accept plain decimals only.
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(trimmed)) {
    notices.push(`Ignored invalid ${name} "${shortForNotice(text)}": not a number.`);
    return undefined;
  }
  // "+ 0" turns -0 into 0: the link writes "0", which must read back as the same number.
  let value = Number(trimmed) + 0;
  if (integer && !Number.isInteger(value)) {
    value = Math.round(value);
    notices.push(`Rounded ${name} ${shortForNotice(trimmed)} to ${value} (whole numbers only).`);
  }
  if (value < range.min || value > range.max) {
    const clamped = Math.min(range.max, Math.max(range.min, value));
    notices.push(`Clamped ${name} ${shortForNotice(trimmed)} to ${clamped} (allowed ${range.min}–${range.max}).`);
    value = clamped;
  }
  return value;
}

/** A value as a notice quotes it: at most 40 characters. */
export function shortForNotice(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
