/**
 * The frame limits (src/bus/frame-decoder.ts, lsp-headers.ts, frame-text.ts) at their edges: a
 * frame of exactly the limit is read and one byte more is refused; a header block's blank line
 * may begin at exactly 8 KiB; a declared length is skipped (and its frame named) up to 1 GiB or
 * 64 times the limit, refused at once past it; each header error says what is wrong. Each test
 * kills mutants that survived the bus's other tests (see docs/testing.md); each is checked whole
 * and a byte at a time, since the decoder has a path for each.
 */
import { describe, expect, it } from 'vitest';
import { FrameDecoder, type Decoded, type Framing } from '../../src/bus/framing.js';

const LIMIT = 100;

function decode(framing: Framing, text: string | Buffer, chunk = 0, maxFrameBytes = LIMIT): Decoded[] {
  const d = new FrameDecoder({ framing, maxFrameBytes });
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  if (!chunk) return d.push(bytes);
  const out: Decoded[] = [];
  for (let i = 0; i < bytes.length; i += chunk) out.push(...d.push(bytes.subarray(i, i + chunk)));
  return out;
}
const both = (framing: Framing, text: string, maxFrameBytes = LIMIT) => {
  const whole = decode(framing, text, 0, maxFrameBytes);
  expect(decode(framing, text, 1, maxFrameBytes)).toEqual(whole);
  expect(decode(framing, text, 7, maxFrameBytes)).toEqual(whole);
  return whole;
};

/** A request of exactly `n` bytes of JSON, id 7. */
function request(n: number): string {
  const head = '{"jsonrpc":"2.0","id":7,"method":"m","params":"';
  const s = `${head}${'x'.repeat(n - head.length - 2)}"}`;
  expect(Buffer.byteLength(s)).toBe(n);
  return s;
}
const lsp = (body: string) => `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const next = '{"jsonrpc":"2.0","id":8,"method":"after"}';

describe('the frame limit, at its edge', () => {
  it('ndjson: a line of exactly the limit is read; one byte more is refused with its id, and the next line is read', () => {
    const at = both('ndjson', `${request(LIMIT)}\n${next}\n`);
    expect(at.map((d) => d.kind)).toEqual(['message', 'message']);
    const over = both('ndjson', `${request(LIMIT + 1)}\n${next}\n`);
    expect(over).toEqual([
      { kind: 'error', error: 'too-large', detail: `frame larger than ${LIMIT} bytes`, id: 7 },
      { kind: 'message', message: JSON.parse(next) },
    ]);
  });

  it('ndjson: several lines each within the limit but together over it are all read, in order', () => {
    const lines = [request(LIMIT), request(LIMIT - 1), request(60)];
    const out = both('ndjson', `${lines.join('\n')}\n`);
    expect(out).toEqual(lines.map((l) => ({ kind: 'message', message: JSON.parse(l) })));
  });

  it('content-length: a body of exactly the limit is read; one byte more is skipped, named by its id, and the next frame read', () => {
    expect(both('content-length', lsp(request(LIMIT)) + lsp(next)).map((d) => d.kind)).toEqual(['message', 'message']);
    expect(both('content-length', lsp(request(LIMIT + 1)) + lsp(next))).toEqual([
      { kind: 'error', error: 'too-large', detail: `frame larger than ${LIMIT} bytes`, id: 7 },
      { kind: 'message', message: JSON.parse(next) },
    ]);
  });

  it('content-length: a length up to 1 GiB (the limit 100) is skipped as it comes and named by its id, not refused at once', () => {
    // 10,000 bytes: past 64 times the limit but under 1 GiB, so still a frame to skip.
    const out = both('content-length', lsp(request(10_000)) + lsp(next));
    expect(out).toEqual([
      { kind: 'error', error: 'too-large', detail: `frame larger than ${LIMIT} bytes`, id: 7 },
      { kind: 'message', message: JSON.parse(next) },
    ]);
  });

  it('content-length: with a limit of 32 MiB, a 1.5 GiB length is within 64 times it: skipped (nothing yet), not refused at once', () => {
    const d = new FrameDecoder({ framing: 'content-length', maxFrameBytes: 32 * 1024 * 1024 });
    expect(d.push(Buffer.from(`Content-Length: ${1.5 * 2 ** 30}\r\n\r\n`))).toEqual([]);
    // With the default limit (1 MiB), the same length is past 1 GiB: refused at once.
    expect(new FrameDecoder({ framing: 'content-length' }).push(Buffer.from(`Content-Length: ${1.5 * 2 ** 30}\r\n\r\n`))).toEqual([
      { kind: 'error', error: 'too-large', detail: `Content-Length ${1.5 * 2 ** 30} is far over the frame limit of 1048576 bytes: skipped to the next Content-Length header` },
    ]);
  });

  it('content-length: a length past 1 GiB is refused at once, saying how far over, and the next frame is read', () => {
    for (const [length, said] of [
      ['1000000000000', 'Content-Length 1000000000000'],
      [String(2 ** 30 + 1), `Content-Length ${2 ** 30 + 1}`],
      ['99999999999999999999', 'Content-Length of more than 15 digits'],
    ]) {
      expect(both('content-length', `Content-Length: ${length}\r\n\r\n${lsp(next)}`)).toEqual([
        { kind: 'error', error: 'too-large', detail: `${said} is far over the frame limit of ${LIMIT} bytes: skipped to the next Content-Length header` },
        { kind: 'message', message: JSON.parse(next) },
      ]);
    }
    // Exactly 1 GiB is still a frame: skipped, so nothing comes out for the header alone.
    expect(decode('content-length', `Content-Length: ${2 ** 30}\r\n\r\n`)).toEqual([]);
  });
});

describe('the header block', () => {
  /** A header block whose blank line begins at byte `end` (Content-Length first, then padding). */
  function block(end: number, body = next): string {
    const first = `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    const pad = `X-Pad: ${'p'.repeat(end - first.length - 'X-Pad: '.length)}`;
    const headers = first + pad;
    expect(headers.length).toBe(end);
    return `${headers}\r\n\r\n${body}`;
  }

  it('its blank line may begin at exactly 8 KiB; one byte later it is refused (headers too long), however the bytes come', () => {
    for (const chunk of [0, 1, 1000, 8195, 8196]) {
      expect(decode('content-length', block(8192), chunk)).toEqual([{ kind: 'message', message: JSON.parse(next) }]);
      const late = decode('content-length', block(8193) + lsp(next), chunk);
      expect(late[0]).toEqual({ kind: 'error', error: 'header', detail: 'Content-Length headers too long or missing' });
      expect(late.at(-1)).toEqual({ kind: 'message', message: JSON.parse(next) });
    }
  });

  it('says what is wrong with it, then reads the next frame', () => {
    const cases: [string, string][] = [
      ['Content-Length: 5\r\nContent-Length: 7\r\n\r\n', 'more than one Content-Length header'],
      ['Content-Length: -5\r\n\r\n', 'Content-Length must be a non-negative integer, got "-5"'],
      ['Content-Length: 1.5\r\n\r\n', 'Content-Length must be a non-negative integer, got "1.5"'],
      [`Content-Length: ${'9'.repeat(50)}x\r\n\r\n`, `Content-Length must be a non-negative integer, got ${JSON.stringify(`${'9'.repeat(40)}`)}`],
      ['X-Other: 1\r\n\r\n', 'no Content-Length header in "X-Other: 1"'],
      [`X-Other: ${'o'.repeat(100)}\r\n\r\n`, `no Content-Length header in ${JSON.stringify(`X-Other: ${'o'.repeat(100)}`.slice(0, 80))}`],
      ['bad line\r\n\r\n', 'malformed header line starting "b" (a header is `Name: value`; a blank line ends them, then the body)'],
      ['Content-Length: 2\r\n: no name\r\n\r\n', 'malformed header line starting ":" (a header is `Name: value`; a blank line ends them, then the body)'],
      ['Content-Length: 12\r\n{"a":"body"}', 'malformed header line starting "{" (a header is `Name: value`; a blank line ends them, then the body)'],
    ];
    for (const [bytes, detail] of cases) {
      const out = both('content-length', bytes + lsp(next));
      expect(out[0]).toEqual({ kind: 'error', error: 'header', detail });
      expect(out.at(-1)).toEqual({ kind: 'message', message: JSON.parse(next) });
    }
  });

  it('names are read without regard to case, values without the blanks around them; other headers are ignored', () => {
    for (const header of ['content-LENGTH:   2  ', 'CONTENT-LENGTH:\t2', 'Content-Type: application/json\r\nContent-Length: 2']) {
      expect(both('content-length', `${header}\r\n\r\n{}`)).toEqual([{ kind: 'message', message: {} }]);
    }
    // A length of 15 digits is a number (far over the limit), not "more than 15 digits".
    expect(decode('content-length', 'Content-Length: 100000000000000\r\n\r\n')[0]).toMatchObject({ detail: expect.stringMatching(/^Content-Length 100000000000000 is far over/) });
  });
});

describe('nesting', () => {
  it('a frame nested deeper than 128 levels is refused with its id; 128 levels are read', () => {
    const deep = (n: number) => `{"jsonrpc":"2.0","id":5,"method":"m","params":${'['.repeat(n)}${']'.repeat(n)}}`;
    expect(decode('ndjson', `${deep(127)}\n`, 0, 1 << 20)[0]!.kind).toBe('message');
    expect(decode('ndjson', `${deep(200)}\n`, 0, 1 << 20)).toEqual([{ kind: 'error', error: 'too-deep', detail: 'nested deeper than 128 levels', id: 5 }]);
  });
});
