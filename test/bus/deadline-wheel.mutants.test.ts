/**
 * The deadline wheel on its own (src/bus/deadlines.ts): its size as entries come and go, young or
 * filed; when an entry is filed (at the young slots' overflow, a flush or a tick, never once
 * deleted); expiry never early, within a bound after, once, in deadline order, also when overdue
 * at filing; one interval while anything is pending, stopped once a tick finds the wheel empty.
 * Bounds are wide against what a broken wheel does (never fire, fire early, keep a deleted entry).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { performance } from 'node:perf_hooks';
import { DeadlineWheel, type DeadlineEntry } from '../../src/bus/deadlines.js';
import { delay } from '../helpers.js';

interface Probe extends DeadlineEntry {
  expiredAt: number[];
  filedTimes: number;
}
function entry(inMs: number): Probe {
  const e: Probe = {
    deadline: performance.now() + inMs,
    expiredAt: [],
    filedTimes: 0,
    expire() {
      e.expiredAt.push(performance.now());
    },
    filed() {
      e.filedTimes++;
    },
  };
  return e;
}
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await delay(5);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the deadline wheel', () => {
  it('counts its entries, young and filed, and a second delete changes nothing', async () => {
    const w = new DeadlineWheel();
    const [a, b, c] = [entry(5000), entry(5000), entry(60)];
    w.add(a);
    w.add(b);
    w.add(c);
    expect(w.size).toBe(3);
    w.delete(a);
    w.delete(a);
    expect(w.size).toBe(2);
    w.flush();
    expect([a.filedTimes, b.filedTimes, c.filedTimes]).toEqual([0, 1, 1]);
    expect(w.size).toBe(2);
    w.delete(b);
    w.delete(b);
    expect(w.size).toBe(1);
    await until(() => c.expiredAt.length > 0);
    expect(c.expiredAt).toHaveLength(1);
    expect(w.size).toBe(0);
    await delay(80);
    expect([a.expiredAt.length, b.expiredAt.length, c.expiredAt.length]).toEqual([0, 0, 1]);
    expect(w.size).toBe(0);
  });

  it('never expires an entry before its deadline, and expires it within a bound after', async () => {
    const w = new DeadlineWheel();
    const e = entry(40);
    w.add(e);
    await until(() => e.expiredAt.length > 0);
    expect(e.expiredAt).toHaveLength(1);
    expect(e.expiredAt[0]!).toBeGreaterThanOrEqual(e.deadline - 0.001);
    expect(e.expiredAt[0]! - e.deadline).toBeLessThan(500);
  });

  it('a filed entry that is deleted never expires', async () => {
    const w = new DeadlineWheel();
    const e = entry(30);
    const witness = entry(60);
    w.add(e);
    w.add(witness);
    w.flush();
    w.delete(e);
    await until(() => witness.expiredAt.length > 0);
    await delay(40);
    expect(witness.expiredAt).toHaveLength(1);
    expect(e.expiredAt).toEqual([]);
  });

  it('an entry deleted while young is never filed nor expired', async () => {
    const w = new DeadlineWheel();
    const e = entry(20);
    const witness = entry(40);
    w.add(e);
    w.delete(e);
    w.add(witness);
    await until(() => witness.expiredAt.length > 0);
    expect(witness.filedTimes).toBe(1);
    expect([e.filedTimes, e.expiredAt.length]).toEqual([0, 0]);
  });

  it('an entry already overdue when it is filed still expires, at the next tick', async () => {
    const w = new DeadlineWheel();
    const e = entry(-100);
    w.add(e);
    w.flush();
    await until(() => e.expiredAt.length > 0);
    expect(e.expiredAt).toHaveLength(1);
    expect(w.size).toBe(0);
  });

  it('past the young slots, the pending ones are filed at once; all expire once, none early, in deadline order', async () => {
    const w = new DeadlineWheel();
    const es: Probe[] = [];
    for (let i = 0; i < 300; i++) {
      es.push(entry(30 + (i % 3) * 40));
      w.add(es[i]!);
      // The 257th add files the 256 before it, before any tick could run.
      if (i === 256) expect(es.filter((e) => e.filedTimes === 1).length).toBe(256);
    }
    expect(w.size).toBe(300);
    await until(() => es.every((e) => e.expiredAt.length > 0));
    expect(es.every((e) => e.expiredAt.length === 1 && e.expiredAt[0]! >= e.deadline - 0.001)).toBe(true);
    expect(w.size).toBe(0);
    const firstLate = Math.min(...es.filter((_, i) => i % 3 === 2).map((e) => e.expiredAt[0]!));
    const lastEarly = Math.max(...es.filter((_, i) => i % 3 === 0).map((e) => e.expiredAt[0]!));
    expect(firstLate).toBeGreaterThan(lastEarly);
  });

  it('runs one interval while anything is pending, stops it once a tick finds the wheel empty, and starts again', async () => {
    const started = vi.spyOn(globalThis, 'setInterval');
    const cleared = vi.spyOn(globalThis, 'clearInterval');
    const w = new DeadlineWheel();
    const [a, b, c] = [entry(20), entry(20), entry(5000)];
    w.add(a);
    w.add(b);
    w.add(c);
    expect(started).toHaveBeenCalledTimes(1);
    await until(() => b.expiredAt.length > 0);
    await delay(30);
    expect(cleared).not.toHaveBeenCalled(); // c is still pending
    w.delete(c);
    await until(() => cleared.mock.calls.length > 0, 500);
    expect(cleared).toHaveBeenCalledTimes(1);
    const d = entry(20);
    w.add(d);
    expect(started).toHaveBeenCalledTimes(2);
    await until(() => d.expiredAt.length > 0);
    expect(d.expiredAt).toHaveLength(1);
    await until(() => cleared.mock.calls.length > 1, 500);
    expect(cleared).toHaveBeenCalledTimes(2);
  });
});
