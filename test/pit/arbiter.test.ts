import { describe, expect, it } from 'vitest';
import { Bus } from '../../src/bus/index.js';
import { ArbitrationEngine, type Grant } from '../../src/pit/arbiter.js';
import { pitContext } from './context.js';

async function setup() {
  const bus = new Bus({ name: 'pit' });
  const arbiter = new ArbitrationEngine();
  await arbiter.init(pitContext(bus).ctx);
  for (const [m, h] of Object.entries(arbiter.methods)) bus.handle(m, h);
  return { bus, arbiter };
}

/** Holds the resource, queues the given requests, then releases one grant at a time and records who got it. */
async function order(arbiter: ArbitrationEngine, resource: string, requests: [string, Parameters<ArbitrationEngine['request']>[2]][]): Promise<Grant[]> {
  const blocker = await arbiter.request(resource, 'blocker');
  const pending = requests.map(([who, o]) => arbiter.request(resource, who, o));
  const got: Grant[] = [];
  arbiter.release(blocker.grant);
  for (const p of pending) void p.then((g) => got.push(g));
  while (got.length < requests.length) {
    await new Promise((r) => setImmediate(r));
    const last = got.at(-1);
    if (last && got.length < requests.length) arbiter.release(last.grant);
  }
  return got;
}

describe('Arbitration Engine', () => {
  it('grants by priority (CRITICAL 1000, HIGH 100, NORMAL 0, LOW -100), first come first served among equals, with rationale', async () => {
    const { bus, arbiter } = await setup();
    arbiter.define({ resource: 'gpu', strategy: 'priority', capacity: 1, agingMs: 0 });
    const got = await order(arbiter, 'gpu', [
      ['low', { priority: 'LOW' }],
      ['normal-1', { priority: 'NORMAL' }],
      ['critical', { priority: 'CRITICAL' }],
      ['normal-2', { priority: 'NORMAL' }],
      ['high', { priority: 'HIGH' }],
    ]);
    expect(got.map((g) => g.requester)).toEqual(['critical', 'high', 'normal-1', 'normal-2', 'low']);
    expect(got[0]!.rationale).toBe("priority CRITICAL (1000) beats HIGH (100) of 'high' over 4 other waiter(s)");
    expect(got[2]!.rationale).toBe("priority NORMAL (0) beats NORMAL (0) of 'normal-2' (equal: first come, first served) over 2 other waiter(s)");
    expect(arbiter.decisions('gpu').length).toBe(6);
    await bus.stop();
  });

  it('ages waiting requests so LOW is not starved forever', async () => {
    const { bus, arbiter } = await setup();
    arbiter.define({ resource: 'disk', strategy: 'priority', capacity: 1, agingMs: 1 });
    const blocker = await arbiter.request('disk', 'blocker');
    const low = arbiter.request('disk', 'low', { priority: 'LOW' });
    await new Promise((r) => setTimeout(r, 150)); // 150 points of aging: LOW -100 is now above NORMAL 0
    const normal = arbiter.request('disk', 'normal', { priority: 'NORMAL' });
    arbiter.release(blocker.grant);
    const first = await Promise.race([low.then(() => 'low'), normal.then(() => 'normal')]);
    expect(first).toBe('low');
    expect((await low).rationale).toMatch(/^priority LOW \(-100\) \(aged to \d/);
    arbiter.release((await low).grant);
    await normal;
    await bus.stop();
  });

  it('round-robin takes turns among requesters, whatever order they asked in', async () => {
    const { bus, arbiter } = await setup();
    arbiter.define({ resource: 'rr', strategy: 'round-robin', capacity: 1, agingMs: 0 });
    const got = await order(arbiter, 'rr', [['a', {}], ['a', {}], ['a', {}], ['b', {}], ['b', {}], ['c', {}]]);
    expect(got.map((g) => g.requester)).toEqual(['a', 'b', 'c', 'a', 'b', 'a']);
    expect(got[1]!.rationale).toMatch(/^its turn in the round-robin after 'a'/);
    await bus.stop();
  });

  it('weighted shares follow the weights, and fairness is measured (Jain index)', async () => {
    const { bus, arbiter } = await setup();
    arbiter.define({ resource: 'w', strategy: 'weighted', capacity: 1, agingMs: 0 });
    const requests: [string, { weight: number }][] = [];
    for (let i = 0; i < 30; i++) requests.push(['heavy', { weight: 3 }], ['light', { weight: 1 }]);
    const got = await order(arbiter, 'w', requests);
    const first20 = got.slice(0, 20).map((g) => g.requester);
    expect(first20.filter((r) => r === 'heavy').length).toBe(15); // 3:1 while both wait
    const stats = arbiter.stats('w');
    expect(stats.fairness).toBeGreaterThan(0.5);
    expect(stats.requesters.find((r) => r.requester === 'heavy')).toMatchObject({ grants: 30, weight: 3 });
    await bus.stop();
  });

  it('queue is first in, first out; and the bus API waits for the grant', async () => {
    const { bus, arbiter } = await setup();
    await bus.request('arbiter.define', { resource: 'q', strategy: 'queue' });
    const g1 = (await bus.request('arbiter.request', { resource: 'q', requester: 'x' })) as Grant;
    const pending = bus.request('arbiter.request', { resource: 'q', requester: 'y', priority: 'CRITICAL' }) as Promise<Grant>;
    expect(await bus.request('arbiter.release', { grant: g1.grant })).toEqual({ released: true });
    expect((await pending).rationale).toBe('first in line (no contention)');
    await expect(bus.request('arbiter.request', { resource: 'q', requester: 'z', timeoutMs: 20 })).rejects.toMatchObject({ code: -32003 });
    await bus.stop();
  });

  it('a caller that timed out or cancelled gets no grant later; more capacity wakes waiters; bad limits and timeouts are -32602', async () => {
    const { bus } = await setup();
    await bus.request('arbiter.define', { resource: 'r', capacity: 1 });
    const g = (await bus.request('arbiter.request', { resource: 'r', requester: 'x' })) as Grant;
    const timedOut = bus.request('arbiter.request', { resource: 'r', requester: 'y' }, { timeout: 50 }).catch((e: { code: number }) => e.code);
    const ac = new AbortController();
    const cancelled = bus.request('arbiter.request', { resource: 'r', requester: 'z' }, { signal: ac.signal }).catch((e: { code: number }) => e.code);
    ac.abort();
    expect(await timedOut).toBe(-32003);
    expect(await cancelled).toBe(-32800);
    await bus.request('arbiter.release', { grant: g.grant });
    expect(await bus.request('arbiter.stats', { resource: 'r' })).toMatchObject({ held: 0, waiting: 0 });

    const a = (await bus.request('arbiter.request', { resource: 'r', requester: 'a' })) as Grant;
    const waiting = bus.request('arbiter.request', { resource: 'r', requester: 'b', timeoutMs: 1000 });
    await bus.request('arbiter.define', { resource: 'r', capacity: 2 });
    expect(await waiting).toMatchObject({ requester: 'b' });
    await bus.request('arbiter.release', { grant: a.grant });

    await expect(bus.request('arbiter.decisions', { resource: 'r', limit: 0 })).rejects.toMatchObject({ code: -32602 });
    await expect(bus.request('arbiter.request', { resource: 'r', requester: 'c', timeoutMs: 3e9 })).rejects.toMatchObject({ code: -32602 });
    await bus.stop();
  });
});
