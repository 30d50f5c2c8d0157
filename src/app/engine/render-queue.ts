// Latest-wins scheduling of renders, one at a time. Within a lane a new request replaces the one
// waiting (that one is dropped) and aborts the one running, which stops between steps; so however
// fast a slider moves, at most one render runs and one waits per lane. Lanes are served in
// LANES_BY_PRIORITY order. No GPU here: the worker supplies `run`.

import type { GenerateRequest } from '../../engine';
import { LANES_BY_PRIORITY, type Lane } from './worker-protocol';

export interface RenderJob {
  id: number;
  lane: Lane;
  request: GenerateRequest;
}

export class RenderQueue {
  private readonly waiting = new Map<Lane, RenderJob>();
  private current?: { job: RenderJob; controller: AbortController };
  private open = false;
  private stopped = false;

  constructor(
    /** Runs one job; it should stop early (resolve or reject) once `signal` is aborted. */
    private readonly run: (job: RenderJob, signal: AbortSignal) => Promise<void>,
    /** A job that will never run: replaced while waiting, or cancelled. */
    private readonly dropped: (job: RenderJob) => void,
  ) {}

  /** Jobs wait until the queue is opened (the model is loaded). */
  start(): void {
    this.open = true;
    this.pump();
  }

  submit(job: RenderJob): void {
    if (this.stopped) return;
    const replaced = this.waiting.get(job.lane);
    if (replaced) this.dropped(replaced);
    this.waiting.set(job.lane, job);
    if (this.current?.job.lane === job.lane) this.current.controller.abort();
    this.pump();
  }

  cancel(lane: Lane): void {
    const waiting = this.waiting.get(lane);
    if (waiting) this.dropped(waiting);
    this.waiting.delete(lane);
    if (this.current?.job.lane === lane) this.current.controller.abort();
  }

  /** Aborts everything for good (the device is gone); nothing is reported as dropped. */
  stop(): void {
    this.stopped = true;
    this.waiting.clear();
    this.current?.controller.abort();
  }

  get running(): RenderJob | undefined {
    return this.current?.job;
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  private pump(): void {
    if (this.current || !this.open || this.stopped) return;
    const lane = LANES_BY_PRIORITY.find((l) => this.waiting.has(l));
    if (!lane) return;
    const job = this.waiting.get(lane)!;
    this.waiting.delete(lane);
    const controller = new AbortController();
    this.current = { job, controller };
    void this.run(job, controller.signal)
      .catch(() => undefined)
      .finally(() => {
        this.current = undefined;
        this.pump();
      });
  }
}
