/**
 * What the mutation run left after the first round of the bus's mutant tests (see
 * docs/testing.md): each malformed answer fails its call at once, saying what is wrong
 * (src/bus/envelopes.ts answerProblem); a claimed name that is not a string; a port peer's hello
 * throws nothing later; a busy peer is never pinged; a peer dropped for silence is gone with
 * that reason.
 */
import { PassThrough } from 'node:stream';
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Bus, BusError, InternalError, type BusEvent } from '../../src/bus/index.js';
import { DeadlineWheel } from '../../src/bus/deadlines.js';
import { RpcSession } from '../../src/bus/session.js';
import { PortTransport } from '../../src/bus/port-transport.js';
import { StreamTransport } from '../../src/bus/stream-transport.js';
import { delay, until } from '../helpers.js';
import { RawPeer } from './raw-peer.js';

let bus: Bus | undefined;
afterEach(async () => {
  await bus?.stop();
  bus = undefined;
});

describe('malformed answers', () => {
  function session() {
    const toSession = new PassThrough();
    const fromSession = new PassThrough();
    const sent: any[] = [];
    fromSession.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line) sent.push(JSON.parse(line));
    });
    const s = new RpcSession(new StreamTransport(toSession, fromSession, { framing: 'ndjson' }), { wheel: new DeadlineWheel(), defaultTimeoutMs: 20_000, peerName: 'callee' });
    const problems: string[] = [];
    s.onProtocolError = (d) => problems.push(d);
    return { s, sent, problems, write: (line: string) => toSession.write(`${line}\n`) };
  }

  it('each fails its call at once with -32603 saying what is wrong; a well-formed error is typed by its code', async () => {
    const cases: [(id: number) => string, string][] = [
      [(id) => `{"id":${id},"result":1}`, '"jsonrpc" is not "2.0"'],
      [(id) => `{"jsonrpc":"1.0","id":${id},"result":1}`, '"jsonrpc" is not "2.0"'],
      [(id) => `{"jsonrpc":"2.0","id":${id},"result":1,"error":{"code":1,"message":"x"}}`, 'both "result" and "error"'],
      [(id) => `{"jsonrpc":"2.0","id":${id},"error":null}`, '"error" is not an object'],
      [(id) => `{"jsonrpc":"2.0","id":${id},"error":"bad"}`, '"error" is not an object'],
      [(id) => `{"jsonrpc":"2.0","id":${id},"error":[1]}`, '"error" is not an object'],
    ];
    for (const [answer, wrong] of cases) {
      const w = session();
      const t0 = Date.now();
      const call = w.s.request('svc.m', undefined).catch((e: unknown) => e);
      await until(() => w.sent.length === 1);
      w.write(answer(w.sent[0].id));
      const err = (await call) as InternalError;
      expect(Date.now() - t0).toBeLessThan(5000); // not its 20 s deadline
      expect([err.code, err.message]).toEqual([-32603, `malformed answer from 'callee' to 'svc.m': ${wrong}`]);
      expect(w.problems).toEqual([`malformed answer from 'callee': ${wrong}`]);
      w.s.close();
    }
    const w = session();
    const call = w.s.request('svc.m', undefined).catch((e: unknown) => e);
    await until(() => w.sent.length === 1);
    w.write(`{"jsonrpc":"2.0","id":${w.sent[0].id},"error":{"code":-32002,"message":"no"}}`);
    const err = (await call) as BusError;
    expect([err.code, err.message]).toEqual([-32002, 'no']);
    expect(w.problems).toEqual([]);
    w.s.close();
  });
});

describe('hello and heartbeats, what was left', () => {
  async function start(options: ConstructorParameters<typeof Bus>[0] = {}) {
    const b = new Bus(options);
    bus = b;
    const token = b.issueToken('operator', undefined, { operator: true });
    const path = (await b.listen({ operatorToken: token })).path;
    b.handle('kernel.echo', (p: unknown) => p);
    return { b, token, path };
  }

  it("a claimed name that is not a string is 'peer'", async () => {
    const { token, path } = await start();
    const names: string[] = [];
    for (const peer of [42, { name: 'x' }, true]) {
      const p = await RawPeer.open(path);
      p.rpc({ jsonrpc: '2.0', id: 'h', method: 'symphony.hello', params: { protocol: 1, token, peer } });
      names.push((await p.next((j) => j?.id === 'h')).json.result.peer);
      p.close();
      await delay(20);
    }
    expect(names).toEqual(['peer', 'peer', 'peer']);
  });

  it('a port peer (no framing to switch) says hello and nothing is thrown afterwards', async () => {
    const { b, token } = await start();
    const thrown: unknown[] = [];
    const onError = (e: unknown) => thrown.push(e);
    process.on('uncaughtException', onError);
    try {
      const { port1, port2 } = new MessageChannel();
      b.attach(new PortTransport(port1));
      const got: any[] = [];
      port2.on('message', (batch: any[]) => got.push(...batch));
      port2.postMessage([{ jsonrpc: '2.0', id: 'h', method: 'symphony.hello', params: { protocol: 1, peer: 'w', token } }]);
      await until(() => got.some((m) => m.id === 'h'), 3000, 'the hello answer');
      await delay(50);
      expect(thrown).toEqual([]);
      port2.close();
    } finally {
      process.off('uncaughtException', onError);
    }
  });

  it('a peer that keeps talking is never pinged', async () => {
    // A heartbeat far above the 15 ms between frames (a loaded machine stretches those), over
    // more than three heartbeats: pinging regardless of traffic would send at least three.
    const { token, path } = await start({ heartbeat: '500ms' });
    const p = await RawPeer.open(path);
    await p.hello(token, 'busy');
    const end = Date.now() + 1800;
    for (let i = 0; Date.now() < end; i++) {
      p.rpc({ jsonrpc: '2.0', method: 'busy.tick', params: i });
      await delay(15);
    }
    expect(p.frames.filter((f) => f.json?.method === 'symphony.ping')).toEqual([]);
    expect(p.closed).toBe(false);
    p.close();
  });

  it("a peer that stops answering pings is gone with the reason 'heartbeat lost'", async () => {
    const { b, token, path } = await start({ heartbeat: '80ms' });
    const events: BusEvent[] = [];
    b.onEvent((e) => events.push(e));
    const p = await RawPeer.open(path);
    await p.hello(token, 'sleepy');
    await until(() => p.closed, 5000, 'the silent peer to be dropped');
    await until(() => events.some((e) => e.type === 'peer' && e.state === 'gone'));
    expect(events.find((e) => e.type === 'peer' && e.state === 'gone')).toEqual({ type: 'peer', peer: 'sleepy', state: 'gone', reason: 'heartbeat lost' });
  });
});
