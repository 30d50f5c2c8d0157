// Which files of a diffusers folder the engine needs, wherever the folder lives (the hub's file
// list, a picked directory): model_index.json, each component's config, the tokenizer and scheduler
// files, and one weight file per component, *.fp16.safetensors first (half the download, and the
// weights are f16 on the GPU anyway). Each is stored under the name the engine reads.

export interface ListedFile {
  path: string;
  size: number;
}

export interface PlannedFile {
  /** Where it is in the source. */
  from: string;
  /** Where the cached folder keeps it. */
  to: string;
  size: number;
}

const WEIGHTS: Record<string, string> = { unet: 'diffusion_pytorch_model', vae: 'diffusion_pytorch_model', text_encoder: 'model' };
/** Parts of pipelines the engine does not run: refused before anything is downloaded. */
const UNSUPPORTED: Record<string, string> = {
  text_encoder_2: 'a second text encoder (SDXL)',
  transformer: 'a transformer instead of a UNet (SD3, Flux, PixArt)',
  prior: 'a prior (Kandinsky, Würstchen)',
  image_encoder: 'an image encoder',
};

/** The files to fetch for `listed` (paths relative to the folder), or an error naming what is missing. */
export function planDiffusersFiles(listed: readonly ListedFile[], where: string): PlannedFile[] {
  const byPath = new Map(listed.map((f) => [f.path.replace(/^\/+/, ''), f]));
  if (!byPath.has('model_index.json')) {
    const singles = [...byPath.keys()].filter((p) => /\.(safetensors|ckpt|pt|pth|bin)$/i.test(p) && !p.includes('/'));
    const hint = singles.length ? ` It holds ${singles.slice(0, 3).join(', ')}: open a single file with "Open .safetensors file…" instead.` : '';
    throw new Error(`${where}: no model_index.json, so this is not a diffusers pipeline folder.${hint}`);
  }
  for (const [dir, what] of Object.entries(UNSUPPORTED)) {
    if ([...byPath.keys()].some((p) => p.startsWith(`${dir}/`))) throw new Error(`${where} has ${what} (${dir}/): Attention Lab runs Stable Diffusion 1.x and 2.x UNets only`);
  }
  const plan: PlannedFile[] = [];
  const take = (path: string, to = path) => {
    const file = byPath.get(path);
    if (file) plan.push({ from: path, to, size: file.size });
    return !!file;
  };
  take('model_index.json');
  for (const path of ['scheduler/scheduler_config.json', 'unet/config.json', 'text_encoder/config.json']) {
    if (!take(path)) throw new Error(`${where}: ${path} is missing`);
  }
  const tokenizer = [...byPath.keys()].filter((p) => p.startsWith('tokenizer/') && /\.(json|txt)$/.test(p));
  if (!tokenizer.length) throw new Error(`${where}: tokenizer/ is missing (vocab.json and merges.txt, or tokenizer.json)`);
  tokenizer.forEach((p) => take(p));
  const hasVae = take('vae/config.json');
  for (const [dir, base] of Object.entries(WEIGHTS)) {
    if (dir === 'vae' && !hasVae) continue;
    const candidates = [`${dir}/${base}.fp16.safetensors`, `${dir}/${base}.safetensors`];
    const found = candidates.find((c) => byPath.has(c));
    if (found) {
      take(found, `${dir}/${base}.safetensors`);
      continue;
    }
    const sharded = [...byPath.keys()].some((p) => p.startsWith(`${dir}/`) && p.endsWith('.safetensors.index.json'));
    const pickle = [...byPath.keys()].filter((p) => p.startsWith(`${dir}/`) && /\.(bin|ckpt|pt|pth)$/.test(p));
    if (sharded) throw new Error(`${where}: ${dir}/ is split into several safetensors shards, which Attention Lab does not read yet`);
    if (pickle.length) throw new Error(`${where}: ${dir}/ has only pickle weights (${pickle[0]}), which can run code when loaded; Attention Lab reads safetensors only`);
    throw new Error(`${where}: ${dir}/${base}.safetensors is missing`);
  }
  return plan;
}

/** Picked files by their path inside the picked folder: the folder holding model_index.json
 * (the shallowest one) is the root, so a user may pick the model's folder or one above it. */
export function relativeToModelRoot<T extends { path: string }>(files: readonly T[]): T[] {
  const indexes = files.filter((f) => f.path === 'model_index.json' || f.path.endsWith('/model_index.json'));
  if (!indexes.length) return [...files];
  const root = indexes.map((f) => f.path.slice(0, -'model_index.json'.length)).sort((a, b) => a.length - b.length)[0];
  return files.filter((f) => f.path.startsWith(root)).map((f) => ({ ...f, path: f.path.slice(root.length) }));
}
