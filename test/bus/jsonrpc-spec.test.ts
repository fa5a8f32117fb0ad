/**
 * The examples of the JSON-RPC 2.0 specification's section 7, byte for byte as the spec writes
 * them, against the kernel's real socket on an authenticated connection, in NDJSON and in
 * Content-Length framing. The spec's own methods (subtract, sum, update, notify_hello, get_data)
 * are served by the kernel. Error messages are the bus's own; codes, ids and results are the
 * spec's. A batch's responses may come in any order (section 6), so they are compared by id.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bus } from '../../src/bus/index.js';
import { until } from '../helpers.js';
import { RawPeer } from './raw-peer.js';

let bus: Bus;
let token: string;
let path: string;
const updates: unknown[] = [];
const hellos: unknown[] = [];

beforeEach(async () => {
  bus = new Bus();
  token = bus.issueToken('operator', undefined, { operator: true });
  path = (await bus.listen({ operatorToken: token })).path;
  updates.length = 0;
  hellos.length = 0;
  bus.handle('subtract', (p: unknown) => {
    if (Array.isArray(p)) return (p[0] as number) - (p[1] as number);
    const { minuend, subtrahend } = p as { minuend: number; subtrahend: number };
    return minuend - subtrahend;
  });
  bus.handle('sum', (p: number[]) => p.reduce((a, b) => a + b, 0));
  bus.handle('update', (p: unknown) => void updates.push(p));
  bus.handle('notify_hello', (p: unknown) => void hellos.push(p));
  bus.handle('get_data', () => ['hello', 5]);
});
afterEach(async () => bus.stop());

const byId = (list: any[]) => [...list].sort((a, b) => JSON.stringify(a.id).localeCompare(JSON.stringify(b.id)));

for (const framing of ['ndjson', 'content-length'] as const) {
  describe(`JSON-RPC 2.0 section 7, ${framing}`, () => {
    let peer: RawPeer;
    beforeEach(async () => {
      peer = await RawPeer.open(path, framing);
      expect((await peer.hello(token)).result.peer).toBe('raw');
    });
    afterEach(() => peer.close());

    it('rpc call with positional parameters', async () => {
      peer.send('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}');
      expect((await peer.next()).json).toEqual({ jsonrpc: '2.0', result: 19, id: 1 });
      peer.send('{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}');
      expect((await peer.next()).json).toEqual({ jsonrpc: '2.0', result: -19, id: 2 });
    });

    it('rpc call with named parameters', async () => {
      peer.send('{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}');
      expect((await peer.next()).json).toEqual({ jsonrpc: '2.0', result: 19, id: 3 });
      peer.send('{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}');
      expect((await peer.next()).json).toEqual({ jsonrpc: '2.0', result: 19, id: 4 });
    });

    it('a notification', async () => {
      peer.send('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}');
      peer.send('{"jsonrpc": "2.0", "method": "foobar"}');
      await until(() => updates.length === 1);
      expect(updates).toEqual([[1, 2, 3, 4, 5]]);
      await peer.nothingBefore('after-notifications');
    });

    it('rpc call of non-existent method', async () => {
      peer.send('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}');
      const f = await peer.next();
      expect(f.json).toMatchObject({ jsonrpc: '2.0', error: { code: -32601 }, id: '1' });
    });

    it('rpc call with invalid JSON', async () => {
      peer.send('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
      expect((await peer.next()).json).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 }, id: null });
    });

    it('rpc call with invalid Request object', async () => {
      peer.send('{"jsonrpc": "2.0", "method": 1, "params": "bar"}');
      expect((await peer.next()).json).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
    });

    it('rpc call Batch, invalid JSON', async () => {
      peer.send('[\n  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},\n  {"jsonrpc": "2.0", "method"\n]'.replace(/\n/g, framing === 'ndjson' ? ' ' : '\n'));
      const f = await peer.next();
      expect(Array.isArray(f.json)).toBe(false);
      expect(f.json).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 }, id: null });
    });

    it('rpc call with an empty Array', async () => {
      peer.send('[]');
      const f = await peer.next();
      expect(Array.isArray(f.json)).toBe(false);
      expect(f.json).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
    });

    it('rpc call with an invalid Batch (but not empty)', async () => {
      peer.send('[1]');
      const f = await peer.next();
      expect(f.json).toHaveLength(1);
      expect(f.json[0]).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
    });

    it('rpc call with invalid Batch', async () => {
      peer.send('[1,2,3]');
      const f = await peer.next();
      expect(f.json).toHaveLength(3);
      for (const e of f.json) expect(e).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
    });

    it('rpc call Batch', async () => {
      const batch = `[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]`;
      peer.send(framing === 'ndjson' ? batch.replace(/\n/g, ' ') : batch);
      const f = await peer.next();
      expect(Array.isArray(f.json)).toBe(true);
      expect(f.json).toHaveLength(5);
      const got = byId(f.json);
      expect(got).toEqual(
        byId([
          { jsonrpc: '2.0', result: 7, id: '1' },
          { jsonrpc: '2.0', result: 19, id: '2' },
          { jsonrpc: '2.0', error: expect.objectContaining({ code: -32600 }), id: null },
          { jsonrpc: '2.0', error: expect.objectContaining({ code: -32601 }), id: '5' },
          { jsonrpc: '2.0', result: ['hello', 5], id: '9' },
        ]),
      );
      expect(hellos).toEqual([[7]]);
    });

    it('rpc call Batch (all notifications)', async () => {
      peer.send('[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]');
      await until(() => hellos.length === 1);
      await peer.nothingBefore('after-batch');
    });
  });
}
