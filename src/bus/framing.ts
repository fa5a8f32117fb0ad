import { JsonScanner, mayNestDeeperThan, MAX_DEPTH, type ScannedObject } from './jsonscan.js';

/**
 * Byte stream <-> JSON messages. NDJSON (one message per line) by default; LSP's Content-Length
 * framing when a connection's first bytes say `Content-Length:` (or hello negotiates it). The
 * decoder is incremental (any chunking decodes the same), bounded (a frame over the limit is
 * skipped, and reported, without losing sync) and total: it never throws.
 */
export type Framing = 'ndjson' | 'content-length';

export type Decoded =
  | {
      kind: 'message';
      message: unknown;
      /** The frame's size, when over SMALL_FRAME (a smaller one counts as SMALL_FRAME): what holding it costs. */
      bytes?: number;
      /** The id's text as sent, when JSON.parse would not give it back (12345678901234567890, 1e3, "\u0041"). */
      rawId?: string;
      /** A batch: each element's rawId (by position), where it differs. */
      rawIds?: (string | undefined)[];
    }
  | {
      kind: 'error';
      error: 'parse' | 'too-large' | 'too-deep' | 'header';
      detail: string;
      /** The frame's id, found by a scan wherever it is in the frame (too-large, too-deep). */
      id?: string | number;
      /** Its text as sent. */
      rawId?: string;
      /** The frame has `result` or `error` and no `method`: an answer, whose id is in the receiver's own space. */
      answer?: boolean;
      /** A batch refused whole (too large, too deep): what the scan found of each object element, so each request in it is still answered with its id. */
      elements?: RefusedElement[];
    };

/** One object element of a batch refused whole: its id (parsed and as sent) and whether it is an answer. */
export interface RefusedElement {
  id?: string | number;
  rawId?: string;
  answer: boolean;
}

const NL = 0x0a;
const CR = 0x0d;
const HEADER_LIMIT = 8 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /^content-length:/i;
/** One header line, `Name: value` (RFC 9110 token characters in the name). */
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
const TOKEN_START = /[!#$%&'*+.^_`|~0-9A-Za-z\r-]/;
/**
 * A declared body length past this (1 GiB, or 64 times the frame limit if more) is not a frame:
 * an error at once and a resync, instead of skipping bytes that will never all come. A length up
 * to it is skipped, scanned for the frame's id, so its error can name the request.
 */
const SKIP_BYTES = 1024 * 1024 * 1024;
const SKIP_FACTOR = 64;
/** Frames up to this size are not measured: each counts as this much against its sender's budget. */
export const SMALL_FRAME = 1024;
/** The start of the envelope every Symphony client writes: an id right after it needs no scan. */
const HEAD = '{"jsonrpc":"2.0","id":';
/** A pending-bytes buffer grown past this is dropped when a read leaves nothing pending (an idle connection keeps little). */
const KEEP_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);

const isSpace = (b: number) => b === 0x20 || b === NL || b === CR || b === 0x09;

export class FrameDecoder {
  #framing: Framing | undefined;
  readonly #max: number;
  /**
   * The bytes of the frame (line, header block, body) not complete yet, copied into one growing
   * buffer: a frame arriving in many small reads costs its size, not a Buffer per read (nor does
   * the tail of a read keep the whole read alive). Also the first bytes while detecting the
   * framing, and the bytes that may begin a `Content-Length:` while seeking one.
   */
  #acc: Buffer = EMPTY;
  #accLen = 0;
  /** Skipping the rest of an oversize NDJSON line, or this many bytes of an oversize LSP body. */
  #skipLine = false;
  #skipBytes = 0;
  /** Scans the oversize frame being skipped for its id (wherever it is in the frame) and kind. */
  #scan: JsonScanner | undefined;
  /** LSP: the body length once the headers are read. */
  #bodyLength = -1;
  /** LSP, after a bad header block: skipping to the next `Content-Length:`, and bytes skipped since the last error. */
  #seeking = false;
  #seekSkipped = 0;

  constructor(options: { maxFrameBytes?: number; framing?: Framing } = {}) {
    this.#max = options.maxFrameBytes ?? 1024 * 1024;
    this.#framing = options.framing;
  }

  get framing(): Framing | undefined {
    return this.#framing;
  }

  /** Switches framing for the bytes that follow (hello negotiation). Buffered bytes are re-read. */
  setFraming(framing: Framing): Decoded[] {
    this.#framing = framing;
    this.#seeking = false;
    this.#seekSkipped = 0;
    if (!this.#accLen) return [];
    // A copy: re-reading appends to #acc.
    const pending = Buffer.from(this.#acc.subarray(0, this.#accLen));
    this.#done();
    return this.push(pending);
  }

  push(chunk: Buffer): Decoded[] {
    const out: Decoded[] = [];
    try {
      if (this.#framing === undefined) {
        const rest = this.#detect(chunk);
        if (!rest) return out;
        chunk = rest;
      }
      if (this.#framing === 'ndjson') this.#ndjson(chunk, out);
      else this.#lsp(chunk, out);
      // Not at each frame's end: the next big frame, begun in this read, reuses the buffer.
      if (!this.#accLen && this.#acc.length > KEEP_BYTES) this.#acc = EMPTY;
    } catch (err) {
      // Defensive: a decoder bug must never take the connection's owner down.
      this.#reset();
      out.push({ kind: 'error', error: 'parse', detail: `decoder reset: ${(err as Error).message}` });
    }
    return out;
  }

  /**
   * Decides the framing from the first bytes that are not whitespace; undefined while there are
   * too few to tell. Whitespace before them is dropped as it arrives (kept, a peer sending only
   * that would grow the buffer without limit; and blank lines are no part of the first frame).
   * Returns the bytes to decode in that framing.
   */
  #detect(chunk: Buffer): Buffer | undefined {
    let i = 0;
    if (!this.#accLen) {
      while (i < chunk.length && isSpace(chunk[i]!)) i++;
      if (i === chunk.length) return undefined;
    }
    const had = this.#accLen;
    const head = this.#acc.toString('latin1', 0, had) + chunk.toString('latin1', i, i + 15 - had);
    if (head.length < 15 && 'content-length:'.startsWith(head.toLowerCase())) {
      // All of it is in head: at most 14 bytes kept.
      this.#append(chunk, i, chunk.length, 15);
      return undefined;
    }
    this.#framing = CONTENT_LENGTH.test(head) ? 'content-length' : 'ndjson';
    if (!had) return chunk.subarray(i);
    const all = Buffer.concat([this.#acc.subarray(0, had), chunk]);
    this.#done();
    return all;
  }

  #ndjson(chunk: Buffer, out: Decoded[]): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl === -1 ? chunk.length : nl;
      if (this.#skipLine) {
        this.#scan!.pushBytes(chunk, start, end);
        if (nl === -1) return;
        this.#skipLine = false;
        out.push(this.#tooLarge());
        start = nl + 1;
        continue;
      }
      const len = this.#accLen + (end - start);
      if (len > this.#max) {
        // The whole line is scanned for its id as it is skipped: the same whatever the chunking.
        this.#scan = new JsonScanner();
        this.#scan.pushBytes(this.#acc, 0, this.#accLen);
        this.#scan.pushBytes(chunk, start, end);
        this.#done();
        if (nl === -1) {
          this.#skipLine = true;
          return;
        }
        out.push(this.#tooLarge());
        start = nl + 1;
        continue;
      }
      if (nl === -1) {
        this.#append(chunk, start, end, this.#max);
        return;
      }
      if (this.#accLen) {
        this.#append(chunk, start, end, this.#max);
        this.#parse(this.#acc, 0, this.#accLen, out);
        this.#done();
        start = nl + 1;
        continue;
      }
      // The complete lines from here on, if together within the frame limit (then none is over
      // it), are decoded as one string and split there: one UTF-8 decoding per chunk rather than
      // one per line (a newline is never inside a multi-byte sequence: the lines read the same).
      const last = chunk.lastIndexOf(NL);
      if (last - start <= this.#max) {
        this.#lines(chunk.toString('utf8', start, last), out);
        start = last + 1;
        continue;
      }
      this.#parse(chunk, start, end, out);
      start = nl + 1;
    }
  }

  /** Newline-separated complete lines (the last one without its newline), as #parse reads each. */
  #lines(text: string, out: Decoded[]): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const end = nl === -1 ? text.length : nl;
      let e = end;
      if (e > start && text.charCodeAt(e - 1) === CR) e--;
      let s = start;
      while (s < e && (text.charCodeAt(s) === 0x20 || text.charCodeAt(s) === 0x09)) s++;
      if (s < e) this.#message(text.slice(s, e), out);
      if (nl === -1) return;
      start = nl + 1;
    }
  }

  #parse(buf: Buffer, start: number, end: number, out: Decoded[]): void {
    if (end > start && buf[end - 1] === CR) end--;
    // Skip blank lines (keep-alives, a trailing newline after Content-Length bodies).
    let s = start;
    while (s < end && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
    if (s === end) return;
    this.#message(buf.toString('utf8', s, end), out);
  }

  /**
   * One frame's text: refused when it nests deeper than MAX_DEPTH (before anything parses or
   * re-serialises it: JSON.stringify recurses, and a few thousand levels overflow the stack),
   * parsed, and its id's raw text kept when JSON.parse would not give it back.
   */
  #message(text: string, out: Decoded[]): void {
    if (mayNestDeeperThan(text)) {
      const scan = new JsonScanner();
      scan.pushText(text);
      if (scan.tooDeep) return void out.push(refusal('too-deep', `nested deeper than ${MAX_DEPTH} levels`, scan, false));
    }
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (err) {
      if (blank(text)) return;
      // Scanned for what it meant to be: an answer whose id can be read fails its call at once
      // (its caller would otherwise wait its whole deadline for an answer that cannot come).
      const scan = new JsonScanner();
      scan.pushText(text);
      const d = refusal('parse', `not JSON: ${(err as Error).message}`, scan, false);
      d.elements = undefined; // a batch that is not JSON gets the one parse error (JSON-RPC 2.0 section 7)
      return void out.push(d);
    }
    const d: Decoded & { kind: 'message' } = { kind: 'message', message };
    if (text.length > SMALL_FRAME) d.bytes = text.length;
    if (message !== null && typeof message === 'object') {
      if (!Array.isArray(message)) {
        const id = (message as { id?: unknown }).id;
        if ((typeof id === 'number' || typeof id === 'string') && !idAtHead(text, id)) {
          const scan = new JsonScanner();
          scan.pushText(text);
          const raw = scan.first?.id;
          if (raw !== undefined && raw !== JSON.stringify(id)) d.rawId = raw;
        }
      } else if (message.length && text.includes('"id"')) {
        const scan = new JsonScanner();
        scan.pushText(text);
        const rawIds: (string | undefined)[] = [];
        let any = false;
        for (let i = 0; i < scan.objects.length; i++) {
          const el = message[scan.elementOf[i]!] as { id?: unknown } | undefined;
          const raw = scan.objects[i]!.id;
          if (raw === undefined || !el || typeof el !== 'object') continue;
          const id = el.id;
          if ((typeof id === 'number' || typeof id === 'string') && raw !== JSON.stringify(id)) {
            rawIds[scan.elementOf[i]!] = raw;
            any = true;
          }
        }
        if (any) d.rawIds = rawIds;
      }
    }
    out.push(d);
  }

  #tooLarge(): Decoded {
    const scan = this.#scan;
    this.#scan = undefined;
    return refusal('too-large', `frame larger than ${this.#max} bytes`, scan, true);
  }

  #lsp(chunk: Buffer, out: Decoded[]): void {
    let buf = chunk;
    while (buf.length) {
      if (this.#skipBytes) {
        const n = Math.min(this.#skipBytes, buf.length);
        this.#scan!.pushBytes(buf, 0, n);
        this.#skipBytes -= n;
        buf = buf.subarray(n);
        if (!this.#skipBytes) out.push(this.#tooLarge());
        continue;
      }
      if (this.#seeking) {
        const rest = this.#seek(buf, out);
        if (!rest) return;
        buf = rest;
        continue;
      }
      if (this.#bodyLength < 0) {
        // Headers, up to the blank line, which must begin within HEADER_LIMIT bytes.
        let headers: string;
        if (!this.#accLen) {
          const end = buf.indexOf(HEADER_END);
          if (end === -1 && buf.length < HEADER_LIMIT + 4) {
            const bad = badHeaderLine(buf.toString('latin1'));
            if (bad !== undefined) {
              buf = this.#headersTooLong(buf.subarray(1), out, bad);
              continue;
            }
            this.#append(buf, 0, buf.length, HEADER_LIMIT + 4);
            return;
          }
          if (end === -1 || end > HEADER_LIMIT) {
            buf = this.#headersTooLong(buf.subarray(1), out);
            continue;
          }
          headers = buf.toString('latin1', 0, end);
          buf = buf.subarray(end + 4);
        } else {
          const had = this.#accLen;
          const take = Math.min(buf.length, HEADER_LIMIT + 4 - had);
          this.#append(buf, 0, take, HEADER_LIMIT + 4);
          const end = this.#acc.subarray(0, this.#accLen).indexOf(HEADER_END, Math.max(0, had - 3));
          if (end === -1) {
            const bad = badHeaderLine(this.#acc.toString('latin1', 0, this.#accLen));
            if (bad !== undefined) {
              const rest = Buffer.concat([this.#acc.subarray(1, this.#accLen), buf.subarray(take)]);
              this.#done();
              buf = this.#headersTooLong(rest, out, bad);
              continue;
            }
            if (this.#accLen < HEADER_LIMIT + 4) return;
            const rest = Buffer.concat([this.#acc.subarray(1, this.#accLen), buf.subarray(take)]);
            this.#done();
            buf = this.#headersTooLong(rest, out);
            continue;
          }
          headers = this.#acc.toString('latin1', 0, end);
          buf = buf.subarray(end + 4 - had);
          this.#done();
        }
        const length = contentLength(headers);
        if (typeof length === 'string') {
          out.push({ kind: 'error', error: 'header', detail: length });
          this.#seeking = true;
          this.#seekSkipped = 0;
          continue;
        }
        if (length > this.#max) {
          if (length > Math.max(SKIP_BYTES, this.#max * SKIP_FACTOR)) {
            // Not a frame anyone could send: skipping it would swallow the rest of the stream.
            out.push({ kind: 'error', error: 'too-large', detail: `Content-Length ${Number.isFinite(length) ? length : 'of more than 15 digits'} is far over the frame limit of ${this.#max} bytes: skipped to the next Content-Length header` });
            this.#seeking = true;
            this.#seekSkipped = 0;
            continue;
          }
          this.#scan = new JsonScanner();
          this.#skipBytes = length;
          continue;
        }
        this.#bodyLength = length;
        continue;
      }
      const need = this.#bodyLength - this.#accLen;
      if (buf.length < need) {
        this.#append(buf, 0, buf.length, this.#bodyLength);
        return;
      }
      this.#bodyLength = -1;
      if (this.#accLen) {
        this.#append(buf, 0, need, this.#accLen + need);
        this.#parse(this.#acc, 0, this.#accLen, out);
        this.#done();
      } else {
        this.#parse(buf, 0, need, out);
      }
      buf = buf.subarray(need);
    }
  }

  /** No blank line within HEADER_LIMIT bytes: an error, then seek a `Content-Length:` from the block's second byte (`rest`). */
  #headersTooLong(rest: Buffer, out: Decoded[], detail = 'Content-Length headers too long or missing'): Buffer {
    out.push({ kind: 'error', error: 'header', detail });
    this.#seeking = true;
    this.#seekSkipped = 0;
    return rest;
  }

  /**
   * After a bad header block: skips to the next `Content-Length:`, across reads (the bytes that
   * may begin one are kept in #acc), and returns the bytes from there on; undefined when `buf` is
   * used up. Each HEADER_LIMIT bytes skipped count as one more bad header block (an error), so a
   * stream of junk is still reported, however it is cut.
   */
  #seek(buf: Buffer, out: Decoded[]): Buffer | undefined {
    const kept = this.#accLen;
    const text = this.#acc.toString('latin1', 0, kept) + buf.toString('latin1');
    const at = text.search(/content-length:/i);
    let skipped = at;
    if (at === -1) {
      let keep = Math.min(14, text.length);
      while (keep && !'content-length:'.startsWith(text.slice(text.length - keep).toLowerCase())) keep--;
      skipped = text.length - keep;
      const tail = Buffer.from(text.slice(text.length - keep), 'latin1');
      this.#accLen = 0;
      this.#append(tail, 0, tail.length, 15);
    }
    this.#seekSkipped += skipped;
    while (this.#seekSkipped >= HEADER_LIMIT) {
      this.#seekSkipped -= HEADER_LIMIT;
      out.push({ kind: 'error', error: 'header', detail: `no Content-Length header in ${HEADER_LIMIT} bytes` });
    }
    if (at === -1) return undefined;
    this.#seeking = false;
    this.#seekSkipped = 0;
    this.#done();
    return at >= kept ? buf.subarray(at - kept) : Buffer.concat([Buffer.from(text.slice(at, kept), 'latin1'), buf]);
  }

  /**
   * Appends src[start, end) to the pending bytes, growing the buffer to four times what they need
   * (few copies as a big frame arrives) but never past `limit`, the most they can need (the frame
   * limit, a Content-Length body's length). Not to the declared length at once: a peer would make
   * us reserve the limit with a header alone.
   */
  #append(src: Buffer, start: number, end: number, limit: number): void {
    const need = this.#accLen + (end - start);
    if (need > this.#acc.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(need, Math.min(limit, Math.max(4 * need, 1024))));
      this.#acc.copy(grown, 0, 0, this.#accLen);
      this.#acc = grown;
    }
    src.copy(this.#acc, this.#accLen, start, end);
    this.#accLen = need;
  }

  /** The pending bytes are used (the buffer stays, for the next frame). */
  #done(): void {
    this.#accLen = 0;
  }

  #reset(): void {
    this.#acc = EMPTY;
    this.#accLen = 0;
    this.#skipLine = false;
    this.#skipBytes = 0;
    this.#bodyLength = -1;
    this.#scan = undefined;
    this.#seeking = false;
    this.#seekSkipped = 0;
  }
}

/** An error for a frame refused unparsed, with what its scan found: its id (parsed and raw) and whether it is an answer; for a batch, the same of each element. */
function refusal(error: 'too-large' | 'too-deep' | 'parse', detail: string, scan: JsonScanner | undefined, bytes: boolean): Decoded & { kind: 'error' } {
  const d: Decoded & { kind: 'error' } = { kind: 'error', error, detail };
  if (scan?.top === 0x5b) {
    d.elements = scan.objects.map((found) => scanned(found, bytes));
    return d;
  }
  if (scan?.top !== 0x7b || !scan.first) return d;
  const one = scanned(scan.first, bytes);
  if (one.answer) d.answer = true;
  if (one.id !== undefined) d.id = one.id;
  if (one.rawId !== undefined) d.rawId = one.rawId;
  return d;
}

function scanned(found: ScannedObject, bytes: boolean): RefusedElement {
  const e: RefusedElement = { answer: !found.method && (found.result || found.error) };
  let raw = found.id;
  if (raw === undefined) return e;
  // Scanned from bytes: the id's text was read a byte per character.
  if (bytes) raw = Buffer.from(raw, 'latin1').toString('utf8');
  try {
    const id = JSON.parse(raw) as unknown;
    // `null` is no id: the error about the frame has id null either way.
    if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) {
      e.id = id;
      if (raw !== JSON.stringify(id)) e.rawId = raw;
    }
  } catch {
    // not a JSON value (007, a raw tab in a string): no id
  }
  return e;
}

/** True when `text` starts with the usual envelope and this id, written as JSON.stringify writes it: its raw text is known without a scan. */
function idAtHead(text: string, id: string | number): boolean {
  if (!text.startsWith(HEAD)) return false;
  const written = typeof id === 'number' ? String(id) : JSON.stringify(id);
  if (!text.startsWith(written, HEAD.length)) return false;
  const c = text.charCodeAt(HEAD.length + written.length);
  return c === 0x2c || c === 0x7d;
}

/** A header block's body length, or what is wrong with it. */
function contentLength(headers: string): number | string {
  let length: number | undefined;
  for (const line of headers.split('\r\n')) {
    if (line === '') continue; // blank lines between frames
    const m = HEADER_LINE.exec(line);
    if (!m) return malformed(line);
    if (m[1]!.toLowerCase() !== 'content-length') continue;
    if (length !== undefined) return 'more than one Content-Length header';
    if (!/^\d+$/.test(m[2]!)) return `Content-Length must be a non-negative integer, got ${JSON.stringify(m[2]!.slice(0, 40))}`;
    // Past 15 digits no frame could have it: Infinity, refused as far over the limit.
    length = m[2]!.length > 15 ? Infinity : Number(m[2]);
  }
  return length ?? `no Content-Length header in ${JSON.stringify(headers.slice(0, 80))}`;
}

/** Names the line by its first character only: the same error however the stream was cut (a line may be judged before it ends). */
const malformed = (line: string) => `malformed header line starting ${JSON.stringify(line.slice(0, 1))} (a header is \`Name: value\`; a blank line ends them, then the body)`;

/** Header bytes not ended yet that hold a complete line that is no header (a body with no blank line before it): what is wrong. */
function badHeaderLine(text: string): string | undefined {
  let start = 0;
  for (let nl = text.indexOf('\r\n'); nl !== -1; nl = text.indexOf('\r\n', start)) {
    const line = text.slice(start, nl);
    if (nl > start && !HEADER_LINE.test(line)) return malformed(line);
    start = nl + 2;
  }
  // The line begun: a header name starts with a token character (a body's `{` or `[` does not).
  if (start < text.length && !TOKEN_START.test(text[start]!)) return malformed(text.slice(start));
  return undefined;
}

/** A line that is only JSON whitespace (a CR inside, say) is blank, not an error: empty lines are ignored. */
function blank(text: string): boolean {
  return /^[ \t\r\n]*$/.test(text);
}

/** One message as bytes in the given framing. */
export function encodeFrame(message: unknown, framing: Framing): string {
  return frameJson(JSON.stringify(message), framing);
}

/** One message already encoded as JSON, as bytes in the given framing. */
export function frameJson(json: string, framing: Framing): string {
  return framing === 'ndjson' ? `${json}\n` : `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
}
