// Where a TAESD (madebyollin's tiny autoencoder, used as a fast decoder beside the model's VAE) comes
// from, as the page sends it to the engine worker, and how the page names it. It is cached like a
// model, under its own refs so the two never share a cache entry:
//   taesd:hf:owner/name@revision   taesd:file:<name>@<hash>   taesd:folder:<name>@<hash>

/** madebyollin/taesd decodes SD 1.x and 2.x latents (4 channels, scaled as the UNet sees them). */
export const DEFAULT_TAESD_HUB_ID = 'madebyollin/taesd';

export type TaesdSource =
  /** `consented`: the person saw the size and chose Download. */
  | { kind: 'hub'; id: string; revision: string; endpoint: string; consented: boolean }
  /** One safetensors file: a diffusers AutoencoderTiny's weights or taesd_decoder.safetensors. */
  | { kind: 'file'; file: File }
  /** A diffusers AutoencoderTiny folder: config.json and diffusion_pytorch_model.safetensors. */
  | { kind: 'folder'; name: string; files: { path: string; file: File }[] }
  | { kind: 'cached'; key: string };

export interface TaesdDetails {
  ref: string;
  /** For people: the repo id or the file or folder name. */
  label: string;
  key: string;
  latentChannels: number;
}

/** What the page knows of the TAESD: loaded, and whether the current model can use it. */
export interface TaesdState {
  details: TaesdDetails;
  /** Given to the current model's pipeline; false when its latent channels differ (`message` says). */
  attached: boolean;
  message?: string;
}

export const TAESD_REF_PREFIX = 'taesd:';
