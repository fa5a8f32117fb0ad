/**
 * The bus's fast paths keep the semantics of the slow ones: young deadline entries (answered
 * within a tick), the in-flight list of calls, NDJSON lines decoded a chunk at a time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bus, PeerGoneError, TimeoutError } from '../../src/bus/index.js';
import { DeadlineWheel, type DeadlineEntry } from '../../src/bus/deadlines.js';
import { FrameDecoder, type Decoded } from '../../src/bus/framing.js';
import { IdTable } from '../../src/bus/idtable.js';
import { delay, until } from '../helpers.js';

function entry(ms: number, fired: string[], name: string): DeadlineEntry {
  return { deadline: performance.now() + ms, expire: () => void fired.push(name) };
}

describe('deadline wheel', () => {
  it('never fires an entry removed while young, fires the pending ones at their deadline', async () => {
    const wheel = new DeadlineWheel();
    const fired: string[] = [];
    const gone = entry(200, fired, 'gone');
    const kept = entry(200, fired, 'kept');
    wheel.add(gone);
    wheel.add(kept);
    expect(wheel.size).toBe(2);
    wheel.delete(gone);
    wheel.delete(gone); // twice is harmless
    expect(wheel.size).toBe(1);
    await delay(5);
    expect(fired).toEqual([]);
    await until(() => fired.length > 0, 1000);
    expect(fired).toEqual(['kept']);
    expect(wheel.size).toBe(0);
  });

  it('removes an entry filed into its bucket (pending past a tick)', async () => {
    const wheel = new DeadlineWheel();
    const fired: string[] = [];
    const late = entry(300, fired, 'late');
    const other = entry(300, fired, 'other');
    wheel.add(late);
    wheel.add(other);
    await delay(25); // a few ticks: both are in their bucket now
    wheel.delete(late);
    expect(wheel.size).toBe(1);
    await until(() => fired.length > 0, 1000);
    await delay(20);
    expect(fired).toEqual(['other']);
  });

  it('keeps every deadline when thousands of entries come and go without a tick in between', async () => {
    const wheel = new DeadlineWheel();
    const fired: string[] = [];
    const pending: DeadlineEntry[] = [];
    // Synchronously: no timer can run, so the young slots fill up and are filed early.
    for (let i = 0; i < 20_000; i++) {
      const e = entry(30, fired, String(i));
      wheel.add(e);
      if (i % 1000 === 0) pending.push(e);
      else wheel.delete(e);
    }
    expect(wheel.size).toBe(pending.length);
    await until(() => fired.length === pending.length, 2000);
    expect(fired.map(Number)).toEqual(pending.map((_, k) => k * 1000));
    expect(wheel.size).toBe(0);
  });
});

describe('calls in flight', () => {
  it('times out in-process calls made in a loop that only awaits microtasks', async () => {
    const bus = new Bus();
    bus.handle('fast', async (n: number) => n);
    bus.handle('never', () => new Promise(() => {}));
    const stuck = bus.request('never', undefined, { timeout: 50 }).catch((e: unknown) => e);
    for (let i = 0; i < 10_000; i++) expect(await bus.request('fast', i)).toBe(i);
    expect(await stuck).toBeInstanceOf(TimeoutError);
    expect(bus.stats().inflight).toBe(0);
    await bus.stop();
  });

  it('counts and fails the calls in flight to an endpoint, whichever order they were answered in', async () => {
    const bus = new Bus();
    const svc = bus.endpoint('svc');
    const release: (() => void)[] = [];
    svc.handle('wait', (n: number) =>
      new Promise((r) => {
        release[n] = () => r(n);
      }),
    );
    const calls = Array.from({ length: 5 }, (_, n) => bus.request('wait', n).catch((e: unknown) => e));
    expect(bus.stats().peers.find((p) => p.name === 'svc')!.inflight).toBe(5);
    // Answer the middle, the first and the last: the list unlinks from anywhere.
    release[2]!();
    release[0]!();
    release[4]!();
    expect(await calls[2]).toBe(2);
    expect(await calls[0]).toBe(0);
    expect(await calls[4]).toBe(4);
    expect(bus.stats().peers.find((p) => p.name === 'svc')!.inflight).toBe(2);
    svc.stop('gone');
    expect(await calls[1]).toBeInstanceOf(PeerGoneError);
    expect(await calls[3]).toBeInstanceOf(PeerGoneError);
    expect(bus.stats().inflight).toBe(0);
    await bus.stop();
  });
});

/** What NDJSON decoding means, line by line: each line's bytes decoded and parsed on their own. */
function referenceNdjson(bytes: Buffer): Decoded[] {
  const out: Decoded[] = [];
  let start = 0;
  for (let nl = bytes.indexOf(10); nl !== -1; start = nl + 1, nl = bytes.indexOf(10, start)) {
    let end = nl;
    if (end > start && bytes[end - 1] === 13) end--;
    let s = start;
    while (s < end && (bytes[s] === 0x20 || bytes[s] === 0x09)) s++;
    if (s === end) continue;
    const text = bytes.toString('utf8', s, end);
    try {
      out.push({ kind: 'message', message: JSON.parse(text) });
    } catch (err) {
      // A line of whitespace only (a CR inside) is blank too (docs/protocol.md).
      if (!/^[ \t\r]*$/.test(text)) out.push({ kind: 'error', error: 'parse', detail: `not JSON: ${(err as Error).message}` });
    }
  }
  return out;
}

describe('NDJSON decoding a chunk at a time', () => {
  const piece = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v))),
    fc.string({ unit: 'grapheme' }).map((t) => Buffer.from(JSON.stringify(t))),
    fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)), // anything, invalid UTF-8 included
    fc.constantFrom(...['\n', '\r\n', '\r', ' ', '\t', '\xc3', '\xe2\x82', '\xf0\x9f\x98'].map((t) => Buffer.from(t, 'latin1'))),
  );
  it('reads every line as decoding it on its own would, whatever the bytes and the chunking', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 6 }), (pieces, cuts) => {
        const bytes = Buffer.concat([...pieces, Buffer.from('\n')]);
        const d = new FrameDecoder({ framing: 'ndjson' });
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const got: Decoded[] = [];
        let prev = 0;
        for (const p of [...points, bytes.length]) {
          got.push(...d.push(bytes.subarray(prev, p)));
          prev = p;
        }
        expect(got).toEqual(referenceNdjson(bytes));
      }),
      { seed: 99, numRuns: 3000 },
    );
  });
});

describe('IdTable', () => {
  it('behaves as a Map by id, whatever the ids and the order of adds and deletes', () => {
    const id = fc.oneof(fc.nat({ max: 300 }), fc.integer({ min: -5, max: 5 }), fc.constantFrom(2 ** 40 + 3, 1.5, 64, 128, 4096, 8192), fc.string({ maxLength: 3 }));
    const op = fc.oneof(id.map((i) => ({ add: i })), fc.nat({ max: 50 }).map((k) => ({ del: k })), id.map((i) => ({ get: i })));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.boolean(), (ops, sequential) => {
        const table = new IdTable<{ id: string | number }>();
        const model = new Map<string | number, { id: string | number }>();
        let next = 0;
        for (const o of ops) {
          if ('add' in o) {
            const k = sequential ? ++next : o.add;
            if (model.has(k)) continue;
            const e = { id: k };
            table.add(e);
            model.set(k, e);
          } else if ('del' in o) {
            const live = [...model.values()];
            const e = live[o.del % Math.max(1, live.length)] ?? { id: 'absent' };
            expect(table.delete(e)).toBe(model.get(e.id) === e);
            model.delete(e.id);
            expect(table.delete({ id: e.id })).toBe(false); // another object with that id is not it
          } else {
            expect(table.get(o.get)).toBe(model.get(o.get));
            expect(table.has(o.get)).toBe(model.has(o.get));
          }
          expect(table.size).toBe(model.size);
        }
        const numeric = [...model.values()].filter((e) => typeof e.id === 'number').sort((a, b) => (a.id as number) - (b.id as number));
        expect(table.values()).toEqual([...numeric, ...[...model.values()].filter((e) => typeof e.id !== 'number')]);
        table.clear();
        expect(table.size).toBe(0);
        for (const k of model.keys()) expect(table.get(k)).toBeUndefined();
      }),
      { seed: 5, numRuns: 1500 },
    );
  });

  it('keeps 5,000 long-pending requests among 100,000 consecutive ids', () => {
    const table = new IdTable<{ id: number }>();
    const kept: { id: number }[] = [];
    for (let i = 1; i <= 100_000; i++) {
      const e = { id: i };
      table.add(e);
      if (i % 20 === 0) kept.push(e);
      else expect(table.delete(e)).toBe(true);
    }
    expect(table.size).toBe(kept.length);
    for (const e of kept) expect(table.get(e.id)).toBe(e);
    expect(table.values()).toEqual(kept);
  });
});
