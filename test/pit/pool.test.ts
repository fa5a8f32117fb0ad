import { describe, expect, it } from 'vitest';
import { Bus, TimeoutError } from '../../src/bus/index.js';
import { PoolManager } from '../../src/pit/pool/index.js';
import { delay } from '../helpers.js';
import { pitContext } from './context.js';

async function setup(config: Record<string, unknown> = {}) {
  const bus = new Bus({ name: 'pit' });
  const pool = new PoolManager();
  const { ctx, events } = pitContext(bus, config);
  await pool.init(ctx);
  for (const [m, h] of Object.entries(pool.methods)) bus.handle(m, h);
  return { bus, pool, events };
}

describe('Pool Manager', () => {
  it('warms an item Cold -> Warming -> Hot for the first lease, serves the next from hot, with reasons', async () => {
    const { bus, pool, events } = await setup();
    const warmed: string[] = [];
    bus.handle('models.load', ({ key }: { key: string }) => (warmed.push(key), { loadedAt: 1 }));
    await bus.request('pool.define', { pool: 'models', capacity: 2, concurrency: 2, warm: 'models.load' });
    const a = (await bus.request('pool.allocate', { pool: 'models', key: 'llama', holder: 'melody-1' })) as { lease: string; served: string; handle: unknown; item: string };
    expect(a).toMatchObject({ served: 'warmed', handle: { loadedAt: 1 } });
    const b = (await bus.request('pool.allocate', { pool: 'models', key: 'llama', holder: 'melody-2' })) as { served: string; item: string };
    expect(b).toMatchObject({ served: 'hot', item: a.item });
    expect(warmed).toEqual(['llama']);
    expect(events.map((e) => `${e.data.from}->${e.data.to}: ${e.data.reason}`)).toEqual(["cold->warming: requested by 'melody-1'", 'warming->hot: warmed up']);
    await pool[Symbol.asyncDispose]();
    await bus.stop();
  });

  it('evicts the least recently used idle item when the pool is full', async () => {
    const { bus, pool } = await setup();
    pool.define({ pool: 'm', capacity: 2, concurrency: 1, warmupMs: 0, idleMs: 0, probeEveryMs: 0 });
    const x = await pool.allocate('m', 'x', 't');
    const y = await pool.allocate('m', 'y', 't');
    pool.release(y.lease);
    await delay(2);
    pool.release(x.lease); // x is now the most recently used
    await pool.allocate('m', 'z', 't');
    const keys = pool.status('m').pools[0]!.items.map((i) => `${i.key}:${i.state}`).sort();
    expect(keys).toEqual(['x:hot', 'z:hot']);
    expect(pool.history(y.item).map((h) => h.to)).toEqual([]); // y's item is gone; its history went with it
    expect(pool.stats.evictions).toBe(1);
    await pool[Symbol.asyncDispose]();
    await bus.stop();
  });

  it('queues when every item is busy, serves in order on release, and times out with -32003', async () => {
    const { bus, pool } = await setup();
    pool.define({ pool: 'gpu', capacity: 1, concurrency: 1, warmupMs: 0, idleMs: 0, probeEveryMs: 0 });
    const first = await pool.allocate('gpu', 'big', 'a');
    const queued = pool.allocate('gpu', 'big', 'b');
    const late = pool.allocate('gpu', 'big', 'c', 50);
    await expect(late).rejects.toBeInstanceOf(TimeoutError);
    pool.release(first.lease);
    expect(await queued).toMatchObject({ served: 'queued', item: first.item });
    await pool[Symbol.asyncDispose]();
    await bus.stop();
  });

  it('marks an item Failed when warming fails, and when its health probe fails', async () => {
    const { bus, pool, events } = await setup();
    let healthy = true;
    bus.handle('w.load', ({ key }: { key: string }) => {
      if (key === 'broken') throw new Error('weights missing');
      return {};
    });
    bus.handle('w.ping', () => healthy);
    pool.define({ pool: 'w', capacity: 3, concurrency: 1, warm: 'w.load', probe: 'w.ping', warmupMs: 0, idleMs: 0, probeEveryMs: 50 });
    await expect(pool.allocate('w', 'broken', 't')).rejects.toThrow("'broken' in pool 'w' failed to warm: warming failed: w.load: Error: weights missing");
    const ok = await pool.allocate('w', 'fine', 't');
    pool.release(ok.lease);
    healthy = false;
    await delay(400);
    const failures = events.filter((e) => e.data.to === 'failed').map((e) => `${e.data.key}: ${e.data.reason}`);
    expect(failures).toEqual(['broken: warming failed: w.load: Error: weights missing', 'fine: health probe failed: probe returned false']);
    await pool[Symbol.asyncDispose]();
    await bus.stop();
  });

  it('validates params with -32602 naming the field', async () => {
    const { bus, pool } = await setup();
    await expect(bus.request('pool.define', { pool: 'p', capacity: 0 })).rejects.toMatchObject({ code: -32602, message: expect.stringMatching(/^pool.define: capacity: /) });
    await expect(bus.request('pool.allocate', { pool: 'nope', key: 'k' })).rejects.toMatchObject({ code: -32602, message: "no pool named 'nope' (define it with pool.define)" });
    await pool[Symbol.asyncDispose]();
    await bus.stop();
  });

  describe('the line of waiters', () => {
    type R = { lease?: string; key?: string; served?: string; code?: number };
    const call = (bus: Bus, p: Record<string, unknown>, opts?: { timeout?: number; signal?: AbortSignal }): Promise<R> =>
      bus.request('pool.allocate', p, opts).then(
        (l) => l as R,
        (e: { code: number }) => ({ code: e.code }),
      );

    it('serves waiters in order, each within its own timeout; none gets an internal error when items are evicted for them', async () => {
      const { bus } = await setup();
      await bus.request('pool.define', { pool: 'p', capacity: 2, warmupMs: 20, idleMs: 0 });
      const a = (await call(bus, { pool: 'p', key: 'a' })).lease!;
      await call(bus, { pool: 'p', key: 'b' });
      const w1 = call(bus, { pool: 'p', key: 'c', timeoutMs: 2000 });
      const w2 = call(bus, { pool: 'p', key: 'd', timeoutMs: 300 });
      const w3 = call(bus, { pool: 'p', key: 'a', timeoutMs: 300 });
      await delay(20);
      await bus.request('pool.release', { lease: a }); // room for one: the first in line, W1
      expect(await w1).toMatchObject({ key: 'c', served: 'queued' });
      expect((await w2).code).toBe(-32003);
      expect((await w3).code).toBe(-32003);
      await bus.stop();
    });

    it('a caller that timed out or cancelled is not handed a lease later, and leaks nothing', async () => {
      const { bus } = await setup();
      await bus.request('pool.define', { pool: 'p', capacity: 1, idleMs: 0 });
      const held = (await call(bus, { pool: 'p', key: 'a' })).lease!;
      const timedOut = call(bus, { pool: 'p', key: 'a' }, { timeout: 50 });
      const ac = new AbortController();
      const cancelled = call(bus, { pool: 'p', key: 'a' }, { signal: ac.signal });
      ac.abort();
      expect((await timedOut).code).toBe(-32003);
      expect((await cancelled).code).toBe(-32800);
      await bus.request('pool.release', { lease: held });
      const status = (await bus.request('pool.status', { pool: 'p' })) as { pools: { items: { leases: number }[] }[]; waiting: number };
      expect(status.waiting).toBe(0);
      expect(status.pools[0]!.items.map((i) => i.leases)).toEqual([0]);
      expect(await call(bus, { pool: 'p', key: 'a', timeoutMs: 100 })).toMatchObject({ served: 'hot' });
      await bus.stop();
    });

    it('a release serves the line before a new request made in the same turn; more capacity wakes waiters', async () => {
      const { bus } = await setup();
      await bus.request('pool.define', { pool: 'p', capacity: 1, idleMs: 0 });
      const held = (await call(bus, { pool: 'p', key: 'k' })).lease!;
      const first = call(bus, { pool: 'p', key: 'k', timeoutMs: 500 });
      await delay(10);
      void bus.request('pool.release', { lease: held });
      const later = call(bus, { pool: 'p', key: 'k', timeoutMs: 200 });
      expect(await first).toMatchObject({ served: 'queued' });
      expect((await later).code).toBe(-32003);
      const waiting = call(bus, { pool: 'p', key: 'other', timeoutMs: 1000 });
      await delay(10);
      await bus.request('pool.define', { pool: 'p', capacity: 2 });
      expect(await waiting).toMatchObject({ key: 'other' });
      await bus.stop();
    });

    it('refuses a timeout setTimeout cannot hold (it would fire at once) with -32602', async () => {
      const { bus } = await setup();
      await bus.request('pool.define', { pool: 'p' });
      expect((await call(bus, { pool: 'p', key: 'k', timeoutMs: 3e9 })).code).toBe(-32602);
      await bus.stop();
    });
  });
});
