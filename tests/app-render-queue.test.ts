import { describe, expect, it } from 'vitest';
import { RenderQueue, type RenderJob } from '../src/app/engine/render-queue';
import type { Lane } from '../src/app/engine/worker-protocol';
import { DEFAULT_SETTINGS, toGenerateRequest } from '../src/app/state/settings-schema';

/** A queue whose renders finish when the test says so (or stop when aborted, as between steps). */
function harness() {
  const log: string[] = [];
  const finishers = new Map<number, () => void>();
  const queue = new RenderQueue(
    (job, signal) =>
      new Promise<void>((resolve) => {
        log.push(`start ${job.id}`);
        signal.addEventListener('abort', () => {
          log.push(`abort ${job.id}`);
          resolve();
        });
        finishers.set(job.id, () => {
          log.push(`done ${job.id}`);
          resolve();
        });
      }),
    (job) => log.push(`drop ${job.id}`),
  );
  let nextId = 1;
  const submit = (lane: Lane = 'live') => {
    const job: RenderJob = { id: nextId++, lane, request: toGenerateRequest({ ...DEFAULT_SETTINGS, seed: nextId }) };
    queue.submit(job);
    return job.id;
  };
  const finish = async (id: number) => {
    finishers.get(id)!();
    await new Promise((r) => setTimeout(r, 0));
  };
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { queue, log, submit, finish, settle };
}

describe('latest-wins render queue', () => {
  it('waits for the model, then runs the newest request of a lane only', async () => {
    const { queue, log, submit, settle } = harness();
    submit();
    submit();
    submit();
    expect(log).toEqual(['drop 1', 'drop 2']);
    queue.start();
    await settle();
    expect(log).toEqual(['drop 1', 'drop 2', 'start 3']);
  });

  it('a drag of a hundred changes leaves one render running and one waiting', async () => {
    const { queue, log, submit, finish, settle } = harness();
    queue.start();
    const first = submit();
    let last = first;
    for (let i = 0; i < 100; i++) last = submit();
    // The running render was aborted (between steps) and every replaced one was dropped.
    expect(log.filter((l) => l.startsWith('abort'))).toEqual([`abort ${first}`]);
    expect(log.filter((l) => l.startsWith('drop'))).toHaveLength(99);
    expect(queue.waitingCount).toBe(1);
    await settle();
    expect(queue.running?.id).toBe(last);
    await finish(last);
    expect(log.filter((l) => l.startsWith('start'))).toEqual([`start ${first}`, `start ${last}`]);
    expect(queue.running).toBeUndefined();
  });

  it('serves the live lane before the baseline and the grid, without aborting them', async () => {
    const { queue, log, submit, finish, settle } = harness();
    queue.start();
    const grid = submit('grid');
    const baseline = submit('baseline');
    const live = submit('live');
    await settle();
    expect(queue.running?.id).toBe(grid);
    expect(log).not.toContain(`abort ${grid}`);
    await finish(grid);
    expect(queue.running?.id).toBe(live);
    await finish(live);
    expect(queue.running?.id).toBe(baseline);
  });

  it('cancel drops the waiting request and aborts the running one of that lane only', async () => {
    const { queue, log, submit, settle } = harness();
    queue.start();
    const grid = submit('grid');
    const next = submit('grid');
    const live = submit('live');
    queue.cancel('grid');
    await settle();
    expect(log).toContain(`abort ${grid}`);
    expect(log).toContain(`drop ${next}`);
    expect(queue.running?.id).toBe(live);
  });

  it('stops for good when the device is lost', async () => {
    const { queue, log, submit, settle } = harness();
    queue.start();
    const running = submit();
    queue.stop();
    submit();
    await settle();
    expect(log).toEqual([`start ${running}`, `abort ${running}`]);
    expect(queue.running).toBeUndefined();
  });
});
