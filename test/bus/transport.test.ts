/**
 * StreamTransport's output, over an in-memory duplex whose writes complete when the test says:
 * batches stay far below V8's string limit, backed-up output holds reading and bounds what queues,
 * and a closed connection reads nothing more.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Decoded } from '../../src/bus/framing.js';
import { BATCH_CHARS, StreamTransport } from '../../src/bus/stream-transport.js';

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

const tick = () => new Promise((r) => process.nextTick(r));
const line = (method: string) => Buffer.from(`${JSON.stringify({ jsonrpc: '2.0', method })}\n`);

describe('StreamTransport output', () => {
  it("writes a tick's frames in batches of at most BATCH_CHARS, in order", async () => {
    const { socket, writes } = fakeSocket();
    const t = new StreamTransport(socket, socket, { framing: 'ndjson' });
    const frames = Array.from({ length: 7 }, (_, i) => String(i).repeat(BATCH_CHARS / 3));
    for (const f of frames) t.sendJson(JSON.stringify(f));
    // Frames of a third of a batch: two fit in one, the third goes out at once.
    expect(writes.length).toBe(3);
    await tick();
    expect(writes.length).toBe(4);
    for (const w of writes) expect(w.length).toBeLessThanOrEqual(BATCH_CHARS);
    expect(writes.join('')).toBe(frames.map((f) => `${JSON.stringify(f)}\n`).join(''));
  });

  it('writes a frame larger than a batch on its own, after what was queued before it', async () => {
    const { socket, writes } = fakeSocket();
    const t = new StreamTransport(socket, socket, { framing: 'ndjson' });
    t.sendJson('"small"');
    t.sendJson(JSON.stringify('x'.repeat(BATCH_CHARS + 10)));
    t.sendJson('"after"');
    await tick();
    expect(writes.map((w) => w.length)).toEqual([8, BATCH_CHARS + 13, 8]);
  });

  it('stops reading while more than half of maxBytes waits to be sent, resumes once it drains, and reports an overflow', async () => {
    const { socket, complete } = fakeSocket({ holdWrites: true });
    const t = new StreamTransport(socket, socket, { framing: 'ndjson' });
    const got: Decoded[] = [];
    t.onMessage = (d) => got.push(d);
    const overflows: number[] = [];
    t.limitOutput(100_000, (bytes) => overflows.push(bytes));
    // The bound is raised to twice the stream's own high-water mark (16 KiB on Node 20, 64 KiB
    // from Node 22 on): size the frames from it, past half of the bound and past all of it.
    const bound = Math.max(100_000, 2 * socket.writableHighWaterMark);
    const held = Math.ceil(bound * 0.6);
    const over = bound + 20_000;

    t.sendJson(JSON.stringify('a'.repeat(held)));
    await tick();
    expect(t.bufferedBytes).toBeGreaterThan(bound / 2);
    socket.push(line('one'));
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([]); // held: the peer is not reading what it was sent
    expect(t.outputStalled()).toBe(false); // the first check only marks
    expect(t.outputStalled()).toBe(true); // nothing went out since

    complete();
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([{ kind: 'message', message: { jsonrpc: '2.0', method: 'one' } }]);
    expect(t.outputStalled()).toBe(false);

    t.sendJson(JSON.stringify('b'.repeat(over)));
    await tick();
    expect(overflows).toEqual([over + 3]);
    t.close();
  });

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
