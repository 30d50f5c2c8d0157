// Seeded Gaussian noise that is bit-identical in every browser and in Node.
//
// The algorithm, complete enough to reproduce in Python:
//   1. Uniform words: Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as
//      1, 2, 3"; Random123's philox4x32), key (k0, k1) = (seed, stream), counter
//      (block, 0, 0, 0) for block = 0, 1, 2, … . Each block gives four uint32 words x0..x3.
//   2. Box–Muller on each pair (x0, x1) and (x2, x3), in float64:
//        u1 = (x0 + 0.5) / 2^32,  u2 = (x1 + 0.5) / 2^32        (both in (0, 1), never 0)
//        r = sqrt(−2 ln u1),  z0 = r·cos(2π·u2),  z1 = r·sin(2π·u2)
//      then each z is rounded to float32. Output i is word i of the sequence z0 z1 z0' z1' …,
//      so a shorter request is a prefix of a longer one.
//   3. ln, cos and sin are computed below with +, −, ×, ÷ and sqrt only, which IEEE 754 rounds
//      the same on every engine (Math.log/cos/sin are only "implementation-approximated" by the
//      ECMAScript spec). They are within ~2 float64 ulps of the exact values, so Python's
//      math.log/cos/sin give the same float32 outputs except, rarely, at a rounding boundary
//      (about 1 value in 10^8); porting these few lines gives identical bits.
// `stream` separates independent sequences under one seed: the initial latents use stream 0,
// ancestral step i uses stream i + 1.

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9; // golden ratio
const PHILOX_W1 = 0xbb67ae85; // sqrt(3) − 1

/** High 32 bits of the 64-bit product of two uint32, from 16-bit halves (exact in float64). */
function mulHigh32(a: number, b: number): number {
  const aLow = a & 0xffff;
  const aHigh = a >>> 16;
  const bLow = b & 0xffff;
  const bHigh = b >>> 16;
  const cross1 = aLow * bHigh;
  const cross2 = aHigh * bLow;
  const carry = (((aLow * bLow) >>> 16) + (cross1 & 0xffff) + (cross2 & 0xffff)) >>> 16;
  return (aHigh * bHigh + (cross1 >>> 16) + (cross2 >>> 16) + carry) >>> 0;
}

/** Philox4x32-10: ten rounds of the counter (c0..c3) under key (k0, k1), written to `out`. */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  for (let round = 0; round < 10; round++) {
    const high0 = mulHigh32(PHILOX_M0, c0);
    const low0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const high1 = mulHigh32(PHILOX_M1, c2);
    const low1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (high1 ^ c1 ^ k0) >>> 0;
    c1 = low1;
    c2 = (high0 ^ c3 ^ k1) >>> 0;
    c3 = low0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

const LN2_HIGH = 6.93147180369123816490e-1; // ln 2 split as in fdlibm: LN2_HIGH·n is exact for |n| < 2^11
const LN2_LOW = 1.90821492927058770002e-10;
const HALF_PI = Math.PI / 2;
/** 1/n! for the sine and cosine series, by repeated division (deterministic, like all of this). */
const INVERSE_FACTORIAL = [1];
for (let n = 1; n <= 18; n++) INVERSE_FACTORIAL.push(INVERSE_FACTORIAL[n - 1] / n);
// Tables of values the formulas below would otherwise compute per call, the same IEEE results
// (a generation's noise is on the path to its first step): 1/(2k+1) of the atanh series, 2^e.
const INVERSE_ODD = Array.from({ length: 12 }, (_, k) => 1 / (2 * k + 1));
const POW2 = Array.from({ length: 34 }, (_, e) => 2 ** e);

/** ln((word + 0.5) / 2^32), word a uint32: ln(m) + e·ln 2 with m in [√½, √2], ln m = 2·atanh((m−1)/(m+1)). */
export function logOfUniform(word: number): number {
  const odd = 2 * word + 1; // (word + 0.5)·2 = odd, so u = odd / 2^33
  let exponent = word === 0 ? 0 : 32 - Math.clz32(word); // odd lies in [2^e, 2^(e+1))
  let mantissa = odd / POW2[exponent];
  if (mantissa > Math.SQRT2) {
    mantissa /= 2;
    exponent += 1;
  }
  const f = (mantissa - 1) / (mantissa + 1);
  const s = f * f;
  // atanh series 1 + s/3 + s²/5 + … + s^11/23; |f| ≤ 0.172, so the next term is below 2^−60.
  let series = INVERSE_ODD[11];
  for (let k = 10; k >= 1; k--) series = INVERSE_ODD[k] + s * series;
  const logMantissa = 2 * f + 2 * f * s * series;
  const n = exponent - 33;
  return n * LN2_HIGH + (logMantissa + n * LN2_LOW);
}

/** [cos, sin] of 2π·(word + 0.5)/2^32: the top two bits pick the quadrant, Taylor series on [0, π/4]. */
export function cosSinOfUniform(word: number): [number, number] {
  const out = new Float64Array(2);
  cosSinInto(word, out);
  return [out[0], out[1]];
}

/** cosSinOfUniform into out[0], out[1], without allocating. */
function cosSinInto(word: number, out: Float64Array): void {
  const quadrant = word >>> 30;
  const turn = ((word & 0x3fffffff) + 0.5) / 2 ** 30; // fraction of the quadrant, in (0, 1)
  const upper = turn > 0.5;
  const angle = (upper ? 1 - turn : turn) * HALF_PI; // in (0, π/4]
  const square = angle * angle;
  let sin = INVERSE_FACTORIAL[17];
  for (let n = 15; n >= 1; n -= 2) sin = INVERSE_FACTORIAL[n] - square * sin;
  sin *= angle;
  let cos = INVERSE_FACTORIAL[18];
  for (let n = 16; n >= 0; n -= 2) cos = INVERSE_FACTORIAL[n] - square * cos;
  // sin(π/2 − a) = cos a: the quadrant's upper half swaps them.
  const c = upper ? sin : cos;
  const s = upper ? cos : sin;
  // Quadrant q turns (c, s) by q right angles.
  out[0] = quadrant === 0 ? c : quadrant === 1 ? -s : quadrant === 2 ? -c : s;
  out[1] = quadrant === 0 ? s : quadrant === 1 ? c : quadrant === 2 ? -s : -c;
}

function checkU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`gaussianNoise: ${name} must be an integer in [0, 2^32), got ${value}`);
}

/** `count` standard normal float32 values for (seed, stream); see the top of this file. */
export function gaussianNoise(seed: number, count: number, stream = 0): Float32Array {
  checkU32('seed', seed);
  checkU32('stream', stream);
  if (!Number.isInteger(count) || count < 0) throw new Error(`gaussianNoise: count must be a non-negative integer, got ${count}`);
  const out = new Float32Array(count);
  const words = new Uint32Array(4);
  const cosSin = new Float64Array(2);
  for (let block = 0; block * 4 < count; block++) {
    philox4x32(block, 0, 0, 0, seed, stream, words);
    for (let pair = 0; pair < 2; pair++) {
      const i = block * 4 + pair * 2;
      if (i >= count) break;
      const radius = Math.sqrt(-2 * logOfUniform(words[pair * 2]));
      cosSinInto(words[pair * 2 + 1], cosSin);
      out[i] = radius * cosSin[0];
      if (i + 1 < count) out[i + 1] = radius * cosSin[1];
    }
  }
  return out;
}

/** A fresh seed in [0, 2^32), from the platform's cryptographic generator where there is one. */
export function randomSeed(): number {
  const cryptoSource = globalThis.crypto;
  if (cryptoSource?.getRandomValues) return cryptoSource.getRandomValues(new Uint32Array(1))[0];
  return Math.floor(Math.random() * 2 ** 32);
}
