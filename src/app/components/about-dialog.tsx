import { useApp } from '../state/store';
import { ModalDialog } from './modal-dialog';

/** What is crediting the default model's data, as its ModelInfo.credits say, or our record of it. */
const FALLBACK_CREDITS = [
  'Emoji images: Noto Emoji by Google (Apache-2.0) and Twemoji by Twitter (CC-BY-4.0), via emoji-datasource.',
  'Emoji names and tags: emojibase (MIT).',
];

export function AboutDialog({ open, onClose }: { open: boolean; onClose(): void }) {
  const info = useApp((s) => s.engine.info);
  const adapter = useApp((s) => s.engine.adapter);
  const loadMs = useApp((s) => s.engine.loadMs);
  const credits = info?.credits?.length ? info.credits : FALLBACK_CREDITS;
  return (
    <ModalDialog open={open} onClose={onClose} title="About Attention Lab" className="about">
      <p>
        Attention Lab runs a diffusion UNet on your GPU with WebGPU compute shaders, in a Web Worker, and scales the query, key, value and output projections of its attention
        layers while you drag — what ComfyUI’s <code>UNetSelfAttentionMultiply</code> and <code>UNetCrossAttentionMultiply</code> nodes do, live.
      </p>
      <p>
        Those nodes multiply the weights and biases of <code>to_q</code>, <code>to_k</code>, <code>to_v</code> and <code>to_out.0</code> in every <code>attn1</code> (self)
        or <code>attn2</code> (cross) module. Scaling q and k scales every attention score by q·k: the inverse temperature of the softmax. v scales what attention
        gathers; out scales the whole branch.
      </p>
      <h3>Model{info ? `: ${info.name}` : ''}</h3>
      {info && (
        <p>
          {info.width}×{info.height} pixels, {info.sites.length} attention modules
          {adapter ? `, running on ${adapter}` : ''}
          {loadMs ? `, loaded in ${(loadMs / 1000).toFixed(1)} s` : ''}.
        </p>
      )}
      <h3>Credits</h3>
      <ul>
        {credits.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ul>
    </ModalDialog>
  );
}
