/**
 * The wire protocol from outside, byte by byte, as a hostile or careless peer would speak it:
 * the kernel answers every bad frame with the right JSON-RPC error or closes the connection, and
 * it and every other peer carry on.
 */
import { statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bus, type HandlerContext } from '../../src/bus/index.js';
import { delay, until } from '../helpers.js';

interface Raw {
  socket: Socket;
  messages: Record<string, any>[];
  closed: boolean;
  send(data: string | Buffer): void;
  /** Sends a JSON-RPC message as one NDJSON line. */
  rpc(message: object): void;
  next(pred: (m: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
}

function raw(path: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buffer = '';
    const r: Raw = {
      socket,
      messages: [],
      closed: false,
      send: (d) => void socket.write(d),
      rpc: (m) => void socket.write(`${JSON.stringify(m)}\n`),
      async next(pred, ms = 3000) {
        const end = Date.now() + ms;
        for (;;) {
          const i = r.messages.findIndex(pred);
          if (i >= 0) return r.messages.splice(i, 1)[0]!;
          if (Date.now() > end) throw new Error(`no matching message; got ${JSON.stringify(r.messages)}`);
          await delay(2);
        }
      },
    };
    socket.on('data', (d) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          if (line.trim()) r.messages.push(JSON.parse(line));
        } catch {
          // not an NDJSON line (a test that switched to Content-Length reads the bytes itself)
        }
      }
    });
    socket.on('close', () => (r.closed = true));
    socket.on('error', () => {});
    socket.once('connect', () => resolve(r));
    socket.once('error', reject);
  });
}

let bus: Bus;
let token: string;
let path: string;

beforeEach(async () => {
  bus = new Bus({ maxFrameBytes: 64 * 1024 });
  token = bus.issueToken('operator', undefined, { operator: true });
  path = (await bus.listen({ operatorToken: token })).path;
  bus.handle('kernel.echo', (p: unknown, ctx: HandlerContext) => ({ p, peer: ctx.peer, traceparent: ctx.traceparent }));
});
afterEach(async () => bus.stop());

async function hello(r: Raw, peer = 'tool'): Promise<Record<string, any>> {
  r.rpc({ jsonrpc: '2.0', id: 'h', method: 'symphony.hello', params: { protocol: 1, peer, token } });
  return r.next((m) => m.id === 'h');
}

describe('the wire protocol', () => {
  it('puts the socket in a private directory, mode 0600, with the token file beside it (0600)', () => {
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
    expect(statSync(`${path}.token`).mode & 0o777).toBe(0o600);
  });

  it('says hello, then serves requests with the trace context carried through', async () => {
    const r = await raw(path);
    expect((await hello(r)).result).toEqual({ protocol: 1, peer: 'tool', framing: 'ndjson', maxFrameBytes: 65536, heartbeatMs: 5000, maxInFlight: 1024 });
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    r.rpc({ jsonrpc: '2.0', id: 1, method: 'kernel.echo', params: { a: 1 }, meta: { traceparent: tp } });
    expect((await r.next((m) => m.id === 1)).result).toEqual({ p: { a: 1 }, peer: 'tool', traceparent: tp });
    r.socket.destroy();
  });

  it('refuses a bad token with -32001 and closes the connection', async () => {
    const r = await raw(path);
    r.rpc({ jsonrpc: '2.0', id: 1, method: 'symphony.hello', params: { protocol: 1, peer: 'x', token: 'guess' } });
    expect((await r.next((m) => m.id === 1)).error).toMatchObject({ code: -32001, message: 'bad token' });
    await until(() => r.closed);
  });

  it('refuses anything before hello with -32001 and closes', async () => {
    const r = await raw(path);
    r.rpc({ jsonrpc: '2.0', id: 7, method: 'kernel.echo' });
    expect((await r.next((m) => m.id === 7)).error.code).toBe(-32001);
    await until(() => r.closed);
  });

  it('answers garbage with -32700 and invalid messages with -32600, and keeps the connection', async () => {
    const r = await raw(path);
    await hello(r);
    r.send('this is not json\n');
    expect((await r.next((m) => m.error?.code === -32700)).id).toBe(null);
    r.send(Buffer.from([0xff, 0xfe, 0x00, 0x0a]));
    await r.next((m) => m.error?.code === -32700);
    r.rpc({ jsonrpc: '1.0', id: 2, method: 'kernel.echo' });
    expect((await r.next((m) => m.id === 2)).error.code).toBe(-32600);
    r.rpc({ id: 3, result: 'a response nobody asked for', jsonrpc: '2.0' }); // ignored
    r.rpc([{ jsonrpc: '2.0', id: 4, method: 'kernel.echo' }]); // a batch of one: an array of one back
    expect(await r.next((m) => Array.isArray(m))).toMatchObject([{ id: 4, result: {} }]);
    r.rpc({ jsonrpc: '2.0', id: { not: 'an id' }, method: 'kernel.echo' });
    await r.next((m) => m.error?.code === -32600 && m.id === null);
    r.rpc({ jsonrpc: '2.0', id: 5, method: 'kernel.echo', params: 'still fine' });
    expect((await r.next((m) => m.id === 5)).result.p).toBe('still fine');
    expect(r.closed).toBe(false);
    r.socket.destroy();
  });

  it('answers an oversize frame with -32006 and its id, without losing sync', async () => {
    const r = await raw(path);
    await hello(r);
    r.rpc({ jsonrpc: '2.0', id: 10, method: 'kernel.echo', params: { blob: 'x'.repeat(200_000) } });
    r.rpc({ jsonrpc: '2.0', id: 11, method: 'kernel.echo', params: 'after' });
    expect((await r.next((m) => m.id === 10)).error).toMatchObject({ code: -32006 });
    expect((await r.next((m) => m.id === 11)).result.p).toBe('after');
    r.socket.destroy();
  });

  it('reassembles half-written frames', async () => {
    const r = await raw(path);
    await hello(r);
    const frame = `${JSON.stringify({ jsonrpc: '2.0', id: 20, method: 'kernel.echo', params: 'pieces' })}\n`;
    for (let i = 0; i < frame.length; i += 7) {
      r.send(frame.slice(i, i + 7));
      await delay(1);
    }
    expect((await r.next((m) => m.id === 20)).result.p).toBe('pieces');
    r.socket.destroy();
  });

  it('speaks Content-Length (LSP) framing when the first bytes say so', async () => {
    const r = await raw(path);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'symphony.hello', params: { protocol: 1, peer: 'lsp', token } });
    const chunks: Buffer[] = [];
    r.socket.removeAllListeners('data');
    r.socket.on('data', (d) => chunks.push(d));
    r.send(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await until(() => Buffer.concat(chunks).toString().includes('"peer":"lsp"'));
    expect(Buffer.concat(chunks).toString()).toMatch(/^Content-Length: \d+\r\n\r\n\{"jsonrpc":"2.0","id":1,"result":\{"protocol":1,"peer":"lsp"/);
    r.socket.destroy();
  });

  it('cancels a request at once when the peer sends $/cancelRequest', async () => {
    let aborted = false;
    bus.handle('kernel.wait', (_p: unknown, ctx: HandlerContext) => {
      ctx.signal.addEventListener('abort', () => (aborted = true));
      return new Promise(() => {});
    });
    const r = await raw(path);
    await hello(r);
    r.rpc({ jsonrpc: '2.0', id: 30, method: 'kernel.wait' });
    await delay(10);
    r.rpc({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 30 } });
    expect((await r.next((m) => m.id === 30)).error.code).toBe(-32800);
    expect(aborted).toBe(true);
    r.socket.destroy();
  });

  it('forbids registering reserved names and serves what a peer registers', async () => {
    const r = await raw(path);
    await hello(r, 'server');
    r.rpc({ jsonrpc: '2.0', id: 1, method: 'symphony.register', params: { methods: ['tool.run'] } });
    await r.next((m) => m.id === 1 && m.result);
    const answer = bus.request('tool.run', { n: 1 });
    const forwarded = await r.next((m) => m.method === 'tool.run');
    expect(forwarded.meta.deadline).toBeGreaterThan(Date.now());
    expect(forwarded.meta.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    r.rpc({ jsonrpc: '2.0', id: forwarded.id, result: 'ran' });
    expect(await answer).toBe('ran');
    r.rpc({ jsonrpc: '2.0', id: 2, method: 'symphony.register', params: { methods: ['symphony.evil'] } });
    expect((await r.next((m) => m.id === 2)).error.code).toBe(-32002);
    r.socket.destroy();
  });

  it('delivers events to a socket subscriber and takes publishes from it', async () => {
    const r = await raw(path);
    await hello(r);
    r.rpc({ jsonrpc: '2.0', id: 1, method: 'symphony.subscribe', params: { pattern: 'jobs.*' } });
    await r.next((m) => m.id === 1);
    bus.publish('jobs.done', { id: 9 });
    expect(await r.next((m) => m.method === 'symphony.event')).toMatchObject({ params: { topic: 'jobs.done', data: { id: 9 } } });
    const got: unknown[] = [];
    bus.subscribe('tool.>', (d) => void got.push(d));
    r.rpc({ jsonrpc: '2.0', method: 'symphony.publish', params: { topic: 'tool.progress', data: 50 } });
    await until(() => got.length === 1);
    expect(got).toEqual([50]);
    r.socket.destroy();
  });

  it('drops a peer that stops answering heartbeats', async () => {
    await bus.stop();
    bus = new Bus({ heartbeat: '60ms' });
    token = bus.issueToken('operator', undefined, { operator: true });
    path = (await bus.listen()).path;
    const r = await raw(path);
    await hello(r, 'sleepy');
    // The raw client never answers symphony.ping.
    await until(() => r.closed, 3000, 'the bus to drop the silent peer');
    expect(r.messages.some((m) => m.method === 'symphony.ping')).toBe(true);
  });

  it('stops reading from a peer past its in-flight window, then resumes: nothing is lost', async () => {
    await bus.stop();
    bus = new Bus({ maxInFlight: 8 });
    token = bus.issueToken('operator', undefined, { operator: true });
    path = (await bus.listen()).path;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let seen = 0;
    bus.handle('kernel.gated', async (n: number) => {
      seen++;
      await gate;
      return n;
    });
    const r = await raw(path);
    await hello(r);
    let lines = '';
    for (let i = 0; i < 200; i++) lines += `${JSON.stringify({ jsonrpc: '2.0', id: 100 + i, method: 'kernel.gated', params: i })}\n`;
    r.send(lines);
    await delay(100);
    // Paused after about one window of requests (the socket buffers the rest, unread).
    expect(seen).toBeLessThan(200);
    release();
    await until(() => r.messages.filter((m) => m.id >= 100).length === 200, 5000, 'all answers');
    expect(r.messages.filter((m) => m.id >= 100).map((m) => m.result).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    r.socket.destroy();
  });

  it('carries on for everyone else while a peer misbehaves', async () => {
    const bad = await raw(path);
    await hello(bad, 'bad');
    const good = await raw(path);
    await hello(good, 'good');
    for (let i = 0; i < 50; i++) bad.send('}{ garbage ][\n');
    good.rpc({ jsonrpc: '2.0', id: 1, method: 'kernel.echo', params: 'ok' });
    expect((await good.next((m) => m.id === 1)).result.p).toBe('ok');
    expect(await bus.request('kernel.echo', 1)).toMatchObject({ p: 1 });
    bad.socket.destroy();
    good.socket.destroy();
  });
});

describe('negotiation and protection', () => {
  it('switches to Content-Length framing after hello when the peer asks for it', async () => {
    const r = await raw(path);
    const chunks: Buffer[] = [];
    r.socket.on('data', (d) => chunks.push(d));
    r.rpc({ jsonrpc: '2.0', id: 'h', method: 'symphony.hello', params: { protocol: 1, peer: 'lsp2', token, framing: 'content-length' } });
    expect((await r.next((m) => m.id === 'h')).result.framing).toBe('content-length');
    const body = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'kernel.echo', params: 'framed' });
    r.send(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await until(() => Buffer.concat(chunks).toString().includes('"framed"'));
    expect(Buffer.concat(chunks).toString()).toMatch(/Content-Length: \d+\r\n\r\n\{"jsonrpc":"2.0","id":2,"result":\{"p":"framed"/);
    r.socket.destroy();
  });

  it('opens the circuit to a peer that keeps timing out, then fails fast with -32005', async () => {
    const r = await raw(path);
    await hello(r, 'stuck');
    r.rpc({ jsonrpc: '2.0', id: 1, method: 'symphony.register', params: { methods: ['stuck.work'] } });
    await r.next((m) => m.id === 1);
    // The raw peer never answers: five timeouts in a row open the breaker.
    for (let i = 0; i < 5; i++) await expect(bus.request('stuck.work', {}, { timeout: 20 })).rejects.toMatchObject({ code: -32003 });
    const t0 = performance.now();
    await expect(bus.request('stuck.work', {}, { timeout: 5000 })).rejects.toMatchObject({ code: -32005 });
    expect(performance.now() - t0).toBeLessThan(1000); // refused at once, not after its 5s deadline
    expect(bus.stats().peers.find((p) => p.name === 'stuck')).toMatchObject({ breaker: 'open', timeouts: 5 });
    r.socket.destroy();
  });

  it('stops reading a peer whose answers back up, and answers everything once it reads', async () => {
    await bus.stop();
    bus = new Bus({ maxOutputBytes: 512 * 1024 });
    token = bus.issueToken('operator', undefined, { operator: true });
    path = (await bus.listen()).path;
    const big = 'b'.repeat(32 * 1024);
    let served = 0;
    bus.handle('kernel.big', () => (served++, big));
    const r = await raw(path);
    await hello(r, 'burst');
    r.socket.pause();
    let lines = '';
    for (let i = 0; i < 200; i++) lines += `${JSON.stringify({ jsonrpc: '2.0', id: 100 + i, method: 'kernel.big' })}\n`;
    r.send(lines);
    await delay(150);
    // 6.4 MB asked for: the bus stopped answering at about half of maxOutputBytes.
    expect(served).toBeLessThan(200);
    expect(bus.stats().peers.find((p) => p.name === 'burst')!.queuedBytes).toBeLessThanOrEqual(512 * 1024);
    r.socket.resume();
    await until(() => r.messages.filter((m) => m.id >= 100).length === 200, 5000, 'all answers');
    expect(bus.stats().slowConsumers).toBe(0);
    r.socket.destroy();
  });

  it('drops a peer that does not read as a slow consumer: calls pending to it fail with -32004', async () => {
    await bus.stop();
    bus = new Bus({ maxOutputBytes: 256 * 1024 });
    token = bus.issueToken('operator', undefined, { operator: true });
    path = (await bus.listen()).path;
    const events: string[] = [];
    bus.onEvent((e) => void (e.type === 'slow-consumer' && events.push(e.detail)));
    const r = await raw(path);
    await hello(r, 'sink');
    r.rpc({ jsonrpc: '2.0', id: 1, method: 'symphony.register', params: { methods: ['sink.take'] } });
    await r.next((m) => m.id === 1);
    r.socket.pause();
    // Requests to it are not its own answers: nothing holds them back but the limit.
    const calls = Array.from({ length: 40 }, () => bus.request('sink.take', 'x'.repeat(64 * 1024)).catch((e: unknown) => e));
    const errors = (await Promise.all(calls)) as { code: number; message: string }[];
    expect(errors.every((e) => e.code === -32004 || e.code === -32601)).toBe(true);
    expect(errors[0]).toMatchObject({ code: -32004, message: expect.stringContaining('slow consumer') });
    expect(events).toEqual([expect.stringMatching(/^disconnected: \d+ bytes unsent \(maxOutputBytes 262144\)$/)]);
    expect(bus.stats().slowConsumers).toBe(1);
    r.socket.resume(); // to see the end of the connection
    await until(() => r.closed, 3000, 'the connection to close');
  });

  it('drops a peer that asks and never reads once its held-back output does not go down', async () => {
    await bus.stop();
    bus = new Bus({ maxOutputBytes: 256 * 1024, heartbeat: '100ms' });
    token = bus.issueToken('operator', undefined, { operator: true });
    path = (await bus.listen()).path;
    const big = 'b'.repeat(32 * 1024);
    bus.handle('kernel.big', () => big);
    const gone: string[] = [];
    const slow: string[] = [];
    bus.onEvent((e) => void (e.type === 'peer' && e.state === 'gone' ? gone.push(e.reason ?? '') : e.type === 'slow-consumer' && slow.push(e.detail)));
    const r = await raw(path);
    await hello(r, 'stuck');
    r.socket.pause();
    let lines = '';
    for (let i = 0; i < 100; i++) lines += `${JSON.stringify({ jsonrpc: '2.0', id: 100 + i, method: 'kernel.big' })}\n`;
    r.send(lines);
    await until(() => gone.length > 0, 3000, 'the bus to drop the peer');
    expect(gone).toEqual(['it stopped reading (slow consumer)']);
    // Dropped by the heartbeat's check (its output stayed under maxOutputBytes: reading it stopped at half).
    expect(slow).toEqual([expect.stringMatching(/^disconnected: \d+ bytes unread, not reading$/)]);
    expect(bus.stats().slowConsumers).toBe(1);
    r.socket.destroy();
  });

  it('refuses a second connection that replays a spawned peer\'s token while it is connected', async () => {
    const peerToken = bus.issueToken('ext-a', { provides: ['a.*'], calls: [], publishes: [], subscribes: [] });
    const first = await raw(path);
    first.rpc({ jsonrpc: '2.0', id: 1, method: 'symphony.hello', params: { protocol: 1, peer: 'whatever', token: peerToken } });
    expect((await first.next((m) => m.id === 1)).result.peer).toBe('ext-a');
    const replay = await raw(path);
    replay.rpc({ jsonrpc: '2.0', id: 1, method: 'symphony.hello', params: { protocol: 1, peer: 'ext-a', token: peerToken } });
    expect((await replay.next((m) => m.id === 1)).error).toMatchObject({ code: -32001, message: "'ext-a' is already connected" });
    await until(() => replay.closed);
    // Its rights come from the token: calling outside its manifest is forbidden.
    first.rpc({ jsonrpc: '2.0', id: 2, method: 'kernel.echo' });
    expect((await first.next((m) => m.id === 2)).error.code).toBe(-32002);
    first.socket.destroy();
  });
});
