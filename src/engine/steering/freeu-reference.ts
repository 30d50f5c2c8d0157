// FreeU's CPU reference, as ComfyUI defines it (comfy_extras/nodes_freelunch.py, from ChenyangSi/FreeU):
// the output-block patch that every decoder resnet's input goes through, with Fourier_filter done by
// a real 2-D DFT (any size, odd ones too) and its mask cut by Python's slice rules. The GPU kernel
// (kernels/freeu.ts) takes a shortcut for threshold 1; tests/freeu.test.ts holds it to this.

/** FreeU's four factors and which node: 1 = FreeU, 2 = FreeU_V2. */
export interface FreeUFactorSet {
  version: 1 | 2;
  b1: number;
  b2: number;
  s1: number;
  s2: number;
}

/** The (b, s) for a hidden state of `channels`, as ComfyUI's scale_dict picks it: by channel count
 * (model_channels·4 → b1, s1; ·2 → b2, s2), or undefined. diffusers' enable_freeu picks by up-block
 * index instead, which differs where two up blocks share a channel count (SD 1.5: 1280 twice). */
export function freeuScaleFor(channels: number, modelChannels: number, f: Readonly<FreeUFactorSet>): { b: number; s: number } | undefined {
  if (channels === modelChannels * 4) return { b: f.b1, s: f.s1 };
  if (channels === modelChannels * 2) return { b: f.b2, s: f.s2 };
  return undefined;
}

/** Python's slice a:b on a length-n axis, as the indices it takes. */
function pySlice(start: number, stop: number, n: number): number[] {
  const norm = (i: number) => (i < 0 ? Math.max(0, i + n) : Math.min(i, n));
  const out: number[] = [];
  for (let i = norm(start); i < norm(stop); i++) out.push(i);
  return out;
}

/** 1-D DFT of complex rows in place along one axis: X[k] = Σ x[j]·e^{sign·2πi·jk/n}. Float64. */
function dftAxis(re: Float64Array, im: Float64Array, h: number, w: number, alongRows: boolean, sign: number): void {
  const n = alongRows ? w : h;
  const lines = alongRows ? h : w;
  const at = (line: number, j: number) => (alongRows ? line * w + j : j * w + line);
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let line = 0; line < lines; line++) {
    for (let k = 0; k < n; k++) {
      let sr = 0;
      let si = 0;
      for (let j = 0; j < n; j++) {
        // (j·k mod n) keeps the angle small, so cos and sin stay exact to float64.
        const angle = (sign * 2 * Math.PI * ((j * k) % n)) / n;
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const xr = re[at(line, j)];
        const xi = im[at(line, j)];
        sr += xr * c - xi * s;
        si += xr * s + xi * c;
      }
      outRe[k] = sr;
      outIm[k] = si;
    }
    for (let k = 0; k < n; k++) {
      re[at(line, k)] = outRe[k];
      im[at(line, k)] = outIm[k];
    }
  }
}

/** The 2-D DFT of a real plane [h, w] (torch.fft.fftn over the last two dims), float64. */
export function dft2(plane: ArrayLike<number>, h: number, w: number): { re: Float64Array; im: Float64Array } {
  const re = Float64Array.from(plane);
  const im = new Float64Array(h * w);
  dftAxis(re, im, h, w, true, -1);
  dftAxis(re, im, h, w, false, -1);
  return { re, im };
}

/** The real part of the inverse 2-D DFT (torch.fft.ifftn(...).real). */
export function idft2Real(re: Float64Array, im: Float64Array, h: number, w: number): Float64Array {
  const r = Float64Array.from(re);
  const i = Float64Array.from(im);
  dftAxis(r, i, h, w, true, 1);
  dftAxis(r, i, h, w, false, 1);
  return r.map((v) => v / (h * w));
}

/**
 * ComfyUI's Fourier_filter on x [B, C, H, W]: fftn over (H, W), fftshift, the block
 * [crow−t : crow+t, ccol−t : ccol+t] (crow = H//2, ccol = W//2, Python slices) times `scale`,
 * ifftshift, ifftn, real part. Each plane is its own transform.
 */
export function fourierFilter(x: Float32Array, [b, c, h, w]: readonly number[], threshold: number, scale: number): Float32Array {
  const out = new Float32Array(x.length);
  const crow = Math.floor(h / 2);
  const ccol = Math.floor(w / 2);
  // fftshift puts frequency k at index (k + n//2) mod n, so shifted index i holds (i − n//2) mod n.
  const rows = pySlice(crow - threshold, crow + threshold, h).map((i) => (((i - crow) % h) + h) % h);
  const cols = pySlice(ccol - threshold, ccol + threshold, w).map((i) => (((i - ccol) % w) + w) % w);
  for (let plane = 0; plane < b * c; plane++) {
    const { re, im } = dft2(x.subarray(plane * h * w, (plane + 1) * h * w), h, w);
    for (const u of rows) {
      for (const v of cols) {
        re[u * w + v] *= scale;
        im[u * w + v] *= scale;
      }
    }
    out.set(idft2Real(re, im, h, w), plane * h * w);
  }
  return out;
}

/**
 * The FreeU patch on one decoder resnet's input: h [B, Ch, H, W] (the hidden state) and hsp
 * [B, Cs, H, W] (the skip), for the (b, s) of h's level. v1: h[:, :Ch/2] *= b. v2: hm = mean of h
 * over channels, scaled to 0–1 per item by its min and max over pixels, h[:, :Ch/2] *= (b−1)·hm + 1.
 * Both: hsp = Fourier_filter(hsp, 1, s). Where an item's hm is flat (max = min) ComfyUI divides 0 by
 * 0 and the whole image turns NaN; we take hm = 0 there (h unscaled), as the kernel does.
 */
export function freeuPatch(
  h: Float32Array,
  hShape: readonly number[],
  hsp: Float32Array,
  hspShape: readonly number[],
  version: 1 | 2,
  b: number,
  s: number,
): { h: Float32Array; hsp: Float32Array } {
  const [n, ch, height, width] = hShape;
  const hw = height * width;
  const out = Float32Array.from(h);
  const half = Math.floor(ch / 2);
  for (let item = 0; item < n; item++) {
    let hm = new Float64Array(hw).fill(0);
    if (version === 2) {
      for (let c = 0; c < ch; c++) for (let p = 0; p < hw; p++) hm[p] += h[(item * ch + c) * hw + p];
      hm = hm.map((v) => v / ch);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of hm) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
      hm = hi > lo ? hm.map((v) => (v - lo) / (hi - lo)) : hm.fill(0);
    }
    for (let c = 0; c < half; c++) {
      for (let p = 0; p < hw; p++) {
        const factor = version === 1 ? b : (b - 1) * hm[p] + 1;
        out[(item * ch + c) * hw + p] *= factor;
      }
    }
  }
  return { h: out, hsp: fourierFilter(hsp, hspShape, 1, s) };
}
