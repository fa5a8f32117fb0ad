/**
 * An in-process request reads no clock unless it is in the latency sample (a target's first 64
 * calls, then one in 16): its deadline counts from the deadline wheel's first tick after it began.
 * Such a call must still time out with the typed error, its handler's signal must still abort,
 * and the stats must still count it.
 */
import { describe, expect, it } from 'vitest';
import { Bus, ErrorCode, TimeoutError, type HandlerContext } from '../../src/bus/index.js';

describe('a request outside the latency sample', () => {
  it('times out with -32003 within its deadline plus a tick or two, its handler aborted, and is counted', async () => {
    const bus = new Bus();
    bus.handle('quick', () => 1);
    const aborted: boolean[] = [];
    bus.handle('hang', (_p: unknown, ctx: HandlerContext) => {
      // Asks for its signal only (not its deadline): nothing here reads the clock for the call.
      const i = aborted.push(false) - 1;
      ctx.signal.addEventListener('abort', () => (aborted[i] = true));
      return new Promise(() => {});
    });
    // Past the 64 calls every one of which is timed.
    for (let i = 0; i < 100; i++) await bus.request('quick');
    // Calls 101..110 to the bus's own endpoint: none is one of the one in 16 (n % 16 === 1) timed.
    const t0 = performance.now();
    const errors = await Promise.all(Array.from({ length: 10 }, () => bus.request('hang', {}, { timeout: 60 }).catch((e: unknown) => e)));
    const elapsed = performance.now() - t0;
    for (const err of errors) {
      expect(err).toBeInstanceOf(TimeoutError);
      expect((err as TimeoutError).code).toBe(ErrorCode.Timeout);
      expect((err as TimeoutError).message).toContain('did not answer within 60ms');
    }
    expect(elapsed).toBeGreaterThanOrEqual(55);
    expect(elapsed).toBeLessThan(500);
    expect(aborted).toEqual(new Array(10).fill(true));
    const self = bus.stats().peers.find((p) => p.requests === 110)!;
    expect(self).toMatchObject({ requests: 110, inflight: 0, errors: 10, timeouts: 10 });
    expect(self.latency.count).toBe(110);
    expect(self.latency.p50Ms).toBeGreaterThan(0);
    await bus.stop();
  });
});
