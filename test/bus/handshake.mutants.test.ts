/**
 * The handshake (src/bus/handshake.ts) over a real Unix socket: who a connection is comes from
 * its token, the operator's peers get unique names, a successor token takes over, the framing is
 * negotiated, and connections that never say hello are bounded. Each test kills mutants that
 * survived the bus's other tests (see docs/testing.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Bus, type BusEvent } from '../../src/bus/index.js';
import { until } from '../helpers.js';
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

const hello = (params: Record<string, unknown>) => ({ jsonrpc: '2.0', id: 'h', method: 'symphony.hello', params });

describe('hello', () => {
  it("answers with the bus's limits and the name it gave, in the framing the peer spoke", async () => {
    await start({ heartbeat: '7s', maxInFlight: 33 });
    const p = await RawPeer.open(path);
    const answer = await p.hello(token, 'tool');
    expect(answer.result).toEqual({ protocol: 1, peer: 'tool', framing: 'ndjson', maxFrameBytes: 64 * 1024, heartbeatMs: 7000, maxInFlight: 33 });
    expect(events).toContainEqual({ type: 'peer', peer: 'tool', state: 'connected' });
    p.close();
  });

  it("names the operator's peers as they claim, made unique with #2, #3; an empty or missing claim is 'peer'", async () => {
    await start();
    const names: string[] = [];
    for (const peer of ['tool', 'tool', 'tool', '', undefined, undefined]) {
      const p = await RawPeer.open(path);
      p.rpc(hello({ protocol: 1, token, ...(peer === undefined ? {} : { peer }) }));
      names.push((await p.next((j) => j?.id === 'h')).json.result.peer);
    }
    expect(names).toEqual(['tool', 'tool#2', 'tool#3', 'peer', 'peer#2', 'peer#3']);
  });

  it('refuses, with the reason, each hello that is not one, then closes the connection', async () => {
    await start();
    const cases: [Record<string, unknown>, string][] = [
      [{ jsonrpc: '2.0', id: 'h', method: 'kernel.echo', params: {} }, "'kernel.echo' before symphony.hello: say hello with a token first"],
      [hello({ protocol: 2, token }), 'unsupported protocol 2 (this bus speaks 1)'],
      [hello({ token }), 'unsupported protocol undefined (this bus speaks 1)'],
      [{ jsonrpc: '2.0', id: 'h', method: 'symphony.hello' }, 'unsupported protocol undefined (this bus speaks 1)'],
      [hello({ protocol: 1, token: 'not-a-token' }), 'bad token'],
      [hello({ protocol: 1, token: 42 }), 'bad token'],
      [hello({ protocol: 1 }), 'bad token'],
    ];
    for (const [message, why] of cases) {
      const p = await RawPeer.open(path);
      p.rpc(message);
      const f = await p.next((j) => j?.id === 'h');
      expect(f.json.error).toMatchObject({ code: -32001, message: why });
      await until(() => p.closed, 3000, `the connection refused with '${why}' to close`);
    }
    const denied = events.filter((e) => e.type === 'denied');
    expect(denied).toHaveLength(cases.length);
    expect(denied.map((e) => e.type === 'denied' && [e.action, e.subject])).toEqual(cases.map(([, why]) => ['hello', why]));
  });

  it("a newer token for a connected identity is its successor: it takes the name, and the identity's rights", async () => {
    await start();
    const rights = { provides: ['a.*'], calls: [], publishes: [], subscribes: [] };
    const first = bus.issueToken('ext-a', rights);
    const old = await RawPeer.open(path);
    old.rpc(hello({ protocol: 1, token: first, peer: 'claimed' }));
    expect((await old.next((j) => j?.id === 'h')).json.result.peer).toBe('ext-a');
    old.rpc({ jsonrpc: '2.0', id: 'r', method: 'symphony.register', params: { methods: ['a.x'] } });
    expect((await old.next((j) => j?.id === 'r')).json.error).toBeUndefined();
    const second = bus.issueToken('ext-a', rights);
    const next = await RawPeer.open(path);
    next.rpc(hello({ protocol: 1, token: second }));
    expect((await next.next((j) => j?.id === 'h')).json.result.peer).toBe('ext-a');
    // The successor's rights are the token's: outside them, forbidden.
    next.rpc({ jsonrpc: '2.0', id: 2, method: 'kernel.echo' });
    expect((await next.next((j) => j?.id === 2)).json.error.code).toBe(-32002);
    // The old connection is superseded: the successor may register the methods it still holds.
    next.rpc({ jsonrpc: '2.0', id: 3, method: 'symphony.register', params: { methods: ['a.x'] } });
    expect((await next.next((j) => j?.id === 3)).json.error).toBeUndefined();
    old.close();
    next.close();
  });

  it("a token for a name a local endpoint holds is refused: it is already connected", async () => {
    await start();
    bus.endpoint('local-b');
    const t = bus.issueToken('local-b', { provides: [], calls: [], publishes: [], subscribes: [] });
    const p = await RawPeer.open(path);
    p.rpc(hello({ protocol: 1, token: t }));
    expect((await p.next((j) => j?.id === 'h')).json.error).toMatchObject({ code: -32001, message: "'local-b' is already connected" });
    await until(() => p.closed, 3000, 'the refused connection to close');
  });

  it('switches to Content-Length framing only when hello asks for it by name', async () => {
    await start();
    const asked = await RawPeer.open(path);
    asked.rpc(hello({ protocol: 1, token, framing: 'content-length' }));
    expect((await asked.next((j) => j?.id === 'h')).json.result.framing).toBe('content-length');
    const other = await RawPeer.open(path);
    other.rpc(hello({ protocol: 1, token, framing: 'lsp' }));
    expect((await other.next((j) => j?.id === 'h')).json.result.framing).toBe('ndjson');
    // Still NDJSON: a line is answered.
    other.rpc({ jsonrpc: '2.0', id: 2, method: 'kernel.echo', params: 'x' });
    expect((await other.next((j) => j?.id === 2)).json.result).toBe('x');
    asked.close();
    other.close();
  });

  it('a peer that says hello resolves whoever waits for its connection, at once if already connected', async () => {
    await start();
    const peerToken = bus.issueToken('waited', { provides: ['w.*'], calls: [], publishes: [], subscribes: [] });
    const waiting = bus.connectionFor('waited');
    const p = await RawPeer.open(path);
    p.rpc(hello({ protocol: 1, token: peerToken }));
    const c = await waiting;
    expect(c.name).toBe('waited');
    expect(await bus.connectionFor('waited')).toBe(c);
    p.close();
  });
});

describe('connections that never say hello', () => {
  it('past maxPendingHellos the oldest is told why and closed; the others stay', async () => {
    await start({ maxPendingHellos: 2 });
    const a = await RawPeer.open(path);
    const b = await RawPeer.open(path);
    const c = await RawPeer.open(path);
    await until(() => a.closed, 3000, 'the oldest to be closed');
    const told = a.frames.map((f) => f.json).find((j) => j?.method === 'symphony.error');
    expect(told?.params).toMatchObject({ code: -32005, message: 'more than 2 connections waiting to say hello (maxPendingHellos): the oldest is closed' });
    expect(b.closed).toBe(false);
    expect(c.closed).toBe(false);
    // The ones left may still say hello.
    expect((await b.hello(token, 'b')).result.peer).toBe('b');
    expect((await c.hello(token, 'c')).result.peer).toBe('c');
    b.close();
    c.close();
  });

  it('one that says nothing within helloTimeout is told and closed; one that said hello in time is not', async () => {
    await start({ helloTimeout: '150ms' });
    const silent = await RawPeer.open(path);
    const talker = await RawPeer.open(path);
    await talker.hello(token, 'talker');
    await until(() => silent.closed, 3000, 'the silent connection to be closed');
    const told = silent.frames.map((f) => f.json).find((j) => j?.method === 'symphony.error');
    expect(told?.params).toMatchObject({ code: -32001, message: 'no symphony.hello within 150ms (helloTimeout)' });
    await new Promise((r) => setTimeout(r, 300));
    expect(talker.closed).toBe(false);
    talker.rpc({ jsonrpc: '2.0', id: 2, method: 'kernel.echo', params: 1 });
    expect((await talker.next((j) => j?.id === 2)).json.result).toBe(1);
    talker.close();
  });
});
