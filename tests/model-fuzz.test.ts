// Broken model files, configs and tokenizers, made from the fixtures by seeded mutation, as a new
// user's downloads could reach the checker and the loaders. Every case must end in a result: a
// clear one-line error that names the file, or a pass (with warnings for NaN weights); never an
// uncaught exception, a hang, or memory out of proportion to the file.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from '../scripts/golden/fixtures-dir';
import { checkJsonFile, checkSafetensorsFile, runCheck, type CheckResult } from '../src/engine/sampling/model-check';
import { bytesSource } from '../src/engine/weights/byte-source';
import { encodeSafetensors } from '../src/engine/weights/safetensors';
import { rng } from './support/random';


const root = fixturesDir();
const read = (path: string) => new Uint8Array(readFileSync(join(root, path)));
const BASE_FILES = ['vae-kl-tiny/diffusion_pytorch_model.safetensors', 'clip-text-tiny/model.safetensors', 'taesd-tiny/diffusion_pytorch_model.safetensors'];
/** The bound for one case; generous against a slow shared CI machine's noise. */
const CASE_MS = 2000;

function headerOf(bytes: Uint8Array): { length: number; json: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> } {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return { length, json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) };
}

/** The file with its header replaced by `json` (the data section unchanged). */
function withHeader(bytes: Uint8Array, json: unknown, text = JSON.stringify(json)): Uint8Array {
  const { length } = headerOf(bytes);
  const header = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + header.byteLength + bytes.byteLength - 8 - length);
  new DataView(out.buffer).setUint32(0, header.byteLength, true);
  out.set(header, 8);
  out.set(bytes.subarray(8 + length), 8 + header.byteLength);
  return out;
}

type Mutation = { kind: string; bytes: Uint8Array; nanTensor?: string };

function mutate(base: Uint8Array, rand: () => number): Mutation {
  const pick = <T,>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
  const { length, json } = headerOf(base);
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  const name = pick(names);
  const kind = pick(['truncate', 'flip-header', 'flip-length', 'edit-offsets', 'edit-shape', 'edit-dtype', 'drop-tensor', 'duplicate', 'absurd-shape', 'nan', 'garbage-header', 'append']);
  const copy = base.slice();
  switch (kind) {
    case 'truncate':
      return { kind, bytes: base.slice(0, Math.floor(rand() * base.byteLength)) };
    case 'flip-header': {
      for (let i = 0; i < 1 + Math.floor(rand() * 4); i++) copy[8 + Math.floor(rand() * length)] ^= 1 << Math.floor(rand() * 8);
      return { kind, bytes: copy };
    }
    case 'flip-length':
      copy[Math.floor(rand() * 8)] ^= 1 << Math.floor(rand() * 8);
      return { kind, bytes: copy };
    case 'edit-offsets': {
      const offsets = json[name].data_offsets;
      offsets[Math.floor(rand() * 2)] += pick([-4, -2, -1, 1, 2, 4, 1e6, -1e6, 2 ** 40]);
      return { kind, bytes: withHeader(base, json) };
    }
    case 'edit-shape': {
      const shape = json[name].shape;
      if (shape.length) shape[Math.floor(rand() * shape.length)] = pick([0, 1, 2, 3, -1, 1.5, 2 ** 31, 1e308]);
      else shape.push(2);
      return { kind, bytes: withHeader(base, json) };
    }
    case 'edit-dtype':
      json[name].dtype = pick(['F8', 'I64', '__proto__', 'constructor', 'f32', '', 'F64', 'BF16']);
      return { kind, bytes: withHeader(base, json) };
    case 'drop-tensor':
      delete json[name];
      return { kind, bytes: withHeader(base, json) };
    case 'duplicate': {
      const text = JSON.stringify(json);
      const entry = `${JSON.stringify(name)}:${JSON.stringify(json[name])}`;
      return { kind, bytes: withHeader(base, json, text.replace(/^\{/, `{${entry},`)) };
    }
    case 'absurd-shape':
      json[name].shape = [2 ** 26, 2 ** 26, 2 ** 26];
      return { kind, bytes: withHeader(base, json) };
    case 'nan': {
      const t = json[name];
      const [begin, end] = t.data_offsets;
      const at = 8 + length + begin;
      // A NaN in the tensor's own dtype: all exponent bits and a mantissa bit set.
      if (end > begin && t.dtype === 'F32') new DataView(copy.buffer).setUint32(at, 0x7fc00000, true);
      else if (end > begin && (t.dtype === 'F16' || t.dtype === 'BF16')) new DataView(copy.buffer).setUint16(at, t.dtype === 'F16' ? 0x7e00 : 0x7fc0, true);
      else return { kind, bytes: copy };
      return { kind, bytes: copy, nanTensor: name };
    }
    case 'garbage-header': {
      const garbage = new Uint8Array(length);
      for (let i = 0; i < length; i++) garbage[i] = Math.floor(rand() * 256);
      copy.set(garbage, 8);
      return { kind, bytes: copy };
    }
    default: // append
      return { kind, bytes: Uint8Array.from([...base, ...new Array(1 + Math.floor(rand() * 16)).fill(0)]) };
  }
}

function expectClear(result: CheckResult, file: string): void {
  if (result.ok) return;
  expect(result.error, JSON.stringify(result)).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  expect(result.error!.length).toBeLessThan(600);
  expect(result.error).not.toMatch(/undefined|\[object Object\]|NaN bytes/);
}

describe('broken model files get a clear result', () => {
  it('1,200 mutated safetensors files: truncation, bit flips, header edits, NaN weights, absurd shapes', async () => {
    const bases = BASE_FILES.map(read);
    const seen = new Map<string, { ok: number; broken: number }>();
    for (let n = 0; n < 1200; n++) {
      const rand = rng(n + 1);
      const base = bases[n % bases.length];
      const m = mutate(base, rand);
      const file = `case-${n}-${m.kind}.safetensors`;
      const started = performance.now();
      const result = await runCheck(file, () => checkSafetensorsFile(bytesSource(file, m.bytes)));
      const ms = performance.now() - started;
      expect(ms, `case ${n} (${m.kind}) took ${ms} ms`).toBeLessThan(CASE_MS);
      expectClear(result, file);
      if (m.nanTensor) {
        expect(result.ok, `case ${n}: ${JSON.stringify(result)}`).toBe(true);
        expect(result.warnings.join('\n')).toContain(`tensor "${m.nanTensor}" holds`);
      }
      if (['truncate', 'flip-length', 'drop-tensor', 'duplicate', 'absurd-shape', 'append'].includes(m.kind) && m.bytes.byteLength !== base.byteLength) {
        expect(result.ok, `case ${n} (${m.kind}) should be refused`).toBe(false);
      }
      const tally = seen.get(m.kind) ?? { ok: 0, broken: 0 };
      tally[result.ok ? 'ok' : 'broken']++;
      seen.set(m.kind, tally);
    }
    // Every kind of damage was tried, and the ones that always break a file were always refused.
    expect(seen.size).toBe(12);
    for (const kind of ['drop-tensor', 'duplicate', 'absurd-shape', 'garbage-header']) expect(seen.get(kind)!.ok, kind).toBe(0);
  }, 600_000);
});

describe('broken configs and tokenizers get a clear result', () => {
  const configs: Record<string, Record<string, unknown>> = {
    'unet/config.json': JSON.parse(readFileSync(join(root, 'unet-sd15-tiny/config.json'), 'utf8')),
    'vae/config.json': JSON.parse(readFileSync(join(root, 'vae-kl-tiny/config.json'), 'utf8')),
    'taesd/config.json': JSON.parse(readFileSync(join(root, 'taesd-tiny/config.json'), 'utf8')),
    'text_encoder/config.json': JSON.parse(readFileSync(join(root, 'clip-text-tiny/config.json'), 'utf8')),
    'scheduler/scheduler_config.json': { _class_name: 'DPMSolverMultistepScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type: 'epsilon' },
    'tokenizer/tokenizer.json': JSON.parse(readFileSync(new URL('../public/models/emoji-64/tokenizer/tokenizer.json', import.meta.url), 'utf8')),
  };
  const odd: unknown[] = [1e308, -1, 0, 1.5, 2 ** 31, -64, '', 'x', null, true, [], {}, [1e308], 'NaN', '__proto__', { type: 'Nope' }, [{}]];

  it('600 configs and tokenizers with a field set to an odd value', async () => {
    const names = Object.keys(configs);
    let refused = 0;
    for (let n = 0; n < 600; n++) {
      const rand = rng(10_000 + n);
      const name = names[n % names.length];
      const config = structuredClone(configs[name]);
      // A top-level field, or for the tokenizer one inside its parts.
      const target = name.startsWith('tokenizer') && rand() < 0.5 ? (config[['model', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder'][Math.floor(rand() * 5)]] as Record<string, unknown> | null) : config;
      const container = target && typeof target === 'object' ? target : config;
      const fields = Object.keys(container);
      const field = fields[Math.floor(rand() * fields.length)] ?? 'added';
      container[field] = odd[Math.floor(rand() * odd.length)];
      const file = `case-${n}/${name}`;
      const started = performance.now();
      const result = await runCheck(file, () => checkJsonFile(file, JSON.stringify(config)));
      expect(performance.now() - started).toBeLessThan(CASE_MS);
      expectClear(result, file);
      if (!result.ok) refused++;
    }
    expect(refused).toBeGreaterThan(200);
  });

  it('the cases the issue lists are refused by name', async () => {
    const tokenizer = configs['tokenizer/tokenizer.json'];
    const cases: [string, Record<string, unknown>, string][] = [
      ['tokenizer/tokenizer.json', { ...tokenizer, added_tokens: 'oops' }, '"added_tokens" is the string "oops", not a list'],
      ['tokenizer/tokenizer.json', { ...tokenizer, normalizer: {} }, '"normalizer".type is missing'],
      ['tokenizer/tokenizer.json', { ...tokenizer, model: { ...(tokenizer.model as object), vocab: {} } }, '"model.vocab" is empty'],
      ['unet/config.json', { ...configs['unet/config.json'], in_channels: 1e308 }, 'in_channels = 1e+308'],
      ['scheduler/scheduler_config.json', { ...configs['scheduler/scheduler_config.json'], beta_start: 0.5 }, 'beta_start = 0.5 must be below beta_end'],
    ];
    for (const [name, config, message] of cases) {
      const result = await runCheck(name, () => checkJsonFile(name, JSON.stringify(config)));
      expect(result.ok).toBe(false);
      expect(result.error).toContain(message);
      expect(result.error!.startsWith(name)).toBe(true);
    }
  });
});

describe('check-model reads single-file checkpoints as the playground does', () => {
  const sd2Dir = fileURLToPath(new URL('fixtures/sd2-single-file-tiny/', import.meta.url));
  const sd2Bytes = new Uint8Array(readFileSync(join(sd2Dir, 'model.safetensors')));
  const json = (file: string) => JSON.parse(readFileSync(join(sd2Dir, file), 'utf8')) as Record<string, unknown>;
  const config = { unet: json('config.json'), textEncoder: json('text_encoder/config.json'), vae: json('vae/config.json') };
  const check = (name: string, bytes: Uint8Array, options: Parameters<typeof checkSafetensorsFile>[1] = {}) => runCheck(name, () => checkSafetensorsFile(bytesSource(name, bytes), options));
  const tiny = (names: string[]) => encodeSafetensors(names.map((name) => ({ name, shape: [2], data: new Float32Array(2) })));

  it('an SD 2.x file with its configs passes; NaN in it is named by its own tensor name', async () => {
    expect(await check('sd2.safetensors', sd2Bytes, { config })).toEqual({ path: 'sd2.safetensors', ok: true, warnings: [] });
    const { length, json: header } = headerOf(sd2Bytes);
    const name = 'model.diffusion_model.out.2.bias';
    const broken = sd2Bytes.slice();
    const at = 8 + length + header[name].data_offsets[0];
    broken[at] = 0x00;
    broken[at + 1] = 0x7e; // an f16 NaN
    expect(header[name].dtype).toBe('F16');
    const result = await check('sd2.safetensors', broken, { config });
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([`sd2.safetensors: tensor "${name}" holds 1 non-finite value (NaN or Infinity); images made with it will be broken`]);
  });

  it('a config its shapes cannot tell is asked for, naming the file and the field', async () => {
    const result = await check('sd2.safetensors', sd2Bytes);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^sd2\.safetensors: UNet config: norm_num_groups = 32 does not divide block_out_channels 16/);
  });

  it('SDXL, LoRA, inpainting and pickle files are refused with what was found', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['xl.safetensors', tiny(['conditioner.embedders.1.model.ln_final.weight', 'model.diffusion_model.input_blocks.0.0.weight']), /^xl\.safetensors: an SDXL checkpoint \("conditioner\.embedders\.1\.model\.ln_final\.weight"\)/],
      ['lora.safetensors', tiny(['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight']), /^lora\.safetensors: a LoRA file \(keys like "lora_unet_down_blocks_0_attentions_0_proj_in\.lora_down\.weight"\)/],
      ['inpaint.safetensors', encodeSafetensors([{ name: 'model.diffusion_model.input_blocks.0.0.weight', shape: [320, 9, 3, 3], data: new Float32Array(320 * 9 * 9) }]), /^inpaint\.safetensors: an inpainting UNet \(9 input channels/],
      ['model.ckpt', sd2Bytes, /^model\.ckpt: a \.ckpt file is a PyTorch pickle checkpoint/],
      ['zipped.safetensors', Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 1, 2]), /^zipped\.safetensors: not a safetensors file: it is a ZIP archive/],
    ];
    for (const [name, bytes, message] of cases) {
      const result = await check(name, bytes);
      expect(result.ok, name).toBe(false);
      expect(result.error).toMatch(message);
    }
    // A diffusers component's weights are not a checkpoint: checked as plain safetensors.
    expect((await check('unet.safetensors', read('unet-sd15-tiny/diffusion_pytorch_model.safetensors'))).ok).toBe(true);
  });

  it('npm run check-model prints one JSON line per path and exits 1 when one is broken', () => {
    const lora = join(tmpdir(), `check-model-lora-${process.pid}.safetensors`);
    writeFileSync(lora, tiny(['lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight']));
    const run = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/vite-node/dist/cli.mjs', import.meta.url)), 'scripts/check-model.ts', '--', '--config-dir', sd2Dir, join(sd2Dir, 'model.safetensors'), lora], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    });
    rmSync(lora, { force: true });
    const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as CheckResult);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({ path: join(sd2Dir, 'model.safetensors'), ok: true, warnings: [] });
    expect(lines[1].ok).toBe(false);
    expect(lines[1].error).toMatch(/^check-model-lora-\d+\.safetensors: a LoRA file \(keys like "lora_te_text_model_encoder_layers_0_mlp_fc1\.lora_up\.weight"\)/);
    expect(run.status).toBe(1);
  }, 120_000);
});
