// Typed reads of config.json fields with bounds, for the component configs (CLIP text, VAE, TAESD):
// a broken or hostile file is refused by the field's name before any size is computed from it.
// Bounds sit far above every real checkpoint.

export type ConfigFields = Record<string, unknown>;

export class ConfigReader {
  constructor(
    private readonly config: ConfigFields,
    /** The file, for messages. */
    private readonly where: string,
  ) {}

  refuse(field: string, value: unknown, why: string): Error {
    return new Error(`${this.where}: ${field} = ${JSON.stringify(value)} is not supported (${why})`);
  }

  /** An integer in [min, max], or `fallback` when the field is absent or null. */
  int(field: string, fallback: number, max: number, min = 1): number {
    const v = this.config[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw this.refuse(field, v, `an integer from ${min} to ${max}`);
    return v;
  }

  /** A list of integers in [1, max] with `length` entries when given. */
  intList(field: string, fallback: number[], max: number, length?: number): number[] {
    const v = this.config[field] ?? fallback;
    const ok = Array.isArray(v) && v.length > 0 && v.length <= 16 && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= max);
    if (!ok) throw this.refuse(field, v, `a list of 1 to 16 integers from 1 to ${max}`);
    if (length !== undefined && v.length !== length) throw this.refuse(field, v, `${length} entries`);
    return v as number[];
  }

  /** A finite number in (min, max) exclusive, or `fallback`. */
  number(field: string, fallback: number, min: number, max: number): number {
    const v = this.config[field] ?? fallback;
    if (typeof v !== 'number' || !(v > min && v < max)) throw this.refuse(field, v, `a number between ${min} and ${max}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.config[field] ?? fallback;
    if (typeof v !== 'boolean') throw this.refuse(field, v, 'true or false');
    return v;
  }
}
