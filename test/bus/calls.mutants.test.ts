/**
 * The bus's calls as callers see them, through public faces only (Bus.request, endpoints, a peer
 * on the bus's socket): a peer's deadline and the bus's cap on it, a peer's cancellation, an
 * already aborted or later aborted signal and the listener a request leaves on it, a deputy's
 * call for another identity, handler failures, notifications, what may not be served, the
 * memory budget of a peer's requests, the latency sample's rule and plain results. Each kills mutants of src/bus/calls.ts and
 * src/bus/deadlines.ts that the other in-process suites left (see docs/testing.md).
 */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Bus, BusError, ErrorCode, ForbiddenError, InternalError, MethodNotFoundError, PeerGoneError, RequestCancelledError, TimeoutError, type BusEvent, type HandlerContext, type Rights } from '../../src/bus/index.js';

/** Rights with every list the caller leaves out empty. */
const r = (given: Partial<Rights>): Rights => ({ provides: [], calls: [], publishes: [], subscribes: [], ...given });
import { delay, until } from '../helpers.js';
import { RawPeer } from './raw-peer.js';

let buses: Bus[] = [];
let peers: RawPeer[] = [];
afterEach(async () => {
  for (const p of peers) p.close();
  for (const b of buses) await b.stop();
  buses = [];
  peers = [];
});
function newBus(options: ConstructorParameters<typeof Bus>[0] = {}): Bus {
  const b = new Bus(options);
  buses.push(b);
  return b;
}
function eventsOf(bus: Bus): BusEvent[] {
  const out: BusEvent[] = [];
  bus.onEvent((e) => void out.push(e));
  return out;
}
/** A raw peer on the bus's socket, past hello, with the given rights. */
async function peer(bus: Bus, name: string, given: Partial<Rights> = { calls: ['>'] }): Promise<RawPeer> {
  const path = bus.socketPath ?? (await bus.listen()).path;
  const token = bus.issueToken(name, r(given));
  const p = await RawPeer.open(path);
  peers.push(p);
  const h = await p.hello(token, name);
  expect(h.result).toBeDefined();
  return p;
}

describe("a peer's request and its deadline", () => {
  it('a deadline already past when it arrives fails it with -32003 at once', async () => {
    const bus = newBus();
    let served = 0;
    bus.handle('work.hang', () => (served++, new Promise(() => {})));
    const p = await peer(bus, 'caller');
    const t0 = performance.now();
    p.rpc({ jsonrpc: '2.0', id: 7, method: 'work.hang', params: {}, meta: { deadline: Date.now() - 10_000 } });
    const answer = await p.next((j) => j?.id === 7, 2000);
    expect(answer.json.error.code).toBe(ErrorCode.Timeout);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(served).toBe(1);
  });

  it("the peer's deadline bounds the handler's time; the bus's default caps a longer one; none means the default", async () => {
    const bus = newBus({ defaultTimeout: 300 });
    const budgets: number[] = [];
    bus.handle('work.budget', (_p: unknown, ctx: HandlerContext) => (budgets.push(ctx.remainingMs()), new Promise(() => {})));
    const p = await peer(bus, 'caller');
    const t0 = performance.now();
    p.rpc({ jsonrpc: '2.0', id: 'short', method: 'work.budget', meta: { deadline: Date.now() + 100 } });
    p.rpc({ jsonrpc: '2.0', id: 'long', method: 'work.budget', meta: { deadline: Date.now() + 60_000 } });
    p.rpc({ jsonrpc: '2.0', id: 'none', method: 'work.budget' });
    const short = await p.next((j) => j?.id === 'short', 3000);
    const tShort = performance.now() - t0;
    const long = await p.next((j) => j?.id === 'long', 3000);
    const tLong = performance.now() - t0;
    const none = await p.next((j) => j?.id === 'none', 3000);
    for (const a of [short, long, none]) expect(a.json.error.code).toBe(ErrorCode.Timeout);
    expect(budgets[0]).toBeLessThanOrEqual(100);
    expect(budgets[0]).toBeGreaterThan(30);
    expect(budgets[1]).toBeLessThanOrEqual(300);
    expect(budgets[1]).toBeGreaterThan(200);
    expect(budgets[2]).toBeLessThanOrEqual(300);
    expect(budgets[2]).toBeGreaterThan(200);
    expect(tShort).toBeGreaterThanOrEqual(90);
    expect(tShort).toBeLessThan(280);
    expect(tLong).toBeGreaterThanOrEqual(290);
    expect(tLong).toBeLessThan(2000);
  });

  it("a peer's $/cancelRequest aborts the handler's signal", async () => {
    const bus = newBus();
    let signal: AbortSignal | undefined;
    bus.handle('work.wait', (_p: unknown, ctx: HandlerContext) => ((signal = ctx.signal), new Promise(() => {})));
    const p = await peer(bus, 'caller');
    p.rpc({ jsonrpc: '2.0', id: 3, method: 'work.wait' });
    await until(() => signal !== undefined, 2000, 'the handler');
    expect(signal!.aborted).toBe(false);
    p.rpc({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 3 } });
    await until(() => signal!.aborted, 2000, 'the abort');
    expect(signal!.reason).toBeInstanceOf(RequestCancelledError);
    expect((signal!.reason as Error).message).toBe("the caller 'caller' cancelled 'work.wait'");
  });

  it('a peer over its memory budget is refused -32005 naming the budget, and the refusal is reported once, not per request', async () => {
    const bus = newBus({ maxPeerBytes: 20_000 });
    const events = eventsOf(bus);
    bus.handle('work.hold', () => new Promise(() => {}));
    const p = await peer(bus, 'greedy');
    const big = 'x'.repeat(8_000);
    for (let i = 0; i < 10; i++) p.rpc({ jsonrpc: '2.0', id: i, method: 'work.hold', params: big });
    const refused: any[] = [];
    await until(() => {
      for (let f = p.frames.findIndex((x) => x.json?.error); f >= 0; f = p.frames.findIndex((x) => x.json?.error)) refused.push(p.frames.splice(f, 1)[0]!.json);
      return refused.length >= 5;
    }, 3000, 'refusals');
    for (const r of refused) {
      expect(r.error.code).toBe(ErrorCode.Overloaded);
      expect(r.error.message).toMatch(/^'greedy' is over its memory budget: the kernel holds \d+ bytes for it \(its waiting requests and unsent answers; maxPeerBytes 20000\): wait for answers before sending more$/);
    }
    await delay(20);
    const reports = events.filter((e) => e.type === 'slow-consumer' && e.peer === 'greedy');
    expect(reports).toHaveLength(1);
    expect((reports[0] as { detail: string }).detail).toMatch(/^over its memory budget \(the kernel holds \d+ bytes for it; maxPeerBytes 20000\): its new requests are refused with -32005 \(1 so far\)$/);
  });
});

describe('an in-process request', () => {
  it('takes its timeout as ms or a duration, else the default; a bad one is refused by name before anything runs', async () => {
    const bus = newBus({ defaultTimeout: '120ms' });
    let served = 0;
    bus.handle('hang', () => (served++, new Promise(() => {})));
    const t0 = performance.now();
    const dflt = await bus.request('hang').catch((e: unknown) => e);
    const tDefault = performance.now() - t0;
    expect(dflt).toBeInstanceOf(TimeoutError);
    expect((dflt as Error).message).toBe("'hang' (served by 'kernel') did not answer within 120ms");
    expect(tDefault).toBeGreaterThanOrEqual(120);
    expect(((await bus.request('hang', {}, { timeout: '40ms' }).catch((e: unknown) => e)) as Error).message).toBe("'hang' (served by 'kernel') did not answer within 40ms");
    expect(served).toBe(2);
    const bad = await bus.request('hang', {}, { timeout: 'soon' as never }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(TypeError);
    expect((bad as Error).message).toBe('timeout: "soon" is not a duration (use a number of ms, or e.g. "250ms", "5s", "2m")');
    expect(served).toBe(2);
  });

  it("an already aborted signal cancels it with -32800 naming the method; an abort after the answer changes nothing", async () => {
    const bus = newBus();
    bus.handle('wait', () => new Promise(() => {}));
    bus.handle('quick', async () => 'q');
    const ac = new AbortController();
    ac.abort();
    const err = await bus.request('wait', {}, { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestCancelledError);
    expect((err as RequestCancelledError).message).toBe("'wait' was cancelled");
    const later = new AbortController();
    const pending = bus.request('wait', {}, { signal: later.signal });
    await delay(5);
    later.abort();
    expect(((await pending.catch((e: unknown) => e)) as Error).message).toBe("'wait' was cancelled");
    const after = new AbortController();
    expect(await bus.request('quick', {}, { signal: after.signal })).toBe('q');
    after.abort();
    await delay(5);
    expect(bus.stats().peers.find((p) => p.name === 'kernel')).toMatchObject({ inflight: 0, errors: 2 });
  });

  it('a long-lived signal keeps no listener from requests already answered, sync or async', async () => {
    const bus = newBus();
    bus.handle('sync', () => 1);
    bus.handle('async', async () => 2);
    const ac = new AbortController();
    for (let i = 0; i < 50; i++) {
      expect(await bus.request('sync', {}, { signal: ac.signal })).toBe(1);
      expect(await bus.request('async', {}, { signal: ac.signal })).toBe(2);
    }
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('a handler that throws an Error answers -32603 and reports it; a thrown BusError keeps its code and is not reported', async () => {
    const bus = newBus();
    const events = eventsOf(bus);
    bus.handle('boom', () => {
      throw new Error('kaput');
    });
    bus.handle('nope', () => {
      throw new ForbiddenError('not for you');
    });
    bus.handle('thenable', () => ({ then: (ok: (v: unknown) => void) => ok('from a thenable') }));
    const boom = await bus.request('boom').catch((e: unknown) => e);
    expect(boom).toBeInstanceOf(InternalError);
    const nope = await bus.request('nope').catch((e: unknown) => e);
    expect((nope as BusError).code).toBe(ErrorCode.Forbidden);
    expect(await bus.request('thenable')).toBe('from a thenable');
    const reported = events.filter((e) => e.type === 'handler-error');
    expect(reported).toEqual([{ type: 'handler-error', peer: 'kernel', method: 'boom', error: (boom as Error).message }]);
  });
});

describe('a deputy calling on behalf of another identity', () => {
  it("is admitted with the principal's rights: the handler sees the principal as its caller, not an operator", async () => {
    const bus = newBus();
    bus.endpoint('ext', r({ calls: ['svc.read'] }));
    bus.issueToken('tool', r({ calls: ['svc.*'] }));
    const seen: [string, boolean | undefined][] = [];
    bus.handle('svc.read', (_p: unknown, ctx: HandlerContext) => (seen.push([ctx.peer, ctx.operator]), 'ok'));
    expect(await bus.request('svc.read', {}, { onBehalfOf: 'ext' })).toBe('ok');
    expect(await bus.request('svc.read', {}, { onBehalfOf: 'tool' })).toBe('ok');
    expect(await bus.request('svc.read', {}, { onBehalfOf: 'kernel' })).toBe('ok');
    expect(seen).toEqual([
      ['ext', false],
      ['tool', false],
      ['kernel', true],
    ]);
  });

  it('is refused when the principal may not call it, or is unknown, saying why; each refusal is a denied event for the principal', async () => {
    const bus = newBus();
    const events = eventsOf(bus);
    bus.endpoint('ext', r({ calls: ['svc.read'] }));
    let served = 0;
    bus.handle('svc.write', () => served++);
    const a = await bus.request('svc.write', {}, { onBehalfOf: 'ext' }).catch((e: unknown) => e);
    expect(a).toBeInstanceOf(ForbiddenError);
    expect((a as Error).message).toBe("'ext' may not call 'svc.write' (asked through 'kernel': not in its calls)");
    const b = await bus.request('svc.write', {}, { onBehalfOf: 'stranger' }).catch((e: unknown) => e);
    expect(b).toBeInstanceOf(ForbiddenError);
    expect((b as Error).message).toBe("'stranger' may not call 'svc.write' (asked through 'kernel': an identity the bus does not know has no rights)");
    // The refusal's data names the principal, not the deputy.
    expect([(a as BusError).data, (b as BusError).data]).toEqual([
      { method: 'svc.write', peer: 'ext' },
      { method: 'svc.write', peer: 'stranger' },
    ]);
    expect(served).toBe(0);
    expect(events.filter((e) => e.type === 'denied')).toEqual([
      { type: 'denied', peer: 'ext', action: 'calls', subject: 'svc.write' },
      { type: 'denied', peer: 'stranger', action: 'calls', subject: 'svc.write' },
    ]);
    expect(bus.stats().deniedCalls).toBe(2);
  });

  it("only the kernel's own parts may name another identity; naming itself is an ordinary call", async () => {
    const bus = newBus();
    const events = eventsOf(bus);
    const ext = bus.endpoint('ext', r({ calls: ['svc.*'] }));
    bus.endpoint('other', r({ calls: ['svc.*'] }));
    bus.handle('svc.read', (_p: unknown, ctx: HandlerContext) => ctx.peer);
    const err = await ext.request('svc.read', {}, { onBehalfOf: 'other' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForbiddenError);
    expect((err as Error).message).toBe("'ext' may not call on behalf of 'other': only the kernel's own parts act for another identity");
    expect((err as BusError).data).toEqual({ method: 'svc.read', peer: 'ext' });
    expect(events.filter((e) => e.type === 'denied')).toEqual([{ type: 'denied', peer: 'ext', action: 'calls', subject: 'svc.read' }]);
    expect(await ext.request('svc.read', {}, { onBehalfOf: 'ext' })).toBe('ext');
  });
});

describe('notifications and serving', () => {
  it("a notification's handler failure is reported, not thrown; a refused one is a denied event; one nobody serves is dropped", async () => {
    const bus = newBus();
    const events = eventsOf(bus);
    const heard: unknown[] = [];
    bus.handle('n.throws', () => {
      throw new Error('sync kaput');
    });
    bus.handle('n.rejects', async () => {
      throw 'async kaput';
    });
    bus.handle('n.ok', (p: unknown) => void heard.push(p));
    const ext = bus.endpoint('ext', r({ calls: ['n.ok'] }));
    bus.notify('n.throws', 1);
    bus.notify('n.rejects', 2);
    bus.notify('n.nobody', 3);
    ext.notify('n.ok', 4);
    ext.notify('n.throws', 5);
    await delay(10);
    expect(heard).toEqual([4]);
    expect(events.filter((e) => e.type === 'handler-error')).toEqual([
      { type: 'handler-error', peer: 'kernel', method: 'n.throws', error: 'sync kaput' },
      { type: 'handler-error', peer: 'kernel', method: 'n.rejects', error: 'async kaput' },
    ]);
    expect(events.filter((e) => e.type === 'denied')).toEqual([{ type: 'denied', peer: 'ext', action: 'calls', subject: 'n.throws' }]);
  });

  it("a request forwarded to a serving peer carries the caller's deadline as epoch ms, not a later one", async () => {
    const bus = newBus();
    const p = await peer(bus, 'svc', { provides: ['svc.*'] });
    p.rpc({ jsonrpc: '2.0', id: 'r', method: 'symphony.register', params: { methods: ['svc.slow'] } });
    await until(() => bus.serves('svc.slow'), 2000, 'svc.slow served');
    const t0 = Date.now();
    const answer = bus.request('svc.slow', {}, { timeout: 1500 }).catch((e: unknown) => e);
    const f = await p.next((j) => j?.method === 'svc.slow', 2000);
    expect(f.json.meta.deadline).toBeGreaterThanOrEqual(t0 + 1500 - 50);
    expect(f.json.meta.deadline).toBeLessThanOrEqual(Date.now() + 1500);
    p.rpc({ jsonrpc: '2.0', id: f.json.id, result: 'done' });
    expect(await answer).toBe('done');
  });

  it('a notification to a peer reaches it as a notification', async () => {
    const bus = newBus();
    const p = await peer(bus, 'svc', { provides: ['svc.*'] });
    p.rpc({ jsonrpc: '2.0', id: 'r', method: 'symphony.register', params: { methods: ['svc.note'] } });
    await until(() => bus.serves('svc.note'), 2000, 'svc.note served');
    bus.notify('svc.note', { n: 1 });
    const f = await p.next((j) => j?.method === 'svc.note', 2000);
    expect(f.json.params).toEqual({ n: 1 });
    expect(f.json.id).toBeUndefined();
  });

  it('refuses to serve a reserved, empty or ungranted method, or from a closed endpoint, each by name', async () => {
    const bus = newBus();
    const events = eventsOf(bus);
    expect(() => bus.handle('symphony.mine', () => 0)).toThrow("'symphony.mine' is reserved for the protocol");
    expect(() => bus.handle('$/mine', () => 0)).toThrow("'$/mine' is reserved for the protocol");
    expect(() => bus.handle('', () => 0)).toThrow('method must be a non-empty string');
    const ext = bus.endpoint('ext', r({ provides: ['ext.*'] }));
    expect(() => ext.handle('other.thing', () => 0)).toThrow("'ext' may not serve 'other.thing' (not in its manifest's provides)");
    expect(events.filter((e) => e.type === 'denied')).toEqual([{ type: 'denied', peer: 'ext', action: 'provides', subject: 'other.thing' }]);
    ext.stop('done');
    const closed = (() => {
      try {
        ext.handle('ext.late', () => 0);
      } catch (e) {
        return e;
      }
    })();
    expect(closed).toBeInstanceOf(PeerGoneError);
    expect((closed as Error).message).toBe("'ext' is closed: it cannot serve 'ext.late'");
  });
});

describe("a failing peer's circuit", () => {
  it('after five timeouts in a row a call to it is refused at once with -32005 naming it', async () => {
    const bus = newBus();
    const p = await peer(bus, 'stuck', { provides: ['stuck.*'] });
    p.rpc({ jsonrpc: '2.0', id: 'r', method: 'symphony.register', params: { methods: ['stuck.work'] } });
    await until(() => bus.serves('stuck.work'), 2000, 'stuck.work served');
    for (let i = 0; i < 5; i++) await expect(bus.request('stuck.work', {}, { timeout: 30 })).rejects.toBeInstanceOf(TimeoutError);
    const t0 = performance.now();
    const err = await bus.request('stuck.work', {}, { timeout: 5000 }).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect((err as BusError).code).toBe(ErrorCode.Overloaded);
    expect((err as Error).message).toBe("'stuck' is failing (circuit open): 'stuck.work' refused");
  });
});

const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe('the call table: the latency sample, plain results, notifications, refusals, handle, unregister', () => {
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
