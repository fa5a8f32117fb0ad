/**
 * The Arbitration Engine's decisions, rationales, deadlines and accounting, as the mutation run
 * of src/pit/arbiter.ts found them unchecked (see docs/testing.md).
 */
import { describe, expect, it } from 'vitest';
import { Bus } from '../../src/bus/index.js';
import { ArbitrationEngine, type Grant } from '../../src/pit/arbiter.js';
import { pitContext } from './context.js';

async function engine(config: Record<string, unknown> = {}) {
  const bus = new Bus({ name: 'pit' });
  const arbiter = new ArbitrationEngine();
  const { ctx, events } = pitContext(bus, config);
  await arbiter.init(ctx);
  return { arbiter, events, bus };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Holds `resource` with one grant, queues requests, then lets them through one at a time. */
async function drain(arbiter: ArbitrationEngine, resource: string, requests: [string, Parameters<ArbitrationEngine['request']>[2]][]): Promise<Grant[]> {
  const blocker = await arbiter.request(resource, 'blocker');
  const pending = requests.map(([who, o]) => arbiter.request(resource, who, o));
  const got: Grant[] = [];
  for (const p of pending) void p.then((g) => got.push(g));
  arbiter.release(blocker.grant);
  while (got.length < requests.length) {
    await tick();
    const last = got.at(-1);
    if (last && got.length < requests.length) arbiter.release(last.grant);
  }
  return got;
}

describe('rationales say why', () => {
  it('queue: first in line, over how many others, or no contention', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'q', strategy: 'queue', capacity: 1, agingMs: 0 });
    const alone = await arbiter.request('q', 'solo');
    expect(alone.rationale).toBe('first in line (no contention)');
    expect(alone.grant).toBe('q:1');
    expect(alone).toMatchObject({ resource: 'q', requester: 'solo' });
    arbiter.release(alone.grant);
    const got = await drain(arbiter, 'q', [['a', {}], ['b', {}], ['c', {}]]);
    expect(got.map((g) => [g.requester, g.rationale])).toEqual([
      ['a', 'first in line over 2 other waiter(s)'],
      ['b', 'first in line over 1 other waiter(s)'],
      ['c', 'first in line (no contention)'],
    ]);
  });

  it('priority: names the winner, the runner-up, equals, and numbers without a name', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'gpu', strategy: 'priority', capacity: 1, agingMs: 0 });
    const got = await drain(arbiter, 'gpu', [['n1', { priority: 'NORMAL' }], ['h', { priority: 'HIGH' }], ['n2', { priority: 'NORMAL' }], ['odd', { priority: 7 }], ['l', { priority: 'LOW' }]]);
    expect(got.map((g) => [g.requester, g.rationale])).toEqual([
      ['h', "priority HIGH (100) beats 7 of 'odd' over 4 other waiter(s)"],
      ['odd', "priority 7 beats NORMAL (0) of 'n1' over 3 other waiter(s)"],
      ['n1', "priority NORMAL (0) beats NORMAL (0) of 'n2' (equal: first come, first served) over 2 other waiter(s)"],
      ['n2', "priority NORMAL (0) beats LOW (-100) of 'l' over 1 other waiter(s)"],
      ['l', 'priority LOW (-100) (no contention)'],
    ]);
  });

  it('priority with aging: a long wait raises the effective priority and the rationale says by how much', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'cpu', strategy: 'priority', capacity: 1, agingMs: 10 });
    const blocker = await arbiter.request('cpu', 'blocker');
    const low = arbiter.request('cpu', 'old-low', { priority: 'LOW' });
    await new Promise((r) => setTimeout(r, 1200)); // 120 points of aging: -100 becomes ~20
    const normal = arbiter.request('cpu', 'new-normal', { priority: 'NORMAL' });
    arbiter.release(blocker.grant);
    const g = await low;
    expect(g.requester).toBe('old-low');
    expect(g.rationale).toMatch(/^priority LOW \(-100\) \(aged to \d+\.\d\) beats NORMAL \(0\) of 'new-normal' over 1 other waiter\(s\)$/);
    expect(Number(/aged to (\d+\.\d)/.exec(g.rationale)![1])).toBeGreaterThan(10);
    expect(g.waitedMs).toBeGreaterThanOrEqual(1100);
    arbiter.release(g.grant);
    expect((await normal).requester).toBe('new-normal');
  });

  it('round-robin: its turn after the last one served', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'rr', strategy: 'round-robin', capacity: 1, agingMs: 0 });
    const first = await arbiter.request('rr', 'x');
    expect(first.rationale).toBe('its turn in the round-robin (no contention)');
    const next = [arbiter.request('rr', 'y'), arbiter.request('rr', 'x'), arbiter.request('rr', 'z')];
    arbiter.release(first.grant);
    const y = await next[0]!;
    expect(y.rationale).toBe("its turn in the round-robin after 'x' over 2 other waiter(s)");
    arbiter.release(y.grant);
    const z = await next[2]!;
    expect(z.rationale).toBe("its turn in the round-robin after 'y' over 1 other waiter(s)");
    arbiter.release(z.grant);
    expect((await next[1]!).rationale).toBe("its turn in the round-robin after 'z' (no contention)");
  });

  it('weighted: the least served per unit of weight, with the figures', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'w', strategy: 'weighted', capacity: 1, agingMs: 0 });
    const got = await drain(arbiter, 'w', [['heavy', { weight: 3 }], ['light', { weight: 1 }], ['heavy', { weight: 3 }], ['light', { weight: 1 }]]);
    expect(got.map((g) => [g.requester, g.rationale])).toEqual([
      ['heavy', 'least served for its weight: 0 grant(s) at weight 3 (0.00 per unit) over 3 other waiter(s)'],
      ['light', 'least served for its weight: 0 grant(s) at weight 1 (0.00 per unit) over 2 other waiter(s)'],
      ['heavy', 'least served for its weight: 1 grant(s) at weight 3 (0.33 per unit) over 1 other waiter(s)'],
      ['light', 'least served for its weight: 1 grant(s) at weight 1 (1.00 per unit) (no contention)'],
    ]);
  });
});

describe('capacity, deadlines and the line', () => {
  it('grants up to capacity at once; a release lets exactly one more through', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'slots', strategy: 'queue', capacity: 2, agingMs: 0 });
    const a = await arbiter.request('slots', 'a');
    const b = await arbiter.request('slots', 'b');
    let cGot = false;
    let dGot = false;
    const c = arbiter.request('slots', 'c').then((g) => ((cGot = true), g));
    void arbiter.request('slots', 'd').then(() => (dGot = true));
    await tick();
    expect([cGot, dGot]).toEqual([false, false]);
    expect(arbiter.stats('slots')).toMatchObject({ held: 2, waiting: 2 });
    expect(arbiter.release(a.grant)).toEqual({ released: true });
    expect(arbiter.release(a.grant)).toEqual({ released: false });
    await c;
    await tick();
    expect(dGot).toBe(false);
    expect(arbiter.health()).toEqual({ status: 'healthy', detail: { resources: 1, held: 2, waiting: 1 } });
    void b;
  });

  it('a request that waits past its timeout leaves the line with a message that says where it stood', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'disk', strategy: 'queue', capacity: 1, agingMs: 0 });
    const holder = await arbiter.request('disk', 'holder');
    const other = arbiter.request('disk', 'other', { timeoutMs: 5000 });
    const t0 = performance.now();
    const err = await arbiter.request('disk', 'late', { timeoutMs: 100 }).then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as Error);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(err.name).toBe('TimeoutError');
    expect(err.message).toBe("'late' got no grant on 'disk' within 100ms (1/1 held, 1 waiting)");
    expect(arbiter.stats('disk').waiting).toBe(1);
    arbiter.release(holder.grant);
    expect((await other).requester).toBe('other');
  });

  it('a granted request leaves no timer behind', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const a = await arbiter.request('r', 'a', { timeoutMs: 60_000 });
    const b = arbiter.request('r', 'b', { timeoutMs: 60_000 });
    arbiter.release(a.grant);
    await b;
    expect(timers()).toBe(before);
  });

  it('defining a resource again with more capacity lets waiters go at once', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    await arbiter.request('r', 'a');
    const b = arbiter.request('r', 'b');
    expect(arbiter.define({ resource: 'r', strategy: 'queue', capacity: 2, agingMs: 0 })).toEqual({ resource: 'r' });
    expect((await b).requester).toBe('b');
  });

  it('a waiter whose call is over gets no grant; it is told so and the next one is served', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    const holder = await arbiter.request('r', 'holder');
    const caller = { done: false };
    const gone = arbiter.request('r', 'gone', { caller }).then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as Error);
    const next = arbiter.request('r', 'next', { caller: { done: false } });
    caller.done = true;
    arbiter.release(holder.grant);
    const err = await gone;
    expect(err.message).toBe("arbiter.request of 'gone' is over");
    expect((await next).requester).toBe('next');
  });

  it('shutdown rejects every waiter with PeerGone, naming the engine', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    await arbiter.request('r', 'holder');
    const w = arbiter.request('r', 'w', { timeoutMs: 60_000 }).then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as Error & { code: number });
    await arbiter[Symbol.asyncDispose]();
    const err = await w;
    expect(err.message).toBe('the Arbitration Engine is stopping');
    expect(err.code).toBe(-32004);
  });

  it('an unknown resource is refused with a hint', async () => {
    const { arbiter } = await engine();
    expect(() => arbiter.request('nope', 'x')).toThrow("no resource named 'nope' (define it with arbiter.define)");
    expect(() => arbiter.stats('nope')).toThrow("no resource named 'nope'");
  });
});

describe('accounting', () => {
  it('every decision is recorded and emitted, the last ones by limit, at most 1000 kept', async () => {
    const { arbiter, events } = await engine();
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    for (let i = 0; i < 1005; i++) arbiter.release((await arbiter.request('r', `p${i}`)).grant);
    const all = arbiter.decisions('r', 5000);
    expect(all).toHaveLength(1000);
    expect(all[0]!.grantedTo).toBe('p5');
    expect(all.at(-1)).toMatchObject({ resource: 'r', strategy: 'queue', grantedTo: 'p1004', contenders: 1, rationale: 'first in line (no contention)' });
    expect(arbiter.decisions('r', 2).map((d) => d.grantedTo)).toEqual(['p1003', 'p1004']);
    expect(arbiter.decisions('r').length).toBe(50);
    expect(events.filter((e) => e.type === 'decision')).toHaveLength(1005);
    expect(events[0]!.data).toMatchObject({ grantedTo: 'p0', resource: 'r' });
  });

  it("stats: grants and mean wait per requester, and Jain's fairness over grants per weight", async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    expect(arbiter.stats('r')).toEqual({ resource: 'r', strategy: 'queue', held: 0, waiting: 0, requesters: [], fairness: 1 });
    for (let i = 0; i < 3; i++) arbiter.release((await arbiter.request('r', 'a', { weight: 1 })).grant);
    arbiter.release((await arbiter.request('r', 'b', { weight: 1 })).grant);
    const s = arbiter.stats('r');
    expect(s.requesters.map((q) => [q.requester, q.grants, q.weight])).toEqual([['a', 3, 1], ['b', 1, 1]]);
    // x = [3, 1]: (4^2) / (2 * 10) = 0.8
    expect(s.fairness).toBe(0.8);
    expect(s.requesters[0]!.meanWaitMs).toBeGreaterThanOrEqual(0);
    expect(s.requesters[0]!.meanWaitMs).toBeLessThan(50);
    // Weights change the measure: b at weight 1/3 has as much per unit as a.
    const w = await engine();
    w.arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    for (let i = 0; i < 3; i++) w.arbiter.release((await w.arbiter.request('r', 'a', { weight: 3 })).grant);
    w.arbiter.release((await w.arbiter.request('r', 'b', { weight: 1 })).grant);
    expect(w.arbiter.stats('r').fairness).toBe(1);
  });

  it('resources come from the config, survive in the snapshot and come back with restore', async () => {
    const { arbiter } = await engine({ resources: [{ resource: 'gpu', strategy: 'weighted', capacity: 2 }] });
    expect(arbiter.snapshot()).toEqual({ resources: [{ resource: 'gpu', strategy: 'weighted', capacity: 2, agingMs: 0 }] });
    const again = new ArbitrationEngine();
    again.restore(arbiter.snapshot());
    expect(again.stats('gpu')).toMatchObject({ strategy: 'weighted', held: 0 });
    again.restore({} as never);
  });
});

describe('what the second run of arbiter.ts left: bounds, the data of its errors, an engine that was only restored', () => {
  it('is named arbiter, and serves its decisions through its method table', async () => {
    const { arbiter } = await engine();
    expect(arbiter.name).toBe('arbiter');
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    arbiter.release((await arbiter.request('r', 'a')).grant);
    expect(arbiter.methods['arbiter.decisions']({ resource: 'r' })).toMatchObject([{ grantedTo: 'a', resource: 'r' }]);
  });

  it('a bad resource in the config is refused with the config key that holds it', async () => {
    await expect(engine({ resources: [{ resource: 'r', capacity: 0 }] })).rejects.toThrow(/^pit\.arbiter\.resources: capacity: /);
  });

  it('a restore without resources restores none', () => {
    const a = new ArbitrationEngine();
    a.restore({} as never);
    expect(a.snapshot()).toEqual({ resources: [] });
  });

  it('an engine only restored (never given a context) grants all the same', async () => {
    const a = new ArbitrationEngine();
    a.restore({ resources: [{ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 }] });
    const g = await a.request('r', 'x');
    expect(g).toMatchObject({ grant: 'r:1', requester: 'x', rationale: 'first in line (no contention)' });
  });

  it('a request without a priority is NORMAL', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'p', strategy: 'priority', capacity: 1, agingMs: 0 });
    expect((await arbiter.request('p', 'a')).rationale).toBe('priority NORMAL (0) (no contention)');
  });

  it("a request's timeout error and an unknown resource's error say which resource, and who", async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    await arbiter.request('r', 'holder');
    const err = (await arbiter.request('r', 'late', { timeoutMs: 20 }).catch((e: unknown) => e)) as { data: unknown };
    expect(err.data).toEqual({ resource: 'r', requester: 'late' });
    let unknown: unknown;
    try { arbiter.stats('nope'); } catch (e) { unknown = e; }
    expect((unknown as { data: unknown }).data).toEqual({ resource: 'nope' });
  });

  it('a round-robin starts at the head of its ring: the first grant names no previous requester', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'rr', strategy: 'round-robin', capacity: 1, agingMs: 0 });
    // 'gone' joins the ring first but its call is already over, so it leaves the line ungranted.
    await expect(arbiter.request('rr', 'gone', { caller: { done: true } })).rejects.toThrow(/is over/);
    expect((await arbiter.request('rr', 'b')).rationale).toBe('its turn in the round-robin (no contention)');
  });

  it('waits are in milliseconds: the mean wait and a grant\'s waitedMs match the time waited', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'r', strategy: 'queue', capacity: 1, agingMs: 0 });
    const waits: number[] = [];
    for (let i = 0; i < 2; i++) {
      const blocker = await arbiter.request('r', 'blocker');
      const waiting = arbiter.request('r', 'a');
      await new Promise((r) => setTimeout(r, 120));
      arbiter.release(blocker.grant);
      const g = await waiting;
      waits.push(g.waitedMs);
      arbiter.release(g.grant);
    }
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual(100);
      expect(w).toBeLessThan(2000);
    }
    const a = arbiter.stats('r').requesters.find((q) => q.requester === 'a')!;
    expect(a.grants).toBe(2);
    expect(a.meanWaitMs).toBeGreaterThanOrEqual(100);
    expect(a.meanWaitMs).toBeLessThan(2000);
    expect(Math.abs(a.meanWaitMs - (waits[0]! + waits[1]!) / 2)).toBeLessThan(0.01);
  });

  it('aging adds one point per agingMs waited, no more', async () => {
    const { arbiter } = await engine();
    arbiter.define({ resource: 'cpu', strategy: 'priority', capacity: 1, agingMs: 10 });
    const blocker = await arbiter.request('cpu', 'blocker');
    const low = arbiter.request('cpu', 'old-low', { priority: 'LOW' });
    await new Promise((r) => setTimeout(r, 300)); // ~30 points: -100 becomes about -70
    const other = arbiter.request('cpu', 'new-lower', { priority: -1000 });
    arbiter.release(blocker.grant);
    const g = await low;
    const aged = Number(/aged to (-?\d+\.\d)/.exec(g.rationale)![1]);
    expect(aged).toBeGreaterThanOrEqual(-75);
    expect(aged).toBeLessThan(0);
    arbiter.release(g.grant);
    await other;
  });
});
