/**
 * Heartbeats (src/bus/heartbeat.ts) over real connections: who is pinged (a silent peer past
 * hello, one ping at a time), who is dropped (a peer that stopped answering, and was not heard
 * from either; a connection that never said hello) and who is not (a peer that answers late, with
 * an error, or is busy talking). Each test kills mutants that survived the bus's other tests (see
 * docs/testing.md). Bounds are several heartbeats wide: a broken check fails by a whole period.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Bus } from '../../src/bus/index.js';
import { PortTransport } from '../../src/bus/port-transport.js';
import { delay, until } from '../helpers.js';
import { RawPeer } from './raw-peer.js';

let bus: Bus;
let token: string;
let path: string;

async function start(options: ConstructorParameters<typeof Bus>[0]): Promise<void> {
  bus = new Bus(options);
  token = bus.issueToken('operator', undefined, { operator: true });
  path = (await bus.listen({ operatorToken: token })).path;
}
afterEach(async () => bus?.stop());

/** Answers each symphony.ping the peer gets with `answer(id)` after `ms`; counts pings and the most outstanding at once. */
function answerPings(p: RawPeer, ms: number, answer: (id: unknown) => object | undefined) {
  const seen = { pings: 0, outstanding: 0, maxOutstanding: 0 };
  let stopped = false;
  void (async () => {
    while (!stopped && !p.closed) {
      const i = p.frames.findIndex((f) => f.json?.method === 'symphony.ping');
      if (i < 0) {
        await delay(2);
        continue;
      }
      const id = p.frames.splice(i, 1)[0]!.json.id;
      seen.pings++;
      seen.outstanding++;
      seen.maxOutstanding = Math.max(seen.maxOutstanding, seen.outstanding);
      setTimeout(() => {
        seen.outstanding--;
        const reply = answer(id);
        if (reply && !p.closed) p.rpc(reply);
      }, ms);
    }
  })();
  return Object.assign(seen, { stop: () => (stopped = true) });
}

describe('heartbeats', () => {
  it('off (heartbeat 0): a silent peer is never pinged nor dropped', async () => {
    await start({ heartbeat: 0 });
    const p = await RawPeer.open(path);
    await p.hello(token, 'quiet');
    await delay(400);
    expect(p.frames.filter((f) => f.json?.method === 'symphony.ping')).toEqual([]);
    expect(p.closed).toBe(false);
    p.close();
  });

  it('a connection that never says hello is closed after two heartbeats, without being pinged (helloTimeout far off)', async () => {
    await start({ heartbeat: '100ms', helloTimeout: '30s' });
    const p = await RawPeer.open(path);
    const t0 = Date.now();
    await until(() => p.closed, 5000, 'the connection that never said hello to be closed');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(p.frames.map((f) => f.json?.method)).not.toContain('symphony.ping');
  });

  it('a peer that answers each ping late (within its timeout) gets one ping at a time, again and again, and stays', async () => {
    // Answered past the check interval (heartbeat/2, when a second ping would go out if the first
    // were not awaited) and 180 ms before the ping's timeout, a slack a loaded machine needs.
    await start({ heartbeat: '600ms' });
    const p = await RawPeer.open(path);
    await p.hello(token, 'late');
    const seen = answerPings(p, 420, (id) => ({ jsonrpc: '2.0', id, result: 'pong' }));
    await delay(3200);
    seen.stop();
    expect(p.closed).toBe(false);
    expect(seen.maxOutstanding).toBe(1);
    expect(seen.pings).toBeGreaterThanOrEqual(2);
    p.close();
  });

  it('a peer that answers pings with an error is alive: it stays', async () => {
    await start({ heartbeat: '100ms' });
    const p = await RawPeer.open(path);
    await p.hello(token, 'grumpy');
    const seen = answerPings(p, 0, (id) => ({ jsonrpc: '2.0', id, error: { code: -32601, message: 'no ping here' } }));
    await delay(1000);
    seen.stop();
    expect(seen.pings).toBeGreaterThanOrEqual(2);
    expect(p.closed).toBe(false);
    p.close();
  });

  it('a peer that never answers a ping but is heard from meanwhile is not dropped, and is pinged again', async () => {
    await start({ heartbeat: '200ms' });
    const p = await RawPeer.open(path);
    await p.hello(token, 'chatty');
    // Each ping is met with a notification, never an answer: the ping times out, the peer was heard.
    const seen = answerPings(p, 10, () => ({ jsonrpc: '2.0', method: 'chatty.tick' }));
    await delay(1600);
    seen.stop();
    expect(p.closed).toBe(false);
    expect(seen.pings).toBeGreaterThanOrEqual(2);
    p.close();
  });

  it('a peer that answered a ping and then went silent is still dropped', async () => {
    await start({ heartbeat: '100ms' });
    const p = await RawPeer.open(path);
    await p.hello(token, 'fading');
    let answered = 0;
    const seen = answerPings(p, 0, (id) => (answered++ === 0 ? { jsonrpc: '2.0', id, result: 'pong' } : undefined));
    await until(() => p.closed, 5000, 'the peer that went silent to be dropped');
    seen.stop();
    expect(seen.pings).toBeGreaterThanOrEqual(2);
  });

  it('a worker-port peer (no byte stream) says hello, is told ndjson, answers pings and stays', async () => {
    await start({ heartbeat: '60ms' });
    const { port1, port2 } = new MessageChannel();
    bus.attach(new PortTransport(port1));
    const got: any[] = [];
    port2.on('message', (batch: any[]) => {
      for (const m of batch) {
        got.push(m);
        if (m.method === 'symphony.ping') port2.postMessage([{ jsonrpc: '2.0', id: m.id, result: 'pong' }]);
      }
    });
    port2.postMessage([{ jsonrpc: '2.0', id: 'h', method: 'symphony.hello', params: { protocol: 1, peer: 'worker', token } }]);
    await until(() => got.some((m) => m.id === 'h'), 3000, 'the hello answer');
    expect(got.find((m) => m.id === 'h').result).toMatchObject({ protocol: 1, peer: 'worker', framing: 'ndjson' });
    await delay(400);
    expect(got.some((m) => m.method === 'symphony.ping')).toBe(true);
    port2.postMessage([{ jsonrpc: '2.0', id: 2, method: 'symphony.ping' }]);
    await until(() => got.some((m) => m.id === 2), 3000, 'an answer: the port is still open');
    port2.close();
  });
});
