import { Fragment, useState } from 'react';
import {
  CLIP_GROUP,
  CLIP_MULTIPLIER_PARAMETERS,
  CLIP_STEP_RANGE,
  MULTIPLIER_GROUPS,
  MULTIPLIER_PARAMETERS,
  MULTIPLIER_STEP_RANGES,
  NEUTRAL_MULTIPLIERS,
  type AttentionSite,
  type ControlParameter,
} from '../../engine';
import { isNeutral, siteInTarget, type Target } from '../state/settings-schema';
import { useApp } from '../state/store';
import { MultiplierSlider } from './multiplier-slider';
import { StepRangeInput } from './step-range-input';

/** The parameters' explanations, one entry per explanation: q and k share theirs ("q · k"). */
function explanations(parameters: readonly ControlParameter[]): { terms: string; explanation: string }[] {
  const entries: { terms: string; explanation: string }[] = [];
  for (const p of parameters) {
    const same = entries.find((e) => e.explanation === p.explanation);
    if (same) same.terms += ` · ${p.label}`;
    else entries.push({ terms: p.label, explanation: p.explanation });
  }
  return entries;
}

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
      {MULTIPLIER_GROUPS.map((kind) => (
        <fieldset key={kind.which} className="attention-kind">
          <legend>
            {kind.title} <code>{kind.kind}</code>
            <button
              type="button"
              className="link-button"
              disabled={isNeutral(settings[kind.which])}
              onClick={() => setMultipliers(kind.which, { ...NEUTRAL_MULTIPLIERS })}
            >
              Reset all four
            </button>
          </legend>
          <p className="hint">{kind.about}</p>
          {MULTIPLIER_PARAMETERS.map((parameter) => (
            <MultiplierSlider key={parameter.id} which={kind.which} parameter={parameter} />
          ))}
          <StepRangeInput setting={MULTIPLIER_STEP_RANGES[kind.which]} />
        </fieldset>
      ))}
      <fieldset className="attention-kind">
        <legend>
          {CLIP_GROUP.title} <code>CLIP</code>
          <button type="button" className="link-button" disabled={isNeutral(settings.clip)} onClick={() => setMultipliers('clip', { ...NEUTRAL_MULTIPLIERS })}>
            Reset all four
          </button>
        </legend>
        <p className="hint">{CLIP_GROUP.about}</p>
        {CLIP_MULTIPLIER_PARAMETERS.map((parameter) => (
          <MultiplierSlider key={parameter.id} which="clip" parameter={parameter} />
        ))}
        <StepRangeInput setting={CLIP_STEP_RANGE} />
        <dl className="explain">
          {explanations(CLIP_MULTIPLIER_PARAMETERS).map((e) => (
            <Fragment key={e.terms}>
              <dt>{e.terms}</dt>
              <dd>{e.explanation}</dd>
            </Fragment>
          ))}
        </dl>
      </fieldset>
      <dl className="explain">
        {explanations(MULTIPLIER_PARAMETERS).map((e) => (
          <Fragment key={e.terms}>
            <dt>{e.terms}</dt>
            <dd>{e.explanation}</dd>
          </Fragment>
        ))}
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
