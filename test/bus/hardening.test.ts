/**
 * What a hostile or broken peer can no longer do to the kernel over its socket: crash it with deep
 * nesting (a request, or an answer it forwards), hang a caller with a malformed or oversize answer,
 * make an error about an answer pass for the answer to one of its own requests, ping-pong errors,
 * swallow the stream with an impossible Content-Length, have its ids rewritten, or hold the
 * kernel's descriptors with connections that never say hello.
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bus, type BusEvent } from '../../src/bus/index.js';
import { DeadlineWheel } from '../../src/bus/deadlines.js';
import { RpcSession } from '../../src/bus/session.js';
import { StreamTransport } from '../../src/bus/stream-transport.js';
import { delay, until } from '../helpers.js';
import { RawPeer } from './raw-peer.js';

let bus: Bus;
let token: string;
let path: string;
let events: BusEvent[];

async function start(options: ConstructorParameters<typeof Bus>[0] = {}): Promise<void> {
  bus = new Bus({ maxFrameBytes: 64 * 1024, ...options });
  token = bus.issueToken('operator', undefined, { operator: true });
  path = (await bus.listen({ operatorToken: token })).path;
  events = [];
  bus.onEvent((e) => events.push(e));
  bus.handle('kernel.echo', (p: unknown) => p);
}
afterEach(async () => bus?.stop());

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** A raw peer that serves `method` (registered), to answer the kernel's forwarded requests by hand. */
async function server(method: string): Promise<RawPeer> {
  const s = await RawPeer.open(path);
  await s.hello(token, 'server');
  s.rpc({ jsonrpc: '2.0', id: 'reg', method: 'symphony.register', params: { methods: [method] } });
  await s.next((j) => j?.id === 'reg');
  return s;
}

describe('deep nesting', () => {
  beforeEach(() => start());

  it('a request whose params nest 5,000 deep is refused with its id, never forwarded, and the kernel serves on', async () => {
    const s = await server('svc.deep');
    const c = await RawPeer.open(path);
    await c.hello(token, 'caller');
    c.send(`{"jsonrpc":"2.0","id":41,"method":"svc.deep","params":${nested(5000)}}`);
    const f = await c.next((j) => j?.id === 41);
    expect(f.json.error.code).toBe(-32600);
    expect(f.json.error.message).toContain('nested deeper than 128');
    // The serving peer got nothing (the bus did not try to re-serialise it).
    await s.nothingBefore('s-after');
    c.rpc({ jsonrpc: '2.0', id: 42, method: 'kernel.echo', params: 'alive' });
    expect((await c.next((j) => j?.id === 42)).json.result).toBe('alive');
  });

  it("a serving peer's answer nested 5,000 deep fails its caller at once, and the kernel serves on", async () => {
    const s = await server('svc.deepAnswer');
    const c = await RawPeer.open(path);
    await c.hello(token, 'caller');
    c.rpc({ jsonrpc: '2.0', id: 7, method: 'svc.deepAnswer', meta: { deadline: Date.now() + 20_000 } });
    const req = await s.next((j) => j?.method === 'svc.deepAnswer');
    const t0 = Date.now();
    s.send(`{"jsonrpc":"2.0","id":${req.json.id},"result":${nested(5000)}}`);
    const f = await c.next((j) => j?.id === 7);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(f.json.error.code).toBe(-32603);
    expect(f.json.error.message).toMatch(/malformed answer.*server/);
    // The serving peer is told by a notification, not by an error carrying the bus's own id.
    const note = await s.next((j) => j?.method === 'symphony.error');
    expect(note.json.id).toBeUndefined();
  });

  it('an in-process handler whose result cannot be encoded answers -32603 instead of throwing out of the bus', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    bus.handle('kernel.cyclic', () => cyclic);
    const c = await RawPeer.open(path);
    await c.hello(token);
    c.rpc({ jsonrpc: '2.0', id: 1, method: 'kernel.cyclic' });
    expect((await c.next((j) => j?.id === 1)).json.error).toMatchObject({ code: -32603 });
  });
});

describe('answers', () => {
  beforeEach(() => start());

  it('an answer with neither result nor error fails its caller at once with -32603 naming the peer', async () => {
    const s = await server('svc.bad');
    const c = await RawPeer.open(path);
    await c.hello(token, 'caller');
    c.rpc({ jsonrpc: '2.0', id: 3, method: 'svc.bad' });
    const req = await s.next((j) => j?.method === 'svc.bad');
    const t0 = Date.now();
    s.rpc({ jsonrpc: '2.0', id: req.json.id });
    const f = await c.next((j) => j?.id === 3);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(f.json.error).toMatchObject({ code: -32603 });
    expect(f.json.error.message).toContain("malformed answer from 'server'");
    await s.nothingBefore('s-after'); // and the malformed answer itself was not answered
  });

  it('an oversize answer whose id is at its end fails its caller at once with -32006; the serving peer gets a notification, not an error with an id of its own', async () => {
    const s = await server('svc.big');
    const c = await RawPeer.open(path);
    await c.hello(token, 'caller');
    // The server has a request of its own pending with the same number the bus used: the error must not settle it.
    c.rpc({ jsonrpc: '2.0', id: 5, method: 'svc.big' });
    const req = await s.next((j) => j?.method === 'svc.big');
    s.send(`{"jsonrpc":"2.0","result":"${'x'.repeat(100_000)}","id":${req.json.id}}`);
    const f = await c.next((j) => j?.id === 5);
    expect(f.json.error.code).toBe(-32006);
    const note = await s.next();
    expect(note.json).toMatchObject({ method: 'symphony.error', params: { code: -32006 } });
    expect(note.json.id).toBeUndefined();
    await s.nothingBefore('s-after');
  });

  it('an error response is never answered: no ping-pong with a peer that answers errors', async () => {
    const c = await RawPeer.open(path);
    await c.hello(token);
    c.send('not json');
    const e = await c.next();
    expect(e.json).toMatchObject({ id: null, error: { code: -32700 } });
    // A peer that answers the error with one of its own, as Symphony's client once did.
    for (let i = 0; i < 5; i++) c.rpc({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } });
    c.rpc({ jsonrpc: '2.0', id: 999, error: { code: -32600, message: 'an answer to nothing' } });
    c.rpc({ jsonrpc: '2.0', id: 998, result: 'an answer to nothing' });
    await c.nothingBefore('after-errors');
  });

  it('the TS session (client side) does not answer an error response either', async () => {
    const toClient = new PassThrough();
    const fromClient = new PassThrough();
    const sent: string[] = [];
    fromClient.on('data', (d: Buffer) => sent.push(d.toString()));
    const session = new RpcSession(new StreamTransport(toClient, fromClient, { framing: 'ndjson' }), { wheel: new DeadlineWheel(), defaultTimeoutMs: 1000, peerName: 'bus' });
    const errors: string[] = [];
    session.onProtocolError = (d) => errors.push(d);
    toClient.write('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}\n');
    toClient.write('{"jsonrpc":"2.0","id":12,"error":{"code":-32600,"message":"for nothing pending"}}\n');
    await delay(50);
    expect(sent).toEqual([]);
    expect(errors.join()).toContain('parse error');
    session.close();
  });
});

describe('ids', () => {
  beforeEach(() => start());

  for (const raw of ['12345678901234567890', '1.5', '-0', '1e3', '1E+2', '"x\\u0000y"', '"\\u0041"', '"a\\/b"', '9007199254740993']) {
    it(`id ${raw} comes back exactly as sent`, async () => {
      const c = await RawPeer.open(path);
      await c.hello(token);
      c.send(`{"jsonrpc":"2.0","method":"kernel.echo","params":1,"id":${raw}}`);
      const f = await c.next();
      expect(f.text).toBe(`{"jsonrpc":"2.0","id":${raw},"result":1}`);
      // Also in an error, and in a batch.
      c.send(`{"jsonrpc":"2.0","method":"nobody.serves","id":${raw}}`);
      expect((await c.next()).text).toContain(`"id":${raw},"error":`);
      c.send(`[{"id":${raw},"jsonrpc":"2.0","method":"kernel.echo","params":2}]`);
      expect((await c.next()).text).toBe(`[{"jsonrpc":"2.0","id":${raw},"result":2}]`);
    });
  }

  it('two ids past 2^53 that parse to the same number are two requests, each answered with its own id', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    bus.handle('kernel.wait', async (p: unknown) => (await gate, p));
    const c = await RawPeer.open(path);
    await c.hello(token);
    c.send('{"jsonrpc":"2.0","method":"kernel.wait","params":"a","id":12345678901234567890}');
    c.send('{"jsonrpc":"2.0","method":"kernel.wait","params":"b","id":12345678901234567891}');
    await delay(30);
    release();
    const answers = [(await c.next()).text, (await c.next()).text].sort();
    expect(answers).toEqual(['{"jsonrpc":"2.0","id":12345678901234567890,"result":"a"}', '{"jsonrpc":"2.0","id":12345678901234567891,"result":"b"}']);
  });

  it('a request with id null is refused -32600 with id null (its answer could not be told from an error about an unreadable frame)', async () => {
    const c = await RawPeer.open(path);
    await c.hello(token);
    c.rpc({ jsonrpc: '2.0', id: null, method: 'kernel.echo' });
    expect((await c.next()).json).toMatchObject({ id: null, error: { code: -32600 } });
  });
});

describe('Content-Length framing', () => {
  beforeEach(() => start());

  const frame = (m: unknown) => {
    const t = JSON.stringify(m);
    return `Content-Length: ${Buffer.byteLength(t)}\r\n\r\n${t}`;
  };

  for (const [what, header] of [
    ['an impossible length', 'Content-Length: 99999999999999999999\r\n\r\n'],
    ['a length past 1 GiB', `Content-Length: ${2 ** 30 + 1}\r\n\r\n`],
    ['a negative length', 'Content-Length: -5\r\n\r\n'],
    ['a length that is not a number', 'Content-Length: ten\r\n\r\n'],
    ['two lengths', 'Content-Length: 5\r\nContent-Length: 7\r\n\r\n'],
    ['no blank line after the headers', 'Content-Length: 12\r\n{"a":"body"}'],
  ] as const) {
    it(`${what}: an error at once, then the next frame is read`, async () => {
      const c = await RawPeer.open(path, 'content-length');
      c.write(frame({ jsonrpc: '2.0', id: 'hello', method: 'symphony.hello', params: { protocol: 1, peer: 'raw', token } }));
      await c.next((j) => j?.id === 'hello');
      c.write(header);
      const e = await c.next();
      expect([-32006, -32700]).toContain(e.json.error.code);
      c.write(frame({ jsonrpc: '2.0', id: 2, method: 'kernel.echo', params: 'in sync' }));
      expect((await c.next((j) => j?.id === 2)).json.result).toBe('in sync');
    });
  }
});

describe('connections before hello', () => {
  it('at most maxPendingHellos wait (the oldest is closed), each for at most helloTimeout, and a peer that says hello is served', async () => {
    await start({ maxPendingHellos: 4, helloTimeout: 400 });
    const silent: RawPeer[] = [];
    for (let i = 0; i < 10; i++) silent.push(await RawPeer.open(path));
    await until(() => silent.filter((s) => s.closed).length === 6, 2000, 'the 6 oldest closed');
    expect(silent.slice(0, 6).every((s) => s.closed)).toBe(true);
    expect(silent.slice(6).some((s) => s.closed)).toBe(false);
    const ok = await RawPeer.open(path);
    expect((await ok.hello(token)).result.peer).toBe('raw');
    await until(() => silent.every((s) => s.closed), 2000, 'the rest closed after helloTimeout');
    expect(ok.closed).toBe(false);
    ok.rpc({ jsonrpc: '2.0', id: 1, method: 'kernel.echo', params: 'x' });
    expect((await ok.next((j) => j?.id === 1)).json.result).toBe('x');
  });

  it('a batch before hello is refused -32001 and the connection closed', async () => {
    await start();
    const c = await RawPeer.open(path);
    c.rpc([{ jsonrpc: '2.0', id: 1, method: 'kernel.echo' }]);
    expect((await c.next()).json).toMatchObject({ method: 'symphony.error', params: { code: -32001 } });
    await until(() => c.closed);
  });
});
