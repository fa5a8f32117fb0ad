/**
 * The bus's fast paths keep the semantics of the slow ones: young deadline entries (answered
 * within a tick) and the in-flight list of calls.
 */
import { describe, expect, it } from 'vitest';
import { Bus, PeerGoneError, TimeoutError } from '../../src/bus/index.js';
import { DeadlineWheel, type DeadlineEntry } from '../../src/bus/deadlines.js';
import { delay, until } from '../helpers.js';

function entry(ms: number, fired: string[], name: string): DeadlineEntry {
  return { deadline: performance.now() + ms, expire: () => void fired.push(name) };
}

describe('deadline wheel', () => {
  it('never fires an entry removed while young, fires the pending ones at their deadline', async () => {
    const wheel = new DeadlineWheel();
    const fired: string[] = [];
    const gone = entry(20, fired, 'gone');
    const kept = entry(20, fired, 'kept');
    wheel.add(gone);
    wheel.add(kept);
    expect(wheel.size).toBe(2);
    wheel.delete(gone);
    wheel.delete(gone); // twice is harmless
    expect(wheel.size).toBe(1);
    await delay(5);
    expect(fired).toEqual([]);
    await until(() => fired.length > 0, 1000);
    expect(fired).toEqual(['kept']);
    expect(wheel.size).toBe(0);
  });

  it('removes an entry filed into its bucket (pending past a tick)', async () => {
    const wheel = new DeadlineWheel();
    const fired: string[] = [];
    const late = entry(60, fired, 'late');
    const other = entry(60, fired, 'other');
    wheel.add(late);
    wheel.add(other);
    await delay(25); // a few ticks: both are in their bucket now
    wheel.delete(late);
    expect(wheel.size).toBe(1);
    await until(() => fired.length > 0, 1000);
    await delay(20);
    expect(fired).toEqual(['other']);
  });

  it('keeps every deadline when thousands of entries come and go without a tick in between', async () => {
    const wheel = new DeadlineWheel();
    const fired: string[] = [];
    const pending: DeadlineEntry[] = [];
    // Synchronously: no timer can run, so the young slots fill up and are filed early.
    for (let i = 0; i < 20_000; i++) {
      const e = entry(30, fired, String(i));
      wheel.add(e);
      if (i % 1000 === 0) pending.push(e);
      else wheel.delete(e);
    }
    expect(wheel.size).toBe(pending.length);
    await until(() => fired.length === pending.length, 2000);
    expect(fired.map(Number)).toEqual(pending.map((_, k) => k * 1000));
    expect(wheel.size).toBe(0);
  });
});

describe('calls in flight', () => {
  it('times out in-process calls made in a loop that only awaits microtasks', async () => {
    const bus = new Bus();
    bus.handle('fast', async (n: number) => n);
    bus.handle('never', () => new Promise(() => {}));
    const stuck = bus.request('never', undefined, { timeout: 50 }).catch((e: unknown) => e);
    for (let i = 0; i < 10_000; i++) expect(await bus.request('fast', i)).toBe(i);
    expect(await stuck).toBeInstanceOf(TimeoutError);
    expect(bus.stats().inflight).toBe(0);
    await bus.close();
  });

  it('counts and fails the calls in flight to an endpoint, whichever order they were answered in', async () => {
    const bus = new Bus();
    const svc = bus.endpoint('svc');
    const release: (() => void)[] = [];
    svc.handle('wait', (n: number) =>
      new Promise((r) => {
        release[n] = () => r(n);
      }),
    );
    const calls = Array.from({ length: 5 }, (_, n) => bus.request('wait', n).catch((e: unknown) => e));
    expect(bus.stats().peers.find((p) => p.name === 'svc')!.inflight).toBe(5);
    // Answer the middle, the first and the last: the list unlinks from anywhere.
    release[2]!();
    release[0]!();
    release[4]!();
    expect(await calls[2]).toBe(2);
    expect(await calls[0]).toBe(0);
    expect(await calls[4]).toBe(4);
    expect(bus.stats().peers.find((p) => p.name === 'svc')!.inflight).toBe(2);
    svc.close('gone');
    expect(await calls[1]).toBeInstanceOf(PeerGoneError);
    expect(await calls[3]).toBeInstanceOf(PeerGoneError);
    expect(bus.stats().inflight).toBe(0);
    await bus.close();
  });
});
