// Parity of the shipped default model with PyTorch (tests/fixtures/default-model, made by
// training/export.py in PyTorch f32 with TF32 off): tokens, text embeddings, the first UNet step,
// and — unless `firstStepOnly` — the final image of a whole sampling at the default settings.
// Each check: rel = max|engine − torch| / max|torch| ≤ 1e-2.
import type { GpuContext } from '../../src/engine/gpu/gpu-context';
import { ClipTextEncoder } from '../../src/engine/nn/clip-text';
import { PromptTokenizer } from '../../src/engine/nn/tokenizer';
import { neutralSiteTable } from '../../src/engine/nn/unet-sites';
import { DiffusionPipeline } from '../../src/engine/sampling/pipeline';
import type { GenerateRequest } from '../../src/engine';
import type { ModelFolder } from '../../src/engine/weights/model-folder';
import { readAllF32 } from '../../src/engine/weights/safetensors';
import { compare, type GoldenCheck } from './compare';

export const PARITY_TOLERANCE = 1e-2;

interface ParitySettings {
  prompts: string[];
  sampler: GenerateRequest['sampler'];
  steps: number;
  cfg: number;
}

const concat = (...parts: Float32Array[]) => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

export async function* defaultModelParity(gpu: GpuContext, model: ModelFolder, fixture: ModelFolder, opts: { firstStepOnly?: boolean } = {}): AsyncGenerator<GoldenCheck> {
  const settings = await fixture.readJson<ParitySettings>('parity.json');
  const io = await readAllF32(await fixture.open('parity.safetensors'));
  const tensor = (name: string) => {
    const t = io.get(name);
    if (!t) throw new Error(`parity.safetensors has no ${name}`);
    return t;
  };
  const slice = (name: string, i: number) => {
    const t = tensor(name);
    const size = t.data.length / t.shape[0];
    return t.data.subarray(i * size, (i + 1) * size);
  };
  const length = tensor('input_ids').shape[1];

  const tokenizer = await PromptTokenizer.load(model, 'tokenizer', length);
  const ids = concat(...settings.prompts.map((p) => Float32Array.from(tokenizer.encode(p))), Float32Array.from(tokenizer.encode('')));
  yield compare('token ids (prompts, empty prompt)', ids, concat(tensor('input_ids').data, tensor('uncond_input_ids').data), 0);

  const encoder = await ClipTextEncoder.load(gpu, model);
  try {
    const out = await encoder.encode(Int32Array.from(tensor('input_ids').data, Math.round), settings.prompts.length);
    yield compare('text_embeddings', await encoder.readF32(out), tensor('text_embeddings').data, PARITY_TOLERANCE);
  } finally {
    encoder.destroy();
  }

  const pipeline = await DiffusionPipeline.load(gpu, model);
  try {
    // One batch: [uncond per prompt..., prompt 0, prompt 1, ...] at the first timestep, as PyTorch ran it.
    const unet = pipeline.unet;
    const input = tensor('unet_input_step0');
    const [count, , height, width] = input.shape;
    const call = unet.prepare(2 * count, height, width, length);
    unet.setSiteTable(neutralSiteTable(unet.sites));
    const uncond = tensor('uncond_text_embeddings').data;
    gpu.write(call.sample.buffer, concat(input.data, input.data));
    gpu.write(call.timesteps.buffer, new Float32Array(2 * count).fill(tensor('timesteps').data[0]));
    gpu.write(call.context.buffer, concat(...new Array<Float32Array>(count).fill(uncond), tensor('text_embeddings').data));
    call.contextPlan.run();
    call.plan.run();
    const out = await gpu.readF32(call.output.buffer, 2 * input.data.length);
    yield compare('unet_out_step0_uncond', out.subarray(0, input.data.length), tensor('unet_out_step0_uncond').data, PARITY_TOLERANCE);
    yield compare('unet_out_step0_cond', out.subarray(input.data.length), tensor('unet_out_step0_cond').data, PARITY_TOLERANCE);
    if (opts.firstStepOnly) return;

    const base: Omit<GenerateRequest, 'prompt' | 'seed'> = { negativePrompt: '', steps: settings.steps, sampler: settings.sampler, cfg: settings.cfg, rules: [] };
    for (const [i, prompt] of settings.prompts.entries()) {
      const { latents } = await pipeline.sample({ ...base, prompt, seed: i }, { noise: slice('noise', i) });
      yield compare(`image "${prompt}"`, latents, slice('image', i), PARITY_TOLERANCE);
    }
    const multipliers: GenerateRequest = { ...base, prompt: settings.prompts[0], seed: 0, rules: [{ kind: 'attn1', target: { all: true }, multipliers: { q: 1.5, k: 1, v: 1.25, out: 0.8 } }] };
    const { latents } = await pipeline.sample(multipliers, { noise: slice('noise', 0) });
    yield compare('image_with_multipliers (attn1 q 1.5, v 1.25, out 0.8)', latents, tensor('image_with_multipliers').data, PARITY_TOLERANCE);
  } finally {
    pipeline.destroy();
  }
}
