/**
 * What the mutation run left of the session (src/bus/session.ts) after
 * test/bus/session.mutants.test.ts (see docs/testing.md): a request is answered once (never
 * again, nor after it was cancelled or the session closed), its bytes are given back, a close
 * without a reason says 'closed', params that cannot be encoded fail the call, and a batch with
 * invalid elements counts as one bad frame.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BusError, InvalidParamsError } from '../../src/bus/index.js';
import { DeadlineWheel } from '../../src/bus/deadlines.js';
import { RpcSession, type IncomingRequest } from '../../src/bus/session.js';
import { StreamTransport } from '../../src/bus/stream-transport.js';
import { delay, until } from '../helpers.js';

function wire(maxBadFrames?: number) {
  const toSession = new PassThrough();
  const fromSession = new PassThrough();
  const sent: any[] = [];
  let buf = '';
  fromSession.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      sent.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
  });
  const session = new RpcSession(new StreamTransport(toSession, fromSession, { framing: 'ndjson' }), { wheel: new DeadlineWheel(), defaultTimeoutMs: 10_000, peerName: 'other', maxBadFrames });
  const held: IncomingRequest[] = [];
  session.onRequest = (r) => held.push(r);
  const closes: string[] = [];
  session.onClose = (r) => closes.push(r);
  const problems: string[] = [];
  session.onProtocolError = (d) => problems.push(d);
  return { session, sent, held, closes, problems, write: (line: string) => toSession.write(`${line}\n`) };
}

describe('answering', () => {
  it("a request is answered once; its bytes are given back; answering again sends nothing", async () => {
    const w = wire();
    const big = `{"jsonrpc":"2.0","id":1,"method":"m","params":"${'x'.repeat(3000)}"}`;
    w.write(big);
    await until(() => w.held.length === 1);
    expect(w.session.incomingBytes).toBe(big.length);
    w.session.respond(w.held[0]!, 'first');
    w.session.respond(w.held[0]!, 'second');
    w.session.respondError(w.held[0]!, new BusError(-32000, 'third'));
    await delay(30);
    expect(w.sent).toEqual([{ jsonrpc: '2.0', id: 1, result: 'first' }]);
    expect([w.session.incomingBytes, w.session.incomingCount]).toEqual([0, 0]);
    w.session.close();
  });

  it('a request the caller cancelled is answered -32800 once, and its late answer is not sent', async () => {
    const w = wire();
    w.write('{"jsonrpc":"2.0","id":"c","method":"m"}');
    await until(() => w.held.length === 1);
    let told = 0;
    w.held[0]!.onCancel = { requestCancelled: () => told++ };
    w.write('{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"c"}}');
    await until(() => w.sent.length === 1);
    expect(w.sent[0]).toEqual({ jsonrpc: '2.0', id: 'c', error: { code: -32800, message: "'m' was cancelled by the caller", data: { method: 'm' } } });
    w.session.respond(w.held[0]!, 'late');
    await delay(30);
    expect(w.sent).toHaveLength(1);
    expect(told).toBe(1);
    w.session.close();
  });

  it("a close without a reason says 'closed'; requests being served, listened to or not, are cancelled; their answers are not sent", async () => {
    const w = wire();
    w.write('{"jsonrpc":"2.0","id":1,"method":"listened"}');
    w.write('{"jsonrpc":"2.0","id":2,"method":"unlistened"}');
    await until(() => w.held.length === 2);
    let told = 0;
    w.held[0]!.onCancel = { requestCancelled: () => told++ };
    expect(() => w.session.close()).not.toThrow();
    expect(w.closes).toEqual(['closed']);
    expect(told).toBe(1);
    expect(w.held.map((r) => r.cancelled)).toEqual([true, true]);
    w.session.respond(w.held[1]!, 'after');
    await delay(30);
    expect(w.sent).toEqual([]);
  });

  it('params that cannot be encoded fail the call with -32602, and nothing is sent', async () => {
    const w = wire();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const err = (await w.session.request('m.cyclic', cyclic).catch((e: unknown) => e)) as InvalidParamsError;
    expect(err).toBeInstanceOf(BusError);
    expect(err.code).toBe(-32602);
    expect(err.message).toMatch(/^the params of 'm\.cyclic' cannot be sent as JSON: /);
    await delay(20);
    expect([w.sent, w.session.pendingCount]).toEqual([[], 0]);
    w.session.close();
  });
});

describe('batches and the bad-frame bound', () => {
  it('a batch with invalid elements counts as one bad frame; a batch without does not', async () => {
    const w = wire(1);
    for (let i = 0; i < 3; i++) w.write(`[{"jsonrpc":"2.0","method":"note","params":${i}}]`);
    await delay(30);
    expect(w.session.closed).toBe(false);
    w.write('[{"jsonrpc":"2.0","method":"note"},1]');
    await until(() => w.sent.length === 1);
    expect(w.problems).toEqual(['a batch with invalid elements']);
    expect(w.session.closed).toBe(false);
    w.write('[2]');
    await until(() => w.session.closed, 3000, 'the session to close');
    expect(w.closes).toEqual(['more than 1 bad frames in a row']);
  });

  it("a batch's bytes are shared among its requests: together about the frame's size", async () => {
    const w = wire();
    const el = (i: number) => `{"jsonrpc":"2.0","id":${i},"method":"m","params":"${'y'.repeat(1000)}"}`;
    const frame = `[${el(1)},${el(2)}]`;
    w.write(frame);
    await until(() => w.held.length === 2);
    expect(w.session.incomingBytes).toBeGreaterThanOrEqual(frame.length);
    expect(w.session.incomingBytes).toBeLessThanOrEqual(frame.length + 2);
    w.session.close();
  });
});
