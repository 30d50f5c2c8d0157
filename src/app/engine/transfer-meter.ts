// Bytes, rate and time left of a download or copy, for the progress bar. The rate is taken over
// the last few seconds, so a stall shows at once and an early burst does not promise too much.

export interface TransferProgress {
  what: string;
  loaded: number;
  total: number;
  /** Bytes per second over the recent window; 0 until measured. */
  rate: number;
  /** Seconds left at that rate; undefined while unknown. */
  eta?: number;
}

const WINDOW_MS = 3000;
const REPORT_EVERY_MS = 100;

export class TransferMeter {
  private loaded = 0;
  private samples: { t: number; loaded: number }[] = [];
  private lastReport = 0;

  constructor(
    private readonly what: string,
    private readonly total: number,
    private readonly report: (p: TransferProgress) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `bytes` more were written (negative: a restarted file gave some back). */
  add(bytes: number, force = false): void {
    this.loaded = Math.max(0, this.loaded + bytes);
    const t = this.now();
    this.samples.push({ t, loaded: this.loaded });
    while (this.samples.length > 2 && t - this.samples[0].t > WINDOW_MS) this.samples.shift();
    if (force || t - this.lastReport >= REPORT_EVERY_MS || this.loaded >= this.total) {
      this.lastReport = t;
      this.report(this.progress());
    }
  }

  progress(): TransferProgress {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = first && last ? (last.t - first.t) / 1000 : 0;
    const rate = seconds > 0.2 ? Math.max(0, (last.loaded - first.loaded) / seconds) : 0;
    const left = Math.max(0, this.total - this.loaded);
    return { what: this.what, loaded: this.loaded, total: this.total, rate, eta: rate > 0 ? left / rate : left === 0 ? 0 : undefined };
  }
}
