// clip_multipliers cases: transformers' CLIPTextModel with every self_attn.{q,k,v,out}_proj patched
// (ComfyUI CLIPAttentionMultiply) against our encoder reading the factors at run time. The reference's
// penultimate state is hidden_states[-2] before final_layer_norm; ours (clip skip) is after it, so the
// reference's gets final_layer_norm here, on the CPU, before the comparison.
import { reference as normReference } from '../../src/engine/kernels/norm';
import { ClipTextEncoder } from '../../src/engine/nn/clip-text';
import { readAllF32 } from '../../src/engine/weights/safetensors';
import { subFolder } from '../../src/engine/weights/model-folder';
import { compare } from './compare';
import type { SteeringChecker } from './steering-fixture';

export const checkClipMultipliers: SteeringChecker = async function* (fixture, c) {
  const encoder = await ClipTextEncoder.load(fixture.gpu, fixture.folder, 'text_encoder');
  try {
    const inputIds = fixture.get('clip.input_ids');
    const [batch] = inputIds.shape;
    const ids = Int32Array.from(inputIds.data, Math.round);
    const multipliers = { q: c.q as number, k: c.k as number, v: c.v as number, out: c.multiplier_out as number };
    const last = await encoder.encode(ids, batch, { multipliers });
    yield compare(`${c.out}.last_hidden_state`, await encoder.readF32(last), fixture.get(`${c.out}.last_hidden_state`).data);

    const weights = await readAllF32(await subFolder(fixture.folder, 'text_encoder').open('model.safetensors'));
    const norm = (name: string) => weights.get(`text_model.final_layer_norm.${name}`)!.data;
    const hidden = encoder.hiddenSize;
    const penultimate = normReference.layerNorm(fixture.get(`${c.out}.penultimate_hidden_state`).data, hidden, norm('weight'), norm('bias'), encoder.spec.layerNormEps);
    const skipped = await encoder.encode(ids, batch, { multipliers, clipSkip: true });
    yield compare(`${c.out}.penultimate_hidden_state (after final_layer_norm)`, await encoder.readF32(skipped), penultimate);
  } finally {
    encoder.destroy();
  }
};
