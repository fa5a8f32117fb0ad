/**
 * Bus.hold: a supervised peer's methods are held while it restarts. Real connections over the
 * bus's Unix socket; the "restart" is a second client with the same kernel-issued identity.
 */
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Bus, connect, MethodNotFoundError, PeerGoneError, RequestCancelledError, TimeoutError, type BusClient } from '../../src/bus/index.js';
import { delay, until } from '../helpers.js';

let bus: Bus;
let path: string;
let token: string;

/** One instance of the peer 'svc': serves svc.echo (tagged with its generation) and records svc.note notifications. */
async function instance(generation: number, notes: unknown[] = []): Promise<BusClient> {
  const c = await connect({ name: 'svc', path, token, transport: 'socket', reconnect: false, exitWithParent: false });
  await c.handle('svc.echo', (p: unknown) => ({ generation, p })).ready;
  await c.handle('svc.note', (p: unknown) => void notes.push(p)).ready;
  c.ready();
  await until(() => bus.stats().peers.some((x) => x.name === 'svc' && x.state === 'ready'), 2000, 'svc ready');
  return c;
}

async function setup(): Promise<void> {
  bus = new Bus();
  path = (await bus.listen()).path;
  token = bus.issueToken('svc');
}

afterEach(async () => {
  await bus?.stop();
});

describe('Bus.hold', () => {
  it('without a hold, a call to a peer that went away fails at once with -32601', async () => {
    await setup();
    const first = await instance(1);
    await first.stop();
    await until(() => !bus.serves('svc.echo'), 2000, 'the routes to go');
    await expect(bus.request('svc.echo', 1)).rejects.toBeInstanceOf(MethodNotFoundError);
  });

  it('holds the methods of a ready peer that went away: a call waits for the next instance', async () => {
    await setup();
    bus.hold('svc');
    const first = await instance(1);
    expect(await bus.request('svc.echo', 'a')).toEqual({ generation: 1, p: 'a' });
    await first.stop();
    await until(() => !bus.stats().peers.some((x) => x.name === 'svc'), 2000, 'svc to be gone');
    const waiting = bus.request('svc.echo', 'b', { timeout: 5000 });
    await delay(50);
    const second = await instance(2);
    expect(await waiting).toEqual({ generation: 2, p: 'b' });
    await second.stop();
  });

  it('a call cancelled or timed out while it waited is not delivered to the next instance; a notification stays one', async () => {
    await setup();
    bus.hold('svc');
    const first = await instance(1);
    await first.stop();
    await until(() => !bus.stats().peers.some((x) => x.name === 'svc'), 2000, 'svc to be gone');
    const ac = new AbortController();
    const cancelled = bus.request('svc.note', 'cancelled', { signal: ac.signal }).catch((e: unknown) => e);
    const timedOut = bus.request('svc.note', 'timed out', { timeout: 30 }).catch((e: unknown) => e);
    bus.notify('svc.note', 'notified');
    ac.abort();
    expect(await cancelled).toBeInstanceOf(RequestCancelledError);
    expect(await timedOut).toBeInstanceOf(TimeoutError);
    const notes: unknown[] = [];
    const second = await instance(2, notes);
    await until(() => notes.length > 0, 2000, 'the notification');
    await delay(50);
    expect(notes).toEqual(['notified']);
    await second.stop();
  });

  it('release fails the waiting calls with -32004 naming the peer, and ends the hold', async () => {
    await setup();
    const hold = bus.hold('svc');
    const first = await instance(1);
    await first.stop();
    await until(() => !bus.stats().peers.some((x) => x.name === 'svc'), 2000, 'svc to be gone');
    const waiting = bus.request('svc.echo', 'x', { timeout: 5000 }).catch((e: unknown) => e);
    await delay(20);
    const t0 = performance.now();
    hold.release();
    const err = (await waiting) as PeerGoneError;
    expect(err).toBeInstanceOf(PeerGoneError);
    expect(err.message).toMatch(/'svc' is gone and is not coming back/);
    expect(performance.now() - t0).toBeLessThan(500);
    await expect(bus.request('svc.echo', 'y')).rejects.toBeInstanceOf(MethodNotFoundError);
  });

  it('closing the bus fails the waiting calls with -32004', async () => {
    await setup();
    bus.hold('svc');
    const first = await instance(1);
    await first.stop();
    await until(() => !bus.stats().peers.some((x) => x.name === 'svc'), 2000, 'svc to be gone');
    const waiting = bus.request('svc.echo', 'x', { timeout: 5000 }).catch((e: unknown) => e);
    await delay(20);
    await bus.stop();
    expect(await waiting).toBeInstanceOf(PeerGoneError);
  });

  it('a method the next instance no longer serves fails -32601 once it is ready', async () => {
    await setup();
    bus.hold('svc');
    const first = await instance(1);
    await first.stop();
    await until(() => !bus.stats().peers.some((x) => x.name === 'svc'), 2000, 'svc to be gone');
    const waiting = bus.request('svc.note', 'x', { timeout: 5000 }).catch((e: unknown) => e);
    const second = await connect({ name: 'svc', path, token, transport: 'socket', reconnect: false, exitWithParent: false });
    await second.handle('svc.echo', (p: unknown) => p).ready;
    second.ready();
    expect(await waiting).toBeInstanceOf(MethodNotFoundError);
    await second.stop();
  });

  it('bus.notify reaches the handler of a TypeScript client peer', async () => {
    await setup();
    const notes: unknown[] = [];
    const c = await instance(1, notes);
    bus.notify('svc.note', { n: 1 });
    await until(() => notes.length === 1, 2000, 'the notification');
    expect(notes).toEqual([{ n: 1 }]);
    await c.stop();
  });
});

describe('a stdio peer whose connection is lost but whose process lives on', () => {
  it('is killed, so its exit tells its supervisor (a hung peer would otherwise hold its methods forever)', async () => {
    bus = new Bus({ heartbeat: 1000 }); // long enough for a node process to start on a busy machine: 2 missed beats drop a peer
    const peer = bus.spawnPeer({ name: 'hung', command: process.execPath, args: [resolve(import.meta.dirname, '../fixtures/bus/node-peer.mjs')] });
    await peer.ready(10_000);
    process.kill(peer.pid!, 'SIGSTOP'); // hung: answers no ping, reads nothing
    const exit = await Promise.race([peer.exited, delay(15_000).then(() => 'still running')]);
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
  }, 25_000);
});

describe('a peer program that cannot be run', () => {
  it('is named with the reason (ENOENT), not "closed before it was ready"', async () => {
    bus = new Bus();
    const peer = bus.spawnPeer({ name: 'ghost', command: '/nonexistent/program' });
    await expect(peer.ready(5000)).rejects.toThrow("'ghost' could not be started: no program '/nonexistent/program' (ENOENT)");
  });
});

