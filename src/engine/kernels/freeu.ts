// FreeU / FreeU_V2 on a decoder resnet's input, fused into its skip concatenation (shaders/freeu.wgsl):
// four dispatches in place of the plain concat, recorded only while FreeU is on. The factors are read
// from a small storage buffer at run time (packFreeUFactors), so changing them never re-records.
// The skip's Fourier_filter(threshold 1) is done without an FFT, from four DFT components per plane;
// steering/freeu-reference.ts holds the FFT definition, and tests/freeu.test.ts holds this to it.
// Cost (SwiftShader, 2 shared cores; SD 1.5 at 512×512 with CFG, its 10 patched concats): 13.0 s against
// 1.3 s for the plain concats, most of it the skip's sums (64-wide workgroups; 256-wide with indexed
// arrays took 78 s). On a GPU these are a few small dispatches per level.
import wgsl from '../../../shaders/freeu.wgsl?raw';
import { grid1d, type Recorder } from '../gpu/recorder';
import { params } from '../gpu/params';
import { assertShape, numel, shapeString, type Tensor } from '../gpu/tensor';

const WORKGROUP = 256;
/** Sums kept per (item, skip channel) by skip_low_frequencies (SUMS in freeu.wgsl). */
const SUMS = 8;

/** What the UNet's factor buffer holds: the node (1 FreeU, 2 FreeU_V2) and (b, s) for each level. */
export interface FreeUFactors {
  version: 1 | 2;
  /** Level 0: hidden states of model_channels·4 channels. */
  b1: number;
  s1: number;
  /** Level 1: model_channels·2. */
  b2: number;
  s2: number;
}

/** Every factor 1: the patch changes nothing (a FreeU outside its step range). */
export const NEUTRAL_FREEU_FACTORS: Readonly<FreeUFactors> = { version: 1, b1: 1, s1: 1, b2: 1, s2: 1 };

/** Floats in the factor buffer. */
export const FREEU_FACTOR_FLOATS = 8;

/** The factor buffer's contents, in freeu.wgsl's order. */
export function packFreeUFactors(f: Readonly<FreeUFactors>): Float32Array {
  const out = new Float32Array(FREEU_FACTOR_FLOATS);
  out.set([f.version, f.b1, f.s1, f.b2, f.s2]);
  return out;
}

/** Which level a hidden state of `channels` is, as ComfyUI's scale_dict picks by channel count:
 * 0 for model_channels·4, 1 for ·2, else undefined (no patch). */
export function freeuLevel(channels: number, modelChannels: number): 0 | 1 | undefined {
  if (channels === modelChannels * 4) return 0;
  if (channels === modelChannels * 2) return 1;
  return undefined;
}

/** cat([FreeU(h), Fourier_filter(hsp)], dim=1) for `level`, with the factors in `factors` (a buffer of
 * FREEU_FACTOR_FLOATS floats): h [N, Ch, H, W] and hsp [N, Cs, H, W] → [N, Ch+Cs, H, W]. */
export function freeuConcat(rec: Recorder, h: Tensor, hsp: Tensor, opts: { level: 0 | 1; factors: GPUBuffer }): Tensor {
  if (h.shape.length !== 4) throw new Error(`freeuConcat: expected h as [N, C, H, W], got ${shapeString(h.shape)} (${h.label})`);
  const [n, ch, height, width] = h.shape;
  assertShape(hsp, [n, undefined, height, width], `freeuConcat skip (h is ${shapeString(h.shape)})`);
  const cs = hsp.shape[1];
  const hw = height * width;
  const label = `freeu(${h.label}, ${hsp.label})`;
  const pipeline = (entry: string) => rec.gpu.pipeline('freeu', wgsl, entry);
  const uniforms = (count: number) => params().u32(count, ch, cs, height, width, opts.level);

  const sums = rec.alloc([n * cs, SUMS], `${label}:sums`);
  const means = rec.alloc([n, hw], `${label}:means`);
  const ranges = rec.alloc([n, 2], `${label}:ranges`);
  rec.dispatch({ label: `${label}:skip-low-frequencies`, pipeline: pipeline('skip_low_frequencies'), params: uniforms(n * cs), bindings: [null, hsp, null, sums, null, null, null], workgroups: grid1d(n * cs) });
  rec.dispatch({ label: `${label}:channel-mean`, pipeline: pipeline('channel_mean'), params: uniforms(n * hw), bindings: [h, null, null, null, means, null, null], workgroups: grid1d(Math.ceil((n * hw) / WORKGROUP)) });
  rec.dispatch({ label: `${label}:mean-range`, pipeline: pipeline('mean_range'), params: uniforms(n), bindings: [null, null, null, null, means, ranges, null], workgroups: [n] });
  const out = rec.alloc([n, ch + cs, height, width], label);
  const count = numel(out.shape);
  rec.dispatch({ label, pipeline: pipeline('freeu_concat'), params: uniforms(count), bindings: [h, hsp, opts.factors, sums, means, ranges, out], workgroups: grid1d(Math.ceil(count / WORKGROUP)) });
  rec.release(sums, means, ranges);
  return out;
}

// CPU reference of the shortcut the kernel takes (the FFT definition is steering/freeu-reference.ts).
export const reference = {
  /** hsp + (s − 1)·Re(inverse DFT of its frequencies {0, −1}²), per plane, in float64. */
  skipLowFrequencies(hsp: Float32Array, [n, c, height, width]: readonly number[], s: number): Float32Array {
    const hw = height * width;
    const out = new Float32Array(hsp.length);
    const rows = height > 1 ? [0, height - 1] : [0];
    const cols = width > 1 ? [0, width - 1] : [0];
    for (let plane = 0; plane < n * c; plane++) {
      // The four (or fewer, on axes of length 1) DFT components X(u, v) = Σ x·e^{−2πi(uy/H + vx/W)}.
      const components = rows.flatMap((u) =>
        cols.map((v) => {
          let re = 0;
          let im = 0;
          for (let y = 0; y < height; y++) {
            for (let x = 0; x < width; x++) {
              const angle = -2 * Math.PI * ((u * y) / height + (v * x) / width);
              const value = hsp[plane * hw + y * width + x];
              re += value * Math.cos(angle);
              im += value * Math.sin(angle);
            }
          }
          return { u, v, re, im };
        }),
      );
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          let low = 0;
          for (const { u, v, re, im } of components) {
            const angle = 2 * Math.PI * ((u * y) / height + (v * x) / width);
            low += re * Math.cos(angle) - im * Math.sin(angle);
          }
          const at = plane * hw + y * width + x;
          out[at] = hsp[at] + ((s - 1) * low) / hw;
        }
      }
    }
    return out;
  },
};
