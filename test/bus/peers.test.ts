/**
 * The bus across real boundaries: a Node child over stdio, a Node client over a Unix socket, and
 * a worker thread, each running the same peer script (test/fixtures/bus/node-peer.mjs).
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, MethodNotFoundError, PeerGoneError, RequestCancelledError, TimeoutError, InternalError, type PeerProcess } from '../../src/bus/index.js';
import { delay, until } from '../helpers.js';

const peerScript = resolve(import.meta.dirname, '../fixtures/bus/node-peer.mjs');

interface Setup {
  bus: Bus;
  stop(): Promise<void>;
  process?: PeerProcess;
}

const pythonPeer = resolve(import.meta.dirname, '../fixtures/bus/python_peer.py');

const setups: Record<'stdio' | 'socket' | 'worker' | 'python-stdio' | 'python-socket', () => Promise<Setup>> = {
  async 'python-stdio'() {
    const bus = new Bus();
    const p = bus.spawnPeer({ name: 'node-peer', command: 'python3', args: [pythonPeer] });
    await p.ready();
    return { bus, process: p, stop: async () => (await p.stop(), await bus.stop()) };
  },
  async 'python-socket'() {
    const bus = new Bus();
    await bus.listen();
    const p = bus.spawnPeer({ name: 'node-peer', command: 'python3', args: [pythonPeer], transport: 'socket' });
    await p.ready();
    return { bus, process: p, stop: async () => (await p.stop(), await bus.stop()) };
  },
  async stdio() {
    const bus = new Bus();
    const p = bus.spawnPeer({ name: 'node-peer', command: process.execPath, args: [peerScript] });
    await p.ready();
    return { bus, process: p, stop: async () => (await p.stop(), await bus.stop()) };
  },
  async socket() {
    const bus = new Bus();
    await bus.listen();
    const p = bus.spawnPeer({ name: 'node-peer', command: process.execPath, args: [peerScript], transport: 'socket' });
    await p.ready();
    return { bus, process: p, stop: async () => (await p.stop(), await bus.stop()) };
  },
  async worker() {
    const bus = new Bus();
    const w = bus.spawnWorker(peerScript, { name: 'node-peer' });
    await w.connection.ready();
    return { bus, stop: async () => (await w.worker.terminate(), await bus.stop()) };
  },
};

for (const kind of ['stdio', 'socket', 'worker', 'python-stdio', 'python-socket'] as const) {
  describe(`a ${kind.startsWith('python') ? 'Python' : 'Node'} peer over ${kind.replace('python-', '')}`, () => {
    let s: Setup;
    beforeAll(async () => {
      s = await setups[kind]();
      s.bus.handle('kernel.add', ({ a, b }: { a: number; b: number }) => a + b);
    });
    afterAll(async () => s?.stop());

    it('answers requests, with the identity its token gave it', async () => {
      expect(await s.bus.request('peer.echo', { x: [1, 'two', null] })).toEqual({ echo: { x: [1, 'two', null] }, identity: 'node-peer', caller: 'kernel' });
      // The caller's identity travels with the request (meta.peer).
      expect(await s.bus.endpoint(`caller-${kind}`).request('peer.echo', 1)).toMatchObject({ caller: `caller-${kind}` });
    });

    it('calls back into the kernel (the other direction)', async () => {
      expect(await s.bus.request('peer.callKernel', { a: 20, b: 22 })).toBe(42);
    });

    it('carries errors with their codes both ways', async () => {
      const e = (await s.bus.request('peer.fail').catch((x: unknown) => x)) as InternalError;
      expect(e).toBeInstanceOf(InternalError);
      expect(e.message).toMatch(/peer-side failure/);
      await expect(s.bus.request('peer.nothing')).rejects.toBeInstanceOf(MethodNotFoundError);
    });

    it('sends the deadline and the trace context with every request', async () => {
      const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const r = (await s.bus.request('peer.deadline', {}, { timeout: '2s', traceparent: tp })) as { remainingMs: number; traceparent: string };
      expect(r.traceparent).toBe(tp);
      expect(r.remainingMs).toBeGreaterThan(1000);
      expect(r.remainingMs).toBeLessThanOrEqual(2000);
    });

    it('delivers pub/sub with wildcards across the boundary', async () => {
      const heard: unknown[] = [];
      const sub = s.bus.subscribe('peer.heard', (d) => void heard.push(d));
      s.bus.publish('news.sport.tennis', { score: 3 });
      s.bus.publish('weather.rain', { mm: 2 });
      await until(() => heard.length >= 1);
      await delay(20);
      expect(heard).toEqual([{ topic: 'news.sport.tennis', data: { score: 3 } }]);
      sub.unsubscribe();
    });

    it('cancels: the caller gets -32800 at once and the peer aborts its handler', async () => {
      const cancelled: unknown[] = [];
      const sub = s.bus.subscribe('peer.cancelled', (d) => void cancelled.push(d));
      const ac = new AbortController();
      const pending = s.bus.request('peer.slow', { ms: 5000 }, { signal: ac.signal });
      await delay(30);
      ac.abort();
      await expect(pending).rejects.toBeInstanceOf(RequestCancelledError);
      await until(() => cancelled.length === 1, 3000, 'the peer to see the cancel');
      expect(cancelled).toEqual([{ method: 'peer.slow' }]);
      sub.unsubscribe();
    });

    it('times out with -32003', async () => {
      const t0 = performance.now();
      await expect(s.bus.request('peer.hang', {}, { timeout: '100ms' })).rejects.toBeInstanceOf(TimeoutError);
      expect(performance.now() - t0).toBeLessThan(1000);
    });

    it('runs 10,000 pipelined requests, all answered in order of their ids', async () => {
      const n = 10_000;
      const results = await Promise.all(Array.from({ length: n }, (_, i) => s.bus.request('peer.echo', i)));
      expect(results.every((r, i) => (r as { echo: number }).echo === i)).toBe(true);
      const peer = s.bus.stats().peers.find((p) => p.name === 'node-peer')!;
      expect(peer.inflight).toBe(0);
      expect(peer.latency.count).toBeGreaterThanOrEqual(n);
    });
  });
}

describe('a peer process killed with SIGKILL', () => {
  for (const [language, transport] of [['node', 'stdio'], ['node', 'socket'], ['python', 'stdio'], ['python', 'socket']] as const) {
    it(`${language} over ${transport}: its pending calls are rejected at once with -32004, and the kernel carries on`, async () => {
      const bus = new Bus();
      if (transport === 'socket') await bus.listen();
      bus.handle('kernel.add', ({ a, b }: { a: number; b: number }) => a + b);
      const [command, script] = language === 'node' ? [process.execPath, peerScript] : ['python3', pythonPeer];
      const p = bus.spawnPeer({ name: 'victim', command, args: [script], transport });
      await p.ready();
      const pending = Array.from({ length: 50 }, () => bus.request('peer.hang').catch((e: unknown) => e));
      await delay(20);
      const t0 = performance.now();
      p.kill('SIGKILL');
      const errors = await Promise.all(pending);
      const ms = performance.now() - t0;
      for (const e of errors) expect(e).toBeInstanceOf(PeerGoneError);
      expect((errors[0] as PeerGoneError).message).toMatch(/^'victim' is gone \((the process killed by SIGKILL|the peer closed its output|the connection closed)\) with 'peer\.hang' unanswered$/);
      // The contract bound is 100ms (measured by npm run bench); the test leaves room for a busy machine.
      expect(ms).toBeLessThan(1000);
      await expect(bus.request('peer.echo')).rejects.toBeInstanceOf(MethodNotFoundError);
      expect(await bus.request('kernel.add', { a: 1, b: 1 })).toBe(2);
      await bus.stop();
    });
  }
});
