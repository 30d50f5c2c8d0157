import { useState } from 'react';
import type { AttentionSite } from '../../engine';
import { MULTIPLIER_PARTS, isNeutral, siteInTarget, type Target } from '../state/settings-schema';
import { useApp } from '../state/store';
import { MultiplierSlider } from './multiplier-slider';

const KINDS = [
  {
    which: 'self',
    title: 'Self-attention',
    module: 'attn1',
    about: 'How the picture looks at itself: layout, shape and texture stay consistent across it.',
  },
  {
    which: 'cross',
    title: 'Cross-attention',
    module: 'attn2',
    about: 'How the picture looks at the prompt: how much, and where, the words steer it.',
  },
] as const;

/**
 * The eight sliders of ComfyUI's UNetSelfAttentionMultiply and UNetCrossAttentionMultiply, the
 * blocks they act on, and what each factor does.
 */
export function AttentionPanel() {
  const settings = useApp((s) => s.settings);
  const setMultipliers = useApp((s) => s.setMultipliers);
  const [expert, setExpert] = useState(!isPartTarget(settings.target));
  const showExpert = expert || !isPartTarget(settings.target);
  return (
    <section className="panel attention-panel" aria-labelledby="attention-heading">
      <h2 id="attention-heading">Attention</h2>
      <TargetSelector expert={showExpert} onExpert={setExpert} />
      {KINDS.map((kind) => (
        <fieldset key={kind.which} className="attention-kind">
          <legend>
            {kind.title} <code>{kind.module}</code>
            <button
              type="button"
              className="link-button"
              disabled={isNeutral(settings[kind.which])}
              onClick={() => setMultipliers(kind.which, { q: 1, k: 1, v: 1, out: 1 })}
            >
              Reset all four
            </button>
          </legend>
          <p className="hint">{kind.about}</p>
          {MULTIPLIER_PARTS.map((part) => (
            <MultiplierSlider key={part} which={kind.which} part={part} />
          ))}
        </fieldset>
      ))}
      <dl className="explain">
        <dt>q · k</dt>
        <dd>How sharply attention focuses. The two multiply: above 1 each place attends to a few best matches; below 1 it spreads out, and 0 averages everything evenly.</dd>
        <dt>v</dt>
        <dd>How strongly what attention gathers is passed on.</dd>
        <dt>out</dt>
        <dd>How strongly the whole attention branch acts on the picture; 0 switches it off.</dd>
      </dl>
      <p className="hint">Drag, type a number, or use the arrow keys (±0.01; Page Up/Down ±0.1). Double-click a slider to reset it to 1.</p>
      {showExpert && <BlockList />}
    </section>
  );
}

const PART_OPTIONS: { value: Target; label: string }[] = [
  { value: 'all', label: 'All blocks' },
  { value: 'input', label: 'Input blocks (down)' },
  { value: 'middle', label: 'Middle block' },
  { value: 'output', label: 'Output blocks (up)' },
];

interface Block {
  comfyBlock: string;
  part: AttentionSite['part'];
  resolution: string;
  sites: AttentionSite[];
}

export function blocksOf(sites: readonly AttentionSite[]): Block[] {
  const blocks = new Map<string, Block>();
  for (const site of [...sites].sort((a, b) => a.index - b.index)) {
    let block = blocks.get(site.comfyBlock);
    if (!block) {
      block = { comfyBlock: site.comfyBlock, part: site.part, resolution: site.resolution, sites: [] };
      blocks.set(site.comfyBlock, block);
    }
    block.sites.push(site);
  }
  return [...blocks.values()];
}

function isPartTarget(target: Target): boolean {
  return PART_OPTIONS.some((o) => o.value === target);
}

/** All blocks, one UNet part, or (expert view) one block by its ComfyUI name. */
function TargetSelector({ expert: showExpert, onExpert }: { expert: boolean; onExpert(on: boolean): void }) {
  const target = useApp((s) => s.settings.target);
  const sites = useApp((s) => s.engine.info?.sites);
  const update = useApp((s) => s.update);
  const isPart = isPartTarget(target);
  const blocks = sites ? blocksOf(sites) : [];
  const affected = sites ? sites.filter((s) => siteInTarget(s, target)) : [];

  return (
    <div className="target">
      <div className="target-row">
        <label className="field-label" htmlFor="target-select">
          Acts on
        </label>
        <select id="target-select" value={target} onChange={(e) => update({ target: e.target.value })}>
          {PART_OPTIONS.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
          {!isPart && !blocks.some((b) => b.comfyBlock === target) && <option value={target}>{target}</option>}
          {showExpert && blocks.length > 0 && (
            <optgroup label="One block">
              {blocks.map((b) => (
                <option key={b.comfyBlock} value={b.comfyBlock}>
                  {b.comfyBlock} · {b.resolution}
                </option>
              ))}
            </optgroup>
          )}
        </select>
        <label className="toggle">
          <input type="checkbox" checked={showExpert} onChange={(e) => onExpert(e.target.checked)} disabled={!isPart} /> Per block
        </label>
      </div>
      {sites && (
        <p className="hint">
          {affected.length} of {sites.length} attention modules ({affected.filter((s) => s.kind === 'attn1').length} self, {affected.filter((s) => s.kind === 'attn2').length}{' '}
          cross).
        </p>
      )}
    </div>
  );
}

/** Expert view: every block with its diffusers modules; pick one to act on it alone. */
function BlockList() {
  const target = useApp((s) => s.settings.target);
  const sites = useApp((s) => s.engine.info?.sites);
  const update = useApp((s) => s.update);
  const blocks = sites ? blocksOf(sites) : [];
  if (!blocks.length) return null;
  return (
    <table className="block-list">
      <caption>Attention blocks: ComfyUI name, diffusers modules, resolution. Pick one to act on it alone.</caption>
      <thead>
        <tr>
          <th scope="col">Block</th>
          <th scope="col">diffusers modules</th>
          <th scope="col">Size</th>
        </tr>
      </thead>
      <tbody>
        {blocks.map((b) => (
          <tr key={b.comfyBlock} className={b.sites.some((s) => siteInTarget(s, target)) ? 'in-target' : ''}>
            <td>
              <button type="button" className="link-button" aria-pressed={target === b.comfyBlock} onClick={() => update({ target: target === b.comfyBlock ? 'all' : b.comfyBlock })}>
                {b.comfyBlock}
              </button>
            </td>
            <td>
              {b.sites.map((s) => (
                <code key={s.index} className="site-path">
                  {s.path}
                </code>
              ))}
            </td>
            <td>{b.resolution}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
