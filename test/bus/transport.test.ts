/**
 * StreamTransport, over an in-memory duplex whose writes complete when the test says: a closed
 * connection reads nothing more.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Decoded } from '../../src/bus/framing.js';
import { StreamTransport } from '../../src/bus/transport.js';

/** A socket stand-in: what is written is recorded; writes complete at once, or when `complete()` runs. */
function fakeSocket(options: { holdWrites?: boolean } = {}) {
  const writes: string[] = [];
  const held: (() => void)[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, cb) {
      writes.push(chunk.toString());
      if (options.holdWrites) held.push(cb);
      else cb();
    },
  });
  return {
    socket,
    writes,
    /** Completes the writes held so far (the other side read them). */
    complete() {
      for (const cb of held.splice(0)) cb();
    },
  };
}

const line = (method: string) => Buffer.from(`${JSON.stringify({ jsonrpc: '2.0', method })}\n`);

describe('StreamTransport', () => {
  it('reads nothing more once closed', async () => {
    const { socket } = fakeSocket();
    const t = new StreamTransport(socket, socket, { framing: 'ndjson' });
    const got: Decoded[] = [];
    t.onMessage = (d) => got.push(d);
    socket.push(line('before'));
    await new Promise((r) => setImmediate(r));
    t.close();
    expect(socket.isPaused()).toBe(true);
    socket.push(line('after'));
    socket.resume(); // even if something resumes the stream, nothing is decoded
    await new Promise((r) => setImmediate(r));
    expect(got.map((d) => (d.kind === 'message' ? (d.message as { method: string }).method : d.kind))).toEqual(['before']);
  });
});
