import { describe, expect, it } from 'vitest';
import {
  Bus,
  ErrorCode,
  ForbiddenError,
  InternalError,
  MethodNotFoundError,
  PeerGoneError,
  RequestCancelledError,
  TimeoutError,
  type HandlerContext,
} from '../../src/bus/index.js';
import { delay, until } from '../helpers.js';

describe('in-process bus', () => {
  it('routes request/reply, sync and async handlers, and tells the handler who called', async () => {
    const bus = new Bus();
    const api = bus.endpoint('api');
    bus.handle('math.add', ({ a, b }: { a: number; b: number }) => a + b);
    bus.handle('who', async (_p: unknown, ctx: HandlerContext) => ctx.peer);
    expect(await bus.request('math.add', { a: 2, b: 3 })).toBe(5);
    expect(await api.request('who')).toBe('api');
    await bus.stop();
  });

  it('fails a method nobody serves at once with -32601 (never a timeout)', async () => {
    const bus = new Bus();
    const t0 = performance.now();
    const err = await bus.request('nobody.home').catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(1000); // waiting for an answer would take the 30s default deadline
    expect(err).toBeInstanceOf(MethodNotFoundError);
    expect((err as MethodNotFoundError).code).toBe(-32601);
    expect((err as Error).message).toBe("nobody serves 'nobody.home'");
    await bus.stop();
  });

  it('maps handler errors: a thrown Error is -32603 naming the method; a BusError keeps its code', async () => {
    const bus = new Bus();
    bus.handle('boom', () => {
      throw new RangeError('out of range');
    });
    bus.handle('picky', () => {
      throw new ForbiddenError('not you');
    });
    bus.handle('rejects', () => Promise.reject('a string'));
    const e1 = (await bus.request('boom').catch((e: unknown) => e)) as InternalError;
    expect([e1.code, e1.message]).toEqual([-32603, 'boom: RangeError: out of range']);
    expect(e1.cause).toBeInstanceOf(RangeError);
    expect(((await bus.request('picky').catch((e: unknown) => e)) as ForbiddenError).code).toBe(-32002);
    expect(((await bus.request('rejects').catch((e: unknown) => e)) as InternalError).message).toBe('rejects: handler threw a string');
    await bus.stop();
  });

  it('times out with -32003 and aborts the handler; the remaining time reaches the handler', async () => {
    const bus = new Bus();
    let aborted = false;
    let budget = -1;
    bus.handle('slow', (_p: unknown, ctx: HandlerContext) => {
      budget = ctx.remainingMs();
      ctx.signal.addEventListener('abort', () => (aborted = true));
      return new Promise(() => {});
    });
    const t0 = performance.now();
    const err = await bus.request('slow', {}, { timeout: '60ms' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).code).toBe(ErrorCode.Timeout);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(aborted).toBe(true);
    expect(budget).toBeGreaterThan(40);
    expect(budget).toBeLessThanOrEqual(60);
    await bus.stop();
  });

  it('cancels with an AbortSignal: the caller gets -32800 and the handler its abort', async () => {
    const bus = new Bus();
    let handlerSignal!: AbortSignal;
    bus.handle('wait', (_p: unknown, ctx: HandlerContext) => {
      handlerSignal = ctx.signal;
      return new Promise(() => {});
    });
    const ac = new AbortController();
    const pending = bus.request('wait', {}, { signal: ac.signal });
    await delay(5);
    ac.abort();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestCancelledError);
    expect((err as RequestCancelledError).code).toBe(-32800);
    expect(handlerSignal.aborted).toBe(true);
    await bus.stop();
  });

  it('serves pattern routes, the most specific first, exact before pattern', async () => {
    const bus = new Bus();
    bus.handle('files.*', (_p: unknown, ctx: HandlerContext) => `star:${ctx.method}`);
    bus.handle('files.>', (_p: unknown, ctx: HandlerContext) => `rest:${ctx.method}`);
    bus.handle('files.read', () => 'exact');
    expect(await bus.request('files.read')).toBe('exact');
    expect(await bus.request('files.write')).toBe('star:files.write');
    expect(await bus.request('files.dir.list')).toBe('rest:files.dir.list');
    await expect(bus.request('files')).rejects.toBeInstanceOf(MethodNotFoundError);
    expect(() => bus.handle('files.read', () => 1)).not.toThrow(); // the same owner may re-register
    const other = bus.endpoint('other');
    expect(() => other.handle('files.read', () => 2)).toThrow("'files.read' is already served by 'kernel'");
    await bus.stop();
  });

  it('publishes to wildcard subscribers in order, each with a bounded queue', async () => {
    const bus = new Bus();
    const seen: string[] = [];
    bus.subscribe('news.*', (data: number, e) => void seen.push(`star ${e.topic} ${data}`));
    bus.subscribe('news.>', (data: number, e) => void seen.push(`rest ${e.topic} ${data}`));
    bus.subscribe('news.sport', async (data: number) => {
      await delay(1);
      seen.push(`exact ${data}`);
    });
    bus.publish('news.sport', 1);
    bus.publish('news.sport', 2);
    bus.publish('news.world.eu', 3);
    bus.publish('weather.rain', 4);
    await until(() => seen.length === 7);
    expect(seen.filter((s) => s.startsWith('star'))).toEqual(['star news.sport 1', 'star news.sport 2']);
    expect(seen.filter((s) => s.startsWith('rest'))).toEqual(['rest news.sport 1', 'rest news.sport 2', 'rest news.world.eu 3']);
    expect(seen.filter((s) => s.startsWith('exact'))).toEqual(['exact 1', 'exact 2']);
    await bus.stop();
  });

  it('applies the slow-consumer policy: drop-oldest keeps the newest, counted', async () => {
    const bus = new Bus();
    const got: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sub = bus.subscribe(
      'tick',
      async (n: number) => {
        if (n === 0) await gate;
        got.push(n);
      },
      { queue: 3, policy: 'drop-oldest' },
    );
    bus.publish('tick', 0);
    await delay(1); // 0 is being delivered (held at the gate); the queue is empty
    for (let i = 1; i < 10; i++) bus.publish('tick', i);
    release();
    await until(() => got.length === 4);
    expect(got).toEqual([0, 7, 8, 9]);
    expect(sub.dropped).toBe(6);
    expect(bus.stats().droppedEvents).toBe(6);
    await bus.stop();
  });

  it('enforces rights: only declared calls, provides, publishes and subscribes (-32002)', async () => {
    const bus = new Bus();
    bus.handle('text.wordCount', () => 1);
    bus.handle('admin.wipe', () => 'wiped');
    const ext = bus.endpoint('word-count', { provides: ['text.*'], calls: ['text.wordCount'], publishes: ['text.>'], subscribes: ['files.changed'] });
    expect(await ext.request('text.wordCount')).toBe(1);
    const denied = (await ext.request('admin.wipe').catch((e: unknown) => e)) as ForbiddenError;
    expect([denied.code, denied.message]).toEqual([-32002, "'word-count' may not call 'admin.wipe' (not in its manifest's calls)"]);
    expect(() => ext.handle('admin.other', () => 0)).toThrow(ForbiddenError);
    expect(() => ext.publish('files.changed')).toThrow("'word-count' may not publish 'files.changed'");
    expect(() => ext.subscribe('text.>', () => {})).toThrow(ForbiddenError);
    expect(() => ext.subscribe('files.changed', () => {})).not.toThrow();
    expect(bus.stats().deniedCalls).toBe(4);
    await bus.stop();
  });

  it('rejects everything pending to an endpoint at once when it goes away (-32004)', async () => {
    const bus = new Bus();
    const ext = bus.endpoint('ext');
    ext.handle('ext.hang', () => new Promise(() => {}));
    const pending = [bus.request('ext.hang'), bus.request('ext.hang')];
    await delay(5);
    const t0 = performance.now();
    ext.stop('deactivated');
    const errors = await Promise.all(pending.map((p) => p.catch((e: unknown) => e)));
    expect(performance.now() - t0).toBeLessThan(1000); // not their 30s deadline
    for (const e of errors) {
      expect(e).toBeInstanceOf(PeerGoneError);
      expect((e as PeerGoneError).message).toBe("'ext' is gone (deactivated) with 'ext.hang' unanswered");
    }
    await expect(bus.request('ext.hang')).rejects.toBeInstanceOf(MethodNotFoundError);
    await bus.stop();
  });

  it('reports per-peer latency, in-flight and request counts', async () => {
    const bus = new Bus();
    const ext = bus.endpoint('svc');
    ext.handle('svc.ping', () => 'pong');
    for (let i = 0; i < 100; i++) await bus.request('svc.ping');
    const peer = bus.stats().peers.find((p) => p.name === 'svc')!;
    expect(peer).toMatchObject({ requests: 100, inflight: 0, errors: 0, state: 'open' });
    expect(peer.latency.count).toBe(100);
    expect(peer.latency.p50Ms).toBeGreaterThan(0);
    expect(peer.latency.p99Ms).toBeGreaterThanOrEqual(peer.latency.p50Ms);
    await bus.stop();
  });
});

describe('reserved methods (activation on first call)', () => {
  it('activates once on the first call; every waiting call goes to the real handler', async () => {
    const bus = new Bus();
    let activations = 0;
    const ext = bus.endpoint('lazy-ext');
    bus.reserve(['lazy.work', 'lazy.*'], async () => {
      activations++;
      await delay(30);
      ext.handle('lazy.work', (n: number) => n * 10);
    });
    const results = await Promise.all([bus.request('lazy.work', 1), bus.request('lazy.work', 2)]);
    expect(results).toEqual([10, 20]);
    expect(activations).toBe(1);
    expect(await bus.request('lazy.work', 3)).toBe(30);
    // A reserved pattern the activated party did not register is a clear -32601.
    await expect(bus.request('lazy.other')).rejects.toBeInstanceOf(MethodNotFoundError);
    await bus.stop();
  });

  it("fails the waiting calls with the activation's error", async () => {
    const bus = new Bus();
    bus.reserve(['broken.work'], async () => {
      throw new Error("activation of 'broken' failed: main.js threw");
    });
    await expect(bus.request('broken.work')).rejects.toThrow("broken.work: Error: activation of 'broken' failed: main.js threw");
    await bus.stop();
  });

  it('a call waiting on a reservation that a newer one took over goes on through the newer one', async () => {
    const bus = new Bus();
    let back!: () => void;
    // The gap while a party restarts: calls wait for it to be back.
    bus.reserve(['gap.work'], () => new Promise<void>((r) => (back = r)));
    const waiting = bus.request('gap.work', 4, { timeout: '5s' });
    await delay(10);
    // Back, but activated on first call again (onCall): a new reservation replaces the first.
    const ext = bus.endpoint('gap-ext');
    let activations = 0;
    bus.reserve(['gap.work'], async () => {
      activations++;
      ext.handle('gap.work', (n: number) => n * 100);
    });
    back();
    expect(await waiting).toBe(400);
    expect(activations).toBe(1);
    await bus.stop();
  });
});
