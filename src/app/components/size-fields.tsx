import type { ModelInfo } from '../../engine';
import { LIMITS } from '../state/settings-schema';
import { useApp } from '../state/store';

/** Width and height: sizes the model takes (multiples of its size step), up to twice its own. */
export function SizeFields() {
  const width = useApp((s) => s.settings.width);
  const height = useApp((s) => s.settings.height);
  const info = useApp((s) => s.engine.info);
  const update = useApp((s) => s.update);
  return (
    <>
      {(['width', 'height'] as const).map((key) => {
        const value = key === 'width' ? width : height;
        const id = `${key}-select`;
        return (
          <span className="select-field" key={key}>
            <label className="field-label" htmlFor={id}>
              {key === 'width' ? 'Width' : 'Height'}
            </label>
            <select id={id} value={value} title={info ? `${info.name}: multiples of ${info.sizeMultiple}; its own size is ${info.width}×${info.height}` : undefined} onChange={(e) => update({ [key]: Number(e.target.value) })}>
              {sizeChoices(info, value).map((size) => (
                <option key={size} value={size}>
                  {size}
                  {info && size === info[key] ? ' (model)' : ''}
                </option>
              ))}
            </select>
          </span>
        );
      })}
    </>
  );
}

function sizeChoices(info: ModelInfo | undefined, current: number): number[] {
  const own = info ? Math.max(info.width, info.height) : current;
  let step = info?.sizeMultiple ?? LIMITS.size.multiple;
  const max = Math.min(LIMITS.size.max, Math.max(2 * own, current));
  while (max / step > 24) step *= 2;
  const sizes = new Set<number>([current, ...(info ? [info.width, info.height] : [])]);
  for (let s = step; s <= max; s += step) if (s >= Math.min(LIMITS.size.min, own)) sizes.add(s);
  return [...sizes].sort((a, b) => a - b);
}
