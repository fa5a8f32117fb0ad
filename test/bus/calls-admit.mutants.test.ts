/**
 * The call table's edges as a caller sees them through the Bus's public API (src/bus/calls.ts):
 * the latency sample's rule, what a handler's plain (non-promise) result becomes, a notification
 * handler that returns nothing, the refusals' data and denied events, what serve() refuses, and a
 * registration that really unregisters.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Bus, BusError, ErrorCode, ForbiddenError, MethodNotFoundError, PeerGoneError, type BusEvent } from '../../src/bus/index.js';
import { delay } from '../helpers.js';

let buses: Bus[] = [];
afterEach(async () => {
  for (const b of buses) await b.stop();
  buses = [];
});
function newBus(): Bus {
  const b = new Bus();
  buses.push(b);
  return b;
}
function eventsOf(bus: Bus): BusEvent[] {
  const out: BusEvent[] = [];
  bus.onEvent((e) => void out.push(e));
  return out;
}
const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe('the call table', () => {
  // Which calls are timed is seen through the histogram's max: a 30 ms call is in it only if it
  // was sampled (the in-process calls around it answer in microseconds).
  async function maxAfter(slow: (n: number) => boolean): Promise<number> {
    const bus = newBus();
    const svc = bus.endpoint('svc');
    let n = 0;
    svc.handle('svc.echo', (p) => (slow(++n) ? delay(30).then(() => p) : p));
    const caller = bus.endpoint('caller');
    for (let i = 0; i < 200; i++) await caller.request('svc.echo', i);
    const stats = bus.stats().peers.find((p) => p.name === 'svc')!;
    expect([stats.requests, stats.latency.count]).toEqual([200, 200]);
    return stats.latency.maxMs;
  }
  const sampled = (n: number) => n <= 64 || (n & 15) === 1;

  it("times every call among a target's first 64, then one in 16, and no other", async () => {
    expect([66, 100, 200].every((n) => !sampled(n))).toBe(true);
    expect(await maxAfter((n) => n === 66 || n === 100 || n === 200)).toBeLessThan(20);
    expect(await maxAfter((n) => n === 64)).toBeGreaterThanOrEqual(25);
    expect(await maxAfter((n) => n === 81)).toBeGreaterThanOrEqual(25);
  });

  it("a handler's plain result is the answer as it is: null, a number, a string, an object, an object whose then is not a function", async () => {
    const bus = newBus();
    const svc = bus.endpoint('svc');
    const results: unknown[] = [null, 0, 5, 'x', { a: 1 }, { then: 'not a function' }, undefined];
    svc.handle('svc.plain', (i) => results[i as number]);
    const caller = bus.endpoint('caller');
    for (let i = 0; i < results.length; i++) expect(await caller.request('svc.plain', i)).toEqual(results[i]);
  });

  it('a notification handler that returns nothing (or a plain value) reports no handler error; one that rejects does', async () => {
    const bus = newBus();
    const events = eventsOf(bus);
    const svc = bus.endpoint('svc');
    const seen: unknown[] = [];
    svc.handle('svc.note', (p) => {
      seen.push(p);
      if (p === 'reject') return Promise.reject(new Error('no'));
      return p === 'value' ? 42 : undefined;
    });
    const caller = bus.endpoint('caller');
    caller.notify('svc.note', 'nothing');
    caller.notify('svc.note', 'value');
    caller.notify('svc.note', 'reject');
    await delay(20);
    expect(seen).toEqual(['nothing', 'value', 'reject']);
    const errors = events.filter((e) => e.type === 'handler-error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ type: 'handler-error', peer: 'svc', method: 'svc.note' });
  });

  it('a refused call names the method and the caller in its data, and is a denied event for the calls right', async () => {
    const bus = newBus();
    const events = eventsOf(bus);
    bus.endpoint('svc').handle('svc.secret', () => 'secret');
    const narrow = bus.endpoint('narrow', { calls: ['other.>'], provides: [], publishes: [], subscribes: [] });
    const err = await caught(narrow.request('svc.secret', {}));
    expect(err).toBeInstanceOf(ForbiddenError);
    expect((err as BusError).data).toEqual({ method: 'svc.secret', peer: 'narrow' });
    expect(events.filter((e) => e.type === 'denied')).toEqual([expect.objectContaining({ type: 'denied', peer: 'narrow', action: 'calls', subject: 'svc.secret' })]);
    const missing = await caught(bus.endpoint('caller').request('svc.none', {}));
    expect(missing).toBeInstanceOf(MethodNotFoundError);
    expect((missing as BusError).code).toBe(ErrorCode.MethodNotFound);
  });

  it('a bad timeout string is refused naming the timeout, and the handler never runs', async () => {
    const bus = newBus();
    let ran = 0;
    bus.endpoint('svc').handle('svc.x', () => ran++);
    const err = await caught(bus.endpoint('caller').request('svc.x', {}, { timeout: 'soon' }));
    expect((err as Error).message).toMatch(/^timeout: "soon" is not a duration/);
    expect(ran).toBe(0);
  });

  it('handle refuses an empty method and a bad pattern, naming it; a refused provide names the method and the peer', () => {
    const bus = newBus();
    const svc = bus.endpoint('svc');
    expect(() => svc.handle('', () => 1)).toThrow(/^method must be a non-empty string$/);
    expect(() => svc.handle('svc.*x', () => 1)).toThrow(/^method 'svc\.\*x' is not valid/);
    const narrow = bus.endpoint('narrow', { calls: [], provides: ['narrow.>'], publishes: [], subscribes: [] });
    let err: unknown;
    try {
      narrow.handle('svc.y', () => 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ForbiddenError);
    expect((err as BusError).data).toEqual({ method: 'svc.y', peer: 'narrow' });
  });

  it('handle refuses a protocol name, and any name once the endpoint is stopped, naming the method (and the peer)', () => {
    const bus = newBus();
    const svc = bus.endpoint('svc');
    const refusal = (f: () => unknown): BusError => {
      try {
        f();
      } catch (e) {
        return e as BusError;
      }
      throw new Error('not refused');
    };
    const reserved = refusal(() => svc.handle('symphony.mine', () => 1));
    expect(reserved).toBeInstanceOf(ForbiddenError);
    expect([reserved.message, reserved.data]).toEqual(["'symphony.mine' is reserved for the protocol", { method: 'symphony.mine' }]);
    expect(refusal(() => svc.handle('$/mine', () => 1)).message).toBe("'$/mine' is reserved for the protocol");
    svc.stop();
    const gone = refusal(() => svc.handle('svc.late', () => 1));
    expect(gone).toBeInstanceOf(PeerGoneError);
    expect(gone.data).toEqual({ method: 'svc.late', peer: 'svc' });
  });

  it('an in-process handler that timed out again and again is still called: the circuit guards peers only', async () => {
    const bus = newBus();
    let ran = 0;
    bus.endpoint('svc').handle('svc.slow', (p) => (ran++, p === 'now' ? 'answered' : delay(50)));
    const caller = bus.endpoint('caller');
    for (let i = 0; i < 6; i++) expect(await caught(caller.request('svc.slow', 'late', { timeout: 5 }))).toMatchObject({ code: ErrorCode.Timeout });
    expect(await caller.request('svc.slow', 'now')).toBe('answered');
    expect(ran).toBe(7);
  });

  it('a registration is ready at once, and once unregistered the method is not found', async () => {
    const bus = newBus();
    const reg = bus.endpoint('svc').handle('svc.once', () => 'here');
    await expect(reg.ready).resolves.toBeUndefined();
    const caller = bus.endpoint('caller');
    expect(await caller.request('svc.once', {})).toBe('here');
    reg.unregister();
    const err = await caught(caller.request('svc.once', {}));
    expect(err).toBeInstanceOf(MethodNotFoundError);
  });
});
