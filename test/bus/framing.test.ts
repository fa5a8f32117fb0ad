import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, type Decoded, type Framing } from '../../src/bus/framing.js';

const json = fc.jsonValue({ maxDepth: 3 }).map((v) => ({ jsonrpc: '2.0', id: 1, method: 'm', params: v }));

/** Splits `buf` at the given cut points (any chunking). */
function chunk(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

function decodeAll(chunks: Buffer[], framing?: Framing, max?: number): Decoded[] {
  const d = new FrameDecoder({ framing, maxFrameBytes: max });
  return chunks.flatMap((c) => d.push(c));
}

describe('FrameDecoder (property tests)', () => {
  for (const framing of ['ndjson', 'content-length'] as const) {
    it(`${framing}: any chunking of a stream decodes to the same messages`, () => {
      fc.assert(
        fc.property(fc.array(json, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (messages, cuts) => {
          const bytes = Buffer.from(messages.map((m) => encodeFrame(m, framing)).join(''));
          const whole = decodeAll([bytes]);
          const pieces = decodeAll(chunk(bytes, cuts));
          expect(pieces).toEqual(whole);
          expect(whole).toEqual(messages.map((m) => ({ kind: 'message', message: JSON.parse(JSON.stringify(m)) })));
        }),
        { seed: 424242, numRuns: 400 },
      );
    });
  }

  it('random garbage never throws out of the decoder, in either framing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 10 }), fc.constantFrom<Framing | undefined>(undefined, 'ndjson', 'content-length'), (bytes, cuts, framing) => {
        const d = new FrameDecoder({ framing, maxFrameBytes: 256 });
        for (const c of chunk(Buffer.from(bytes), cuts)) expect(() => d.push(c)).not.toThrow();
      }),
      { seed: 7, numRuns: 2000 },
    );
  });

  it('skips an oversize frame, reports it with its id, and keeps sync', () => {
    const big = { jsonrpc: '2.0', id: 77, method: 'big', params: 'x'.repeat(5000) };
    const small = { jsonrpc: '2.0', id: 78, method: 'small' };
    for (const framing of ['ndjson', 'content-length'] as const) {
      const bytes = Buffer.from(encodeFrame(big, framing) + encodeFrame(small, framing));
      for (const size of [1, 7, 64, 1000, bytes.length]) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
        const out = decodeAll(chunks, framing, 1024);
        expect(out).toEqual([
          { kind: 'error', error: 'too-large', detail: 'frame larger than 1024 bytes', id: 77 },
          { kind: 'message', message: small },
        ]);
      }
    }
  });

  it('detects Content-Length framing from the first bytes, even split', () => {
    const msg = { jsonrpc: '2.0', id: 1, method: 'a' };
    const bytes = Buffer.from(encodeFrame(msg, 'content-length'));
    const d = new FrameDecoder();
    const out = [...d.push(bytes.subarray(0, 4)), ...d.push(bytes.subarray(4, 9)), ...d.push(bytes.subarray(9))];
    expect(d.framing).toBe('content-length');
    expect(out).toEqual([{ kind: 'message', message: msg }]);
    const nd = new FrameDecoder();
    expect(nd.push(Buffer.from('{"jsonrpc":"2.0","method":"x"}\r\n\n  \n'))).toEqual([{ kind: 'message', message: { jsonrpc: '2.0', method: 'x' } }]);
    expect(nd.framing).toBe('ndjson');
  });

  it('reports lines that are not JSON and carries on', () => {
    expect(decodeAll([Buffer.from('not json\n{"a":1}\n{"half":\n')])).toEqual([
      { kind: 'error', error: 'parse', detail: expect.stringMatching(/^not JSON/) },
      { kind: 'message', message: { a: 1 } },
      { kind: 'error', error: 'parse', detail: expect.stringMatching(/^not JSON/) },
    ]);
  });
});
