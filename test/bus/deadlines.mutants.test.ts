/**
 * Request deadlines as a caller sees them, through the Bus's public request API only (so these
 * hold whatever keeps the deadlines: today the wheel of src/bus/deadlines.ts): a deadline never
 * fires early, fires within a generous bound after, in deadline order; an answered request is
 * never failed later; one already overdue when first looked at still fails; many pending at
 * once each get their own verdict. Bounds are wide against what a broken wheel does (fire a tick
 * early, never fire, fire them all at once).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Bus, ErrorCode, TimeoutError, type HandlerContext } from '../../src/bus/index.js';
import { delay } from '../helpers.js';

let buses: Bus[] = [];
afterEach(async () => {
  for (const b of buses) await b.stop();
  buses = [];
});
function newBus(options: ConstructorParameters<typeof Bus>[0] = {}): Bus {
  const b = new Bus(options);
  buses.push(b);
  return b;
}

/** Issues a request that nobody answers; resolves with how long it took to fail, and its error. */
async function timed(bus: Bus, method: string, timeout: number | string): Promise<{ ms: number; err: unknown }> {
  const t0 = performance.now();
  const err = await bus.request(method, {}, { timeout }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { ms: performance.now() - t0, err };
}

describe('a request deadline', () => {
  it('never fires before the timeout, and fires within a bound after it', async () => {
    const bus = newBus();
    bus.handle('hang', () => new Promise(() => {}));
    // 40 timeouts spread over sub-tick offsets: a deadline filed a tick early (rounded down)
    // would fail some of these before their time.
    const timeouts = Array.from({ length: 40 }, (_, i) => 30 + i * 1.7);
    const results = await Promise.all(timeouts.map((t) => timed(bus, 'hang', t)));
    for (let i = 0; i < results.length; i++) {
      const { ms, err } = results[i]!;
      expect(err).toBeInstanceOf(TimeoutError);
      expect((err as TimeoutError).code).toBe(ErrorCode.Timeout);
      expect(ms).toBeGreaterThanOrEqual(timeouts[i]!);
      expect(ms).toBeLessThan(timeouts[i]! + 1000);
    }
  });

  it('requests pending at once fail in the order of their deadlines, each near its own', async () => {
    const bus = newBus();
    bus.handle('hang', () => new Promise(() => {}));
    const order: number[] = [];
    const t0 = performance.now();
    const at: number[] = [];
    const timeouts = [400, 40, 250, 120, 0, 180];
    await Promise.all(
      timeouts.map((t) =>
        bus.request('hang', {}, { timeout: t }).catch(() => {
          order.push(t);
          at[timeouts.indexOf(t)] = performance.now() - t0;
        }),
      ),
    );
    expect(order).toEqual([...timeouts].sort((a, b) => a - b));
    // Not all at once: the last fails well after the first.
    expect(at[0]! - at[4]!).toBeGreaterThan(300);
    for (let i = 0; i < timeouts.length; i++) expect(at[i]!).toBeGreaterThanOrEqual(timeouts[i]!);
  });

  it('a timeout of 0 or 1 ms (overdue when the bus first files it) still fails, at once', async () => {
    const bus = newBus();
    bus.handle('hang', () => new Promise(() => {}));
    for (const t of [0, 1, '1ms']) {
      const r = await Promise.race([timed(bus, 'hang', t), delay(2000).then(() => ({ ms: Infinity, err: 'never failed' }))]);
      expect(r.err).toBeInstanceOf(TimeoutError);
      expect(r.ms).toBeLessThan(1000);
    }
  });

  it('an answered request is never failed later: its handler is not aborted and no timeout is counted', async () => {
    const bus = newBus();
    const aborted: boolean[] = [];
    bus.handle('soon', async (p: number, ctx: HandlerContext) => {
      const i = aborted.push(false) - 1;
      ctx.signal.addEventListener('abort', () => (aborted[i] = true));
      await delay(p);
      return p;
    });
    // Answered before, around and well before their deadlines; one answered at once (young).
    const answers = await Promise.all([0, 10, 30, 60].map((p) => bus.request('soon', p, { timeout: p + 80 })));
    expect(answers).toEqual([0, 10, 30, 60]);
    await delay(300); // past every deadline
    expect(aborted).toEqual([false, false, false, false]);
    const self = bus.stats().peers.find((p) => p.requests === 4)!;
    expect(self).toMatchObject({ inflight: 0, errors: 0, timeouts: 0 });
  });

  it('a deadline long after another request was answered still fires (the bus keeps timing it)', async () => {
    const bus = newBus();
    bus.handle('quick', () => 'q');
    bus.handle('hang', () => new Promise(() => {}));
    const slow = timed(bus, 'hang', 150);
    for (let i = 0; i < 20; i++) expect(await bus.request('quick')).toBe('q');
    const { ms, err } = await slow;
    expect(err).toBeInstanceOf(TimeoutError);
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(1200);
  });

  it('deadlines keep working after a quiet spell with nothing pending', async () => {
    const bus = newBus();
    bus.handle('hang', () => new Promise(() => {}));
    for (let round = 0; round < 3; round++) {
      const { ms, err } = await timed(bus, 'hang', 30);
      expect(err).toBeInstanceOf(TimeoutError);
      expect(ms).toBeGreaterThanOrEqual(30);
      expect(ms).toBeLessThan(1000);
      await delay(40); // nothing pending for several ticks
    }
  });

  it('5,000 requests pending at once: the answered ones get their answers, every other one its timeout', async () => {
    const bus = newBus();
    const waiting: ((v: unknown) => void)[] = [];
    bus.handle('held', (i: number) => (i % 2 === 0 ? i : new Promise((r) => waiting.push(r))));
    const t0 = performance.now();
    const all = await Promise.all(
      Array.from({ length: 5000 }, (_, i) =>
        bus.request('held', i, { timeout: 200 }).then(
          (v) => ['ok', v],
          (e: unknown) => ['err', e instanceof TimeoutError],
        ),
      ),
    );
    expect(performance.now() - t0).toBeGreaterThanOrEqual(200);
    for (let i = 0; i < all.length; i++) expect(all[i]).toEqual(i % 2 === 0 ? ['ok', i] : ['err', true]);
    // Answers after the deadline change nothing.
    for (const r of waiting) r('late');
    await delay(20);
    const self = bus.stats().peers.find((p) => p.requests === 5000)!;
    expect(self).toMatchObject({ inflight: 0, timeouts: 2500 });
  });

  it("a late answer after the timeout is dropped: the caller keeps its TimeoutError, the handler's signal aborted", async () => {
    const bus = newBus();
    let signal: AbortSignal | undefined;
    let answer!: (v: unknown) => void;
    bus.handle('late', (_p: unknown, ctx: HandlerContext) => {
      signal = ctx.signal;
      return new Promise((r) => (answer = r));
    });
    const r = await timed(bus, 'late', 50);
    expect(r.err).toBeInstanceOf(TimeoutError);
    expect((r.err as TimeoutError).message).toBe("'late' (served by 'kernel') did not answer within 50ms");
    expect(signal?.aborted).toBe(true);
    answer('too late');
    await delay(20);
    expect(bus.stats().peers.find((p) => p.name === 'kernel')).toMatchObject({ inflight: 0, errors: 1, timeouts: 1 });
  });
});
