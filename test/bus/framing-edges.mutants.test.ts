/**
 * What the mutation run left of the frame limits after test/bus/framing.mutants.test.ts (see
 * docs/testing.md): an oversize line after a small one in the same read is still refused (the
 * read's lines are decoded together only when all fit), and a refused frame's non-ASCII id comes
 * back as sent, whether the frame was skipped as bytes or scanned as text.
 */
import { describe, expect, it } from 'vitest';
import { FrameDecoder, type Decoded } from '../../src/bus/framing.js';

const small = '{"jsonrpc":"2.0","id":1,"method":"small"}';
const big = `{"jsonrpc":"2.0","id":2,"method":"big","params":"${'x'.repeat(200)}"}`;

describe('the frame limit within one read', () => {
  it('ndjson: an oversize line after small ones in the same read is refused with its id; the lines around it are read', () => {
    const out = new FrameDecoder({ framing: 'ndjson', maxFrameBytes: 100 }).push(Buffer.from(`${small}\n${small}\n${big}\n${small}\n`));
    expect(out).toEqual([
      { kind: 'message', message: JSON.parse(small) },
      { kind: 'message', message: JSON.parse(small) },
      { kind: 'error', error: 'too-large', detail: 'frame larger than 100 bytes', id: 2 },
      { kind: 'message', message: JSON.parse(small) },
    ]);
  });

  it('ndjson: lines after a partial one completed in this read are checked against the limit too', () => {
    const d = new FrameDecoder({ framing: 'ndjson', maxFrameBytes: 100 });
    expect(d.push(Buffer.from(small.slice(0, 10)))).toEqual([]);
    const out = d.push(Buffer.from(`${small.slice(10)}\n${big}\n`));
    expect(out.map((x: Decoded) => x.kind)).toEqual(['message', 'error']);
  });
});

describe('non-ASCII ids of refused frames', () => {
  const id = 'é-\u4e2d';
  it('too large (skipped as bytes, in either framing): the id as sent', () => {
    const line = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"m","params":"${'x'.repeat(200)}"}`;
    for (const [framing, bytes] of [
      ['ndjson', `${line}\n`],
      ['content-length', `Content-Length: ${Buffer.byteLength(line)}\r\n\r\n${line}`],
    ] as const) {
      const out = new FrameDecoder({ framing, maxFrameBytes: 100 }).push(Buffer.from(bytes));
      expect(out).toEqual([{ kind: 'error', error: 'too-large', detail: 'frame larger than 100 bytes', id }]);
    }
  });

  it('too deep (scanned as text): the id as sent', () => {
    const line = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"m","params":${'['.repeat(300)}${']'.repeat(300)}}`;
    const out = new FrameDecoder({ framing: 'ndjson' }).push(Buffer.from(`${line}\n`));
    expect(out).toEqual([{ kind: 'error', error: 'too-deep', detail: 'nested deeper than 128 levels', id }]);
  });

  it('a frame whose brackets are many but nest shallowly is read, not refused', () => {
    const wide = `{"jsonrpc":"2.0","id":3,"method":"m","params":[${Array.from({ length: 300 }, () => '[]').join(',')}]}`;
    const out = new FrameDecoder({ framing: 'ndjson' }).push(Buffer.from(`${wide}\n`));
    expect(out[0]!.kind).toBe('message');
  });
});

describe('the header block, as its bytes come', () => {
  const next = '{"jsonrpc":"2.0","id":8,"method":"after"}';
  const lsp = (body: string) => `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const malformed = 'malformed header line starting "{" (a header is `Name: value`; a blank line ends them, then the body)';

  it('more than 8 KiB with no blank line, in one read, is refused at once', () => {
    const d = new FrameDecoder({ framing: 'content-length' });
    expect(d.push(Buffer.from(`X-Pad: ${'p'.repeat(9000)}`))[0]).toEqual({ kind: 'error', error: 'header', detail: 'Content-Length headers too long or missing' });
  });

  it('a line that is no header is refused as soon as it is seen, before any blank line', () => {
    const d = new FrameDecoder({ framing: 'content-length' });
    expect(d.push(Buffer.from('Content-Length: 12\r\n'))).toEqual([]);
    expect(d.push(Buffer.from('{"a"'))).toEqual([{ kind: 'error', error: 'header', detail: malformed }]);
  });

  it('a body with no blank line, completed in the same read as the next frame, does not hide that frame', () => {
    const d = new FrameDecoder({ framing: 'content-length' });
    expect(d.push(Buffer.from('Content-Length: 12\r\n'))).toEqual([]);
    expect(d.push(Buffer.from(`{"a":"body"}${lsp(next)}`))).toEqual([
      { kind: 'error', error: 'header', detail: malformed },
      { kind: 'message', message: JSON.parse(next) },
    ]);
  });

  it('after a length far over the limit, the bytes up to the next Content-Length are skipped, not read as headers', () => {
    const out = new FrameDecoder({ framing: 'content-length', maxFrameBytes: 100 }).push(Buffer.from(`Content-Length: 1000000000000\r\n\r\n{"junk":1}${lsp(next)}`));
    expect(out).toEqual([
      { kind: 'error', error: 'too-large', detail: 'Content-Length 1000000000000 is far over the frame limit of 100 bytes: skipped to the next Content-Length header' },
      { kind: 'message', message: JSON.parse(next) },
    ]);
  });
});
