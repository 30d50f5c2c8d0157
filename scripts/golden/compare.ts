// One golden check: our output against the reference's, as rel = max|a−b| / max|b|.

/** The issues' tolerance for every golden check. */
export const GOLDEN_TOLERANCE = 1e-3;

export interface GoldenCheck {
  check: string;
  max_abs: number;
  rel: number;
  pass: boolean;
  error?: string;
  /** Set where the check could not run yet (a control the engine lacks): why. Not a failure, and
   * printed as such, so what is left stays visible. */
  skipped?: string;
}

export function compare(check: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = GOLDEN_TOLERANCE): GoldenCheck {
  if (actual.length !== expected.length) {
    return { check, max_abs: Infinity, rel: Infinity, pass: false, error: `length ${actual.length} != expected ${expected.length}` };
  }
  let maxAbs = 0;
  let maxRef = 0;
  let finite = true;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (!Number.isFinite(a) || !Number.isFinite(b)) finite = false;
    maxAbs = Math.max(maxAbs, Math.abs(a - b));
    maxRef = Math.max(maxRef, Math.abs(b));
  }
  const rel = finite ? (maxRef > 0 ? maxAbs / maxRef : maxAbs) : Infinity;
  return { check, max_abs: finite ? maxAbs : Infinity, rel, pass: finite && rel <= tolerance };
}

export function failure(check: string, error: unknown): GoldenCheck {
  return { check, max_abs: Infinity, rel: Infinity, pass: false, error: error instanceof Error ? error.message : String(error) };
}
