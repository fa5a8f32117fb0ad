/**
 * One JSON-RPC session (src/bus/session.ts) driven from its other end over real streams: the
 * deadline a request carries and keeps, cancellation before and after sending, what a close does
 * to pending calls, the bound on bad frames in a row, and the bounds on a batch. Each test kills
 * mutants that survived the bus's other tests (see docs/testing.md).
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { BusError, PeerGoneError, RequestCancelledError, TimeoutError } from '../../src/bus/index.js';
import { DeadlineWheel } from '../../src/bus/deadlines.js';
import { MAX_BATCH, RpcSession } from '../../src/bus/session.js';
import { StreamTransport } from '../../src/bus/stream-transport.js';
import { delay, until } from '../helpers.js';

interface Wire {
  session: RpcSession;
  /** What the session wrote, a parsed frame each. */
  sent: any[];
  /** Writes a line to the session. */
  write(line: string): void;
  closes: string[];
}

let open: RpcSession[] = [];
afterEach(() => {
  for (const s of open) s.close();
  open = [];
});

function wire(options: { maxBadFrames?: number; defaultTimeoutMs?: number } = {}): Wire {
  const toSession = new PassThrough();
  const fromSession = new PassThrough();
  const sent: any[] = [];
  let buf = '';
  fromSession.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      sent.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
  });
  const session = new RpcSession(new StreamTransport(toSession, fromSession, { framing: 'ndjson' }), { wheel: new DeadlineWheel(), defaultTimeoutMs: options.defaultTimeoutMs ?? 30_000, peerName: 'other', maxBadFrames: options.maxBadFrames });
  const closes: string[] = [];
  session.onClose = (r) => closes.push(r);
  open.push(session);
  return { session, sent, write: (line) => toSession.write(`${line}\n`), closes };
}

describe('deadlines', () => {
  it("a request carries its deadline as epoch ms, the caller's timeout or the default, and fails when it passes", async () => {
    const w = wire({ defaultTimeoutMs: 60_000 });
    const t0 = Date.now();
    const given = w.session.request('m.given', undefined, { timeoutMs: 150 }).catch((e: unknown) => e);
    void w.session.request('m.default', undefined).catch(() => {});
    await until(() => w.sent.length === 2);
    const [a, b] = w.sent;
    expect(a.meta.deadline).toBeGreaterThanOrEqual(t0 + 150);
    expect(a.meta.deadline).toBeLessThan(t0 + 150 + 1000);
    expect(b.meta.deadline).toBeGreaterThanOrEqual(t0 + 60_000);
    expect(b.meta.deadline).toBeLessThan(t0 + 61_000);
    const err = (await given) as TimeoutError;
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toBe("'m.given' got no answer from 'other' within 150ms");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    // The other side is told to stop.
    await until(() => w.sent.some((m) => m.method === '$/cancelRequest' && m.params.id === a.id));
  });

  it("a deadline in meta shortens the timeout, never lengthens it; one already past fails at once as 0ms", async () => {
    const w = wire({ defaultTimeoutMs: 60_000 });
    const t0 = Date.now();
    const shorter = w.session.request('m.short', undefined, { timeoutMs: 10_000, meta: { deadline: t0 + 120 } }).catch((e: unknown) => e);
    void w.session.request('m.long', undefined, { timeoutMs: 200, meta: { deadline: t0 + 50_000 } }).catch(() => {});
    const past = w.session.request('m.past', undefined, { meta: { deadline: t0 - 5000 } }).catch((e: unknown) => e);
    await until(() => w.sent.filter((m) => m.method?.startsWith('m.')).length === 3);
    const [s, l] = w.sent;
    expect(s.meta.deadline).toBeLessThan(t0 + 1000);
    expect(l.meta.deadline).toBeLessThan(t0 + 1200);
    expect(((await past) as TimeoutError).message).toBe("'m.past' got no answer from 'other' within 0ms");
    expect(((await shorter) as TimeoutError).message).toBe("'m.short' got no answer from 'other' within 120ms");
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('an answer in time settles the call once; the deadline passing afterwards changes nothing', async () => {
    const w = wire();
    const p = w.session.request('m.ok', undefined, { timeoutMs: 100 });
    await until(() => w.sent.length === 1);
    w.write(JSON.stringify({ jsonrpc: '2.0', id: w.sent[0].id, result: 42 }));
    expect(await p).toBe(42);
    expect(w.session.pendingCount).toBe(0);
    await delay(200);
    expect(w.sent.filter((m) => m.method === '$/cancelRequest')).toEqual([]);
  });
});

describe('cancellation', () => {
  it('an aborted signal fails the call before it is sent; on a closed session the session is gone first', async () => {
    const w = wire();
    const ac = new AbortController();
    ac.abort();
    const err = (await w.session.request('m.x', undefined, { signal: ac.signal }).catch((e: unknown) => e)) as RequestCancelledError;
    expect(err).toBeInstanceOf(RequestCancelledError);
    expect(err.message).toBe("'m.x' was cancelled before it was sent");
    await delay(20);
    expect(w.sent).toEqual([]);
    w.session.close('shut');
    const gone = (await w.session.request('m.x', undefined, { signal: ac.signal }).catch((e: unknown) => e)) as PeerGoneError;
    expect(gone).toBeInstanceOf(PeerGoneError);
    expect(gone.message).toBe("'other' is gone: shut");
  });

  it('aborting after it was sent fails the call with -32800 and tells the other side; aborting after the answer does nothing', async () => {
    const w = wire();
    const ac = new AbortController();
    const p = w.session.request('m.slow', undefined, { signal: ac.signal }).catch((e: unknown) => e);
    await until(() => w.sent.length === 1);
    ac.abort();
    const err = (await p) as RequestCancelledError;
    expect([err.code, err.message]).toEqual([-32800, "'m.slow' was cancelled"]);
    await until(() => w.sent.length === 2);
    expect(w.sent[1]).toEqual({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: w.sent[0].id } });
    const later = new AbortController();
    const q = w.session.request('m.quick', undefined, { signal: later.signal });
    await until(() => w.sent.length === 3);
    w.write(JSON.stringify({ jsonrpc: '2.0', id: w.sent[2].id, result: 'ok' }));
    expect(await q).toBe('ok');
    later.abort();
    await delay(20);
    expect(w.sent).toHaveLength(3);
  });
});

describe('close', () => {
  it("fails every pending call at once with -32004 naming the peer and the reason, cancels what it serves, and says why once", async () => {
    const w = wire();
    const calls = [w.session.request('m.a', undefined), w.session.request('m.b', undefined)].map((p) => p.catch((e: unknown) => e));
    const served: string[] = [];
    w.session.onRequest = (r) => (r.onCancel = { requestCancelled: () => served.push(r.method) });
    w.write('{"jsonrpc":"2.0","id":1,"method":"theirs"}');
    await until(() => w.session.incomingCount === 1 && w.sent.length === 2);
    w.session.close('shutting down');
    w.session.close('again');
    const errors = (await Promise.all(calls)) as PeerGoneError[];
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      [-32004, "'other' is gone (shutting down) with 'm.a' unanswered"],
      [-32004, "'other' is gone (shutting down) with 'm.b' unanswered"],
    ]);
    expect(served).toEqual(['theirs']);
    expect(w.closes).toEqual(['shutting down']);
    expect([w.session.closed, w.session.pendingCount, w.session.incomingCount, w.session.incomingBytes]).toEqual([true, 0, 0, 0]);
  });
});

describe('bad frames', () => {
  it('more than maxBadFrames in a row close the session; a good frame between them starts the count again', async () => {
    const w = wire({ maxBadFrames: 3 });
    const errors: string[] = [];
    w.session.onProtocolError = (d) => errors.push(d);
    for (let i = 0; i < 3; i++) w.write('not json');
    w.write('{"jsonrpc":"2.0","method":"fine"}');
    for (let i = 0; i < 3; i++) w.write('not json');
    await until(() => w.sent.length === 6);
    expect(w.session.closed).toBe(false);
    w.write('{"jsonrpc":"2.0","id":"x","method":"served"}');
    await delay(20);
    for (let i = 0; i < 3; i++) w.write('{}');
    await delay(50);
    expect(w.session.closed).toBe(false);
    w.write('not json');
    await until(() => w.session.closed, 3000, 'the session to close');
    expect(w.closes).toEqual(['more than 3 bad frames in a row']);
    expect(errors).toHaveLength(10);
  });

  it('by default, 100 bad frames are tolerated and the 101st closes', async () => {
    const w = wire();
    for (let i = 0; i < 100; i++) w.write('[]');
    await until(() => w.sent.length === 100);
    expect(w.session.closed).toBe(false);
    w.write('[]');
    await until(() => w.session.closed, 3000, 'the session to close');
    expect(w.closes).toEqual(['more than 100 bad frames in a row']);
  });
});

describe('batches', () => {
  it(`a batch of ${MAX_BATCH} elements is served; one more is refused whole, by name`, async () => {
    const w = wire();
    const seen: unknown[] = [];
    w.session.onRequest = (r) => (seen.push(r.id), w.session.respond(r, r.id));
    const batch = (n: number) => `[${Array.from({ length: n }, (_, i) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'm' })).join(',')}]`;
    w.write(batch(MAX_BATCH));
    await until(() => w.sent.length === 1);
    expect(w.sent[0]).toHaveLength(MAX_BATCH);
    expect(seen).toHaveLength(MAX_BATCH);
    w.write(batch(MAX_BATCH + 1));
    await until(() => w.sent.length === 2);
    expect(w.sent[1]).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: `invalid request: a batch of ${MAX_BATCH + 1} elements (at most ${MAX_BATCH})` } });
    expect(seen).toHaveLength(MAX_BATCH);
    expect(MAX_BATCH).toBe(1024);
  });

  it("an empty batch is one error; a batch's answers come back as one array once every element is answered", async () => {
    const w = wire();
    w.write('[]');
    await until(() => w.sent.length === 1);
    expect(w.sent[0]).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid request: an empty batch' } });
    const held: Parameters<RpcSession['onRequest']>[0][] = [];
    w.session.onRequest = (r) => held.push(r);
    w.write('[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"note"},{"jsonrpc":"2.0","id":2,"method":"b"}]');
    await until(() => held.length === 2);
    w.session.respond(held[1]!, 'second');
    await delay(20);
    expect(w.sent).toHaveLength(1);
    w.session.respondError(held[0]!, new BusError(-32000, 'first failed'));
    await until(() => w.sent.length === 2);
    expect(w.sent[1]).toEqual([
      { jsonrpc: '2.0', id: 2, result: 'second' },
      { jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'first failed' } },
    ]);
  });
});
