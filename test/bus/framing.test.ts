import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder as Decoder, type Decoded, type Framing } from '../../src/bus/framing.js';
import { cutAt } from '../reliability/fuzz.js';

const json = fc.jsonValue({ maxDepth: 3 }).map((v) => ({ jsonrpc: '2.0', id: 1, method: 'm', params: v }));

/** The decoder, with each message's size (what the bus counts against its sender's budget) left out of the comparisons. */
class FrameDecoder extends Decoder {
  override push(chunk: Buffer): Decoded[] {
    return super.push(chunk).map(strip);
  }
  override setFraming(framing: Framing): Decoded[] {
    return super.setFraming(framing).map(strip);
  }
}
function strip(d: Decoded): Decoded {
  if (d.kind !== 'message') return d;
  const { bytes: _bytes, ...rest } = d;
  return rest;
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
          const pieces = decodeAll(cutAt(bytes, cuts));
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
        for (const c of cutAt(Buffer.from(bytes), cuts)) expect(() => d.push(c)).not.toThrow();
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

describe('FrameDecoder (resync, detection, blank lines)', () => {
  const message = (i: number) => ({ jsonrpc: '2.0', id: i, method: 'm' });
  // Junk that can never contain "content-length:" (no '-'), ended by a blank line.
  const junk = fc.string({ unit: fc.constantFrom('a', 'X', ':', ' ', '\r', '\n'), maxLength: 40 }).map((j) => `${j}\r\n\r\n`);

  it('content-length: after header blocks without Content-Length, skips to the next frame, however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.option(fc.array(junk, { minLength: 1, maxLength: 3 })), fc.nat()), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const text = frames.map(([j, i]) => (j ? j.join('') : '') + encodeFrame(message(i), 'content-length')).join('');
        // Junk blocks in a row are one bad stretch: one error, then the frame.
        const expected = frames.flatMap(([j, i]) => [...(j ? [{ kind: 'error', error: 'header' }] : []), { kind: 'message', message: message(i) }]);
        const bytes = Buffer.from(text);
        const whole = decodeAll([bytes], 'content-length');
        expect(whole).toMatchObject(expected);
        expect(whole).toHaveLength(expected.length);
        expect(decodeAll(cutAt(bytes, cuts), 'content-length')).toEqual(whole);
      }),
      { seed: 99, numRuns: 300 },
    );
  });

  it('content-length: headers whose blank line begins past 8 KiB are refused; each 8 KiB skipped after that is one more error, however cut', () => {
    const frame = encodeFrame(message(1), 'content-length');
    for (const text of [`X-Big: ${'a'.repeat(20_000)}\r\n\r\n${frame}`, `X-Big: ${'a'.repeat(20_000)}\r\n${frame}`, `${'z'.repeat(20_000)}${frame}`]) {
      const bytes = Buffer.from(text);
      const whole = decodeAll([bytes], 'content-length');
      // The first error for the block; then 20,000-odd bytes skipped: two more.
      expect(whole).toMatchObject([{ kind: 'error', error: 'header' }, { kind: 'error', error: 'header' }, { kind: 'error', error: 'header' }, { kind: 'message', message: message(1) }]);
      expect(whole).toHaveLength(4);
      for (const size of [1, 13, 8192, 8195, 65536]) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
        expect(decodeAll(chunks, 'content-length'), `chunks of ${size}`).toEqual(whole);
      }
    }
  });

  it('headers within 8 KiB are read, however cut', () => {
    const body = JSON.stringify(message(2));
    const bytes = Buffer.from(`X-Pad: ${'p'.repeat(8000)}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    for (const size of [1, 100, 8192, bytes.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      expect(decodeAll(chunks, 'content-length'), `chunks of ${size}`).toEqual([{ kind: 'message', message: message(2) }]);
    }
  });

  it('detection: whitespace before the first frame is dropped, in either framing, however cut', () => {
    for (const framing of ['ndjson', 'content-length'] as const) {
      const bytes = Buffer.from(`\r\n \n\t\r\n  ${encodeFrame(message(3), framing)}${encodeFrame(message(4), framing)}`);
      for (const size of [1, 2, 5, bytes.length]) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
        const d = new FrameDecoder();
        expect(chunks.flatMap((c) => d.push(c)), `${framing} in chunks of ${size}`).toEqual([
          { kind: 'message', message: message(3) },
          { kind: 'message', message: message(4) },
        ]);
        expect(d.framing).toBe(framing);
      }
    }
  });

  it('ndjson: lines of whitespace only are blank, not errors', () => {
    expect(decodeAll([Buffer.from(' \r \n\r\r\n\t\r\t\n{"a":1}\n')], 'ndjson')).toEqual([{ kind: 'message', message: { a: 1 } }]);
    expect(decodeAll([Buffer.from(' \r \n\r\r\n\t\r\t\n{"a":1}\n')].flatMap((b) => cutAt(b, [1, 3, 5, 8])), 'ndjson')).toEqual([{ kind: 'message', message: { a: 1 } }]);
  });

  it('setFraming re-reads the bytes of a frame not complete yet', () => {
    const d = new FrameDecoder({ framing: 'ndjson' });
    expect(d.push(Buffer.from('{"hello":1}\nContent-Le'))).toEqual([{ kind: 'message', message: { hello: 1 } }]);
    expect(d.setFraming('content-length')).toEqual([]);
    expect(d.push(Buffer.from('ngth: 7\r\n\r\n{"a":1}'))).toEqual([{ kind: 'message', message: { a: 1 } }]);
  });

  it('a frame completed from many reads decodes as when whole, the one after it too (partial frames are copied, not kept per read)', () => {
    for (const framing of ['ndjson', 'content-length'] as const) {
      const big = { jsonrpc: '2.0', id: 'é', method: 'm', params: 'ü'.repeat(3000) };
      const bytes = Buffer.from(encodeFrame(big, framing) + encodeFrame(message(5), framing));
      for (const size of [1, 3, 1000]) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
        expect(decodeAll(chunks, framing, 8192)).toEqual([
          { kind: 'message', message: big },
          { kind: 'message', message: message(5) },
        ]);
      }
    }
  });
});
