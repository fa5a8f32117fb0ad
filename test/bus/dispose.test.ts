/**
 * The bus is AsyncDisposable: `await using` stops it at the end of the scope as stop() does
 * (its peers disconnected, calls pending to them failed -32004, its socket removed).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Bus, ErrorCode } from '../../src/bus/index.js';
import { RawPeer } from './wire-harness.js';

describe('the bus as an AsyncDisposable', () => {
  it('`await using` closes it at the end of the scope: its peer is disconnected, the call waiting on that peer fails -32004, the socket is gone', async () => {
    let path = '';
    let peer: RawPeer | undefined;
    let pending: Promise<unknown> | undefined;
    {
      await using bus = new Bus({ heartbeat: 0 });
      const token = bus.issueToken('silent-server');
      path = (await bus.listen()).path;
      peer = await RawPeer.hello(path, token, 'silent-server');
      await peer.register('silent.method');
      // A call the peer never answers: only the end of the scope can settle it.
      pending = bus.request('silent.method', {}, { timeout: 60_000 }).catch((e: unknown) => e);
      await peer.next((f) => f.json?.method === 'silent.method', 5000, 'the forwarded call');
      expect(peer.open).toBe(true);
      expect(existsSync(path)).toBe(true);
    }
    const err = (await pending) as { code?: number };
    expect(err.code).toBe(ErrorCode.PeerGone);
    await peer!.closed;
    expect(peer!.open).toBe(false);
    expect(existsSync(path), 'the socket file').toBe(false);
  });

  it('disposing is stop(): a call to a handler that never answers fails -32004; disposing again, or after stop(), does nothing', async () => {
    const bus = new Bus({ heartbeat: 0 });
    bus.handle('x.never', () => new Promise(() => {}));
    const pending = bus.request('x.never', 1, { timeout: 60_000 }).catch((e: unknown) => e);
    await bus[Symbol.asyncDispose]();
    expect(((await pending) as { code?: number }).code).toBe(ErrorCode.PeerGone);
    await bus.stop();
    await bus[Symbol.asyncDispose]();
  });
});
