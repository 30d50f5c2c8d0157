// A diffusers pipeline folder assembled from the shared golden fixtures: unet-sd15-tiny,
// clip-text-tiny and vae-kl-tiny, with a small word-level tokenizer and DDIM/Euler scheduler config
// written here. The weights are random, so images are noise-like, but every stage is the real one.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryModelFolder, type ModelFolder } from '../../src/engine/weights/model-folder';
import { fixturesDir } from '../../scripts/golden/fixtures-dir';

const WORDS = ['a', 'photo', 'of', 'cat', 'dog', 'red', 'blue', 'smiling', 'face', 'blurry', 'ugly'];

export function fixturePipelineFolder(): ModelFolder {
  return memoryModelFolder('fixture-pipeline', fixturePipelineFiles());
}

/** The folder's files by diffusers path (the e2e tests serve them over HTTP as well). */
export function fixturePipelineFiles(): Record<string, Uint8Array | string> {
  const root = fixturesDir();
  const read = (dir: string, file: string) => new Uint8Array(readFileSync(join(root, dir, file)));
  const vocab: Record<string, number> = { '[UNK]': 0, '[PAD]': 1, '[BOS]': 998, '[EOS]': 999 };
  WORDS.forEach((w, i) => (vocab[w] = i + 2));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  const scheduler = {
    _class_name: 'EulerDiscreteScheduler',
    num_train_timesteps: 1000,
    beta_start: 0.00085,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    prediction_type: 'epsilon',
    timestep_spacing: 'leading',
    steps_offset: 1,
  };
  const modelIndex = {
    _class_name: 'StableDiffusionPipeline',
    unet: ['diffusers', 'UNet2DConditionModel'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'PreTrainedTokenizerFast'],
    scheduler: ['diffusers', 'EulerDiscreteScheduler'],
    vae: ['diffusers', 'AutoencoderKL'],
    attention_lab: { name: 'fixture pipeline', defaults: { sampler: 'euler', steps: 2, cfg: 5 } },
  };
  const files: Record<string, Uint8Array | string> = {
    'model_index.json': '',
    'scheduler/scheduler_config.json': JSON.stringify(scheduler),
    'tokenizer/tokenizer.json': JSON.stringify(tokenizer),
    'tokenizer/tokenizer_config.json': JSON.stringify({ pad_token: '[PAD]', unk_token: '[UNK]' }),
    'unet/config.json': read('unet-sd15-tiny', 'config.json'),
    'unet/diffusion_pytorch_model.safetensors': read('unet-sd15-tiny', 'diffusion_pytorch_model.safetensors'),
    'text_encoder/config.json': read('clip-text-tiny', 'config.json'),
    'text_encoder/model.safetensors': read('clip-text-tiny', 'model.safetensors'),
    'vae/config.json': read('vae-kl-tiny', 'config.json'),
    'vae/diffusion_pytorch_model.safetensors': read('vae-kl-tiny', 'diffusion_pytorch_model.safetensors'),
  };
  // As the shipped model does: its file list, so nothing it lacks is asked for.
  files['model_index.json'] = JSON.stringify({ ...modelIndex, attention_lab: { ...modelIndex.attention_lab, files: Object.keys(files) } });
  return files;
}
