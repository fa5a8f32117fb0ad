/**
 * The frame decoder: bytes in, messages out. NDJSON (one message per line) by default; LSP's
 * Content-Length framing when a connection's first bytes say `Content-Length:` (or hello
 * negotiates it). Incremental (any chunking decodes the same), bounded (a frame over the limit is
 * skipped, and reported, without losing sync) and total: it never throws.
 */
import { refusal, type Decoded, type Framing } from './decoded.js';
import { decodeText } from './frame-text.js';
import { JsonScanner } from './jsonscan.js';
import { badHeaderLine, contentLength, HEADER_LIMIT } from './lsp-headers.js';

const NL = 0x0a;
const CR = 0x0d;
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /^content-length:/i;
/**
 * A declared body length past this (1 GiB, or 64 times the frame limit if more) is not a frame:
 * an error at once and a resync, instead of skipping bytes that will never all come. A length up
 * to it is skipped, scanned for the frame's id, so its error can name the request.
 */
const SKIP_BYTES = 1024 * 1024 * 1024;
const SKIP_FACTOR = 64;
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
      if (s < e) decodeText(text.slice(s, e), out);
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
    decodeText(buf.toString('utf8', s, end), out);
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
        const rest = this.#headers(buf, out);
        if (!rest) return;
        buf = rest;
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

  /**
   * Reads a header block, up to the blank line, which must begin within HEADER_LIMIT bytes, and
   * acts on the length it declares. Returns the bytes after what it used; undefined when `buf` is
   * used up (the block's bytes so far kept in #acc).
   */
  #headers(chunk: Buffer, out: Decoded[]): Buffer | undefined {
    let buf = chunk;
    let headers: string;
    if (!this.#accLen) {
      const end = buf.indexOf(HEADER_END);
      if (end === -1 && buf.length < HEADER_LIMIT + 4) {
        const bad = badHeaderLine(buf.toString('latin1'));
        if (bad !== undefined) return this.#headersTooLong(buf.subarray(1), out, bad);
        this.#append(buf, 0, buf.length, HEADER_LIMIT + 4);
        return undefined;
      }
      if (end === -1 || end > HEADER_LIMIT) return this.#headersTooLong(buf.subarray(1), out);
      headers = buf.toString('latin1', 0, end);
      // A line that is no header before the blank line (a body sent without one): seek from the
      // block's second byte, as when the line is seen before the blank line has come.
      const bad = badHeaderLine(`${headers}\r\n`);
      if (bad !== undefined) return this.#headersTooLong(buf.subarray(1), out, bad);
      buf = buf.subarray(end + 4);
    } else {
      const had = this.#accLen;
      const take = Math.min(buf.length, HEADER_LIMIT + 4 - had);
      this.#append(buf, 0, take, HEADER_LIMIT + 4);
      const end = this.#acc.subarray(0, this.#accLen).indexOf(HEADER_END, Math.max(0, had - 3));
      if (end === -1) {
        const bad = badHeaderLine(this.#acc.toString('latin1', 0, this.#accLen));
        if (bad === undefined && this.#accLen < HEADER_LIMIT + 4) return undefined;
        const rest = Buffer.concat([this.#acc.subarray(1, this.#accLen), buf.subarray(take)]);
        this.#done();
        return this.#headersTooLong(rest, out, bad);
      }
      headers = this.#acc.toString('latin1', 0, end);
      const bad = badHeaderLine(`${headers}\r\n`);
      if (bad !== undefined) {
        const rest = Buffer.concat([this.#acc.subarray(1, this.#accLen), buf.subarray(take)]);
        this.#done();
        return this.#headersTooLong(rest, out, bad);
      }
      buf = buf.subarray(end + 4 - had);
      this.#done();
    }
    this.#declared(contentLength(headers), out);
    return buf;
  }

  /** A header block's verdict: a body to read, one to skip (over the limit), or an error and a seek. */
  #declared(length: number | string, out: Decoded[]): void {
    if (typeof length === 'string') {
      out.push({ kind: 'error', error: 'header', detail: length });
      this.#seeking = true;
      this.#seekSkipped = 0;
      return;
    }
    if (length <= this.#max) {
      this.#bodyLength = length;
      return;
    }
    if (length > Math.max(SKIP_BYTES, this.#max * SKIP_FACTOR)) {
      // Not a frame anyone could send: skipping it would swallow the rest of the stream.
      out.push({ kind: 'error', error: 'too-large', detail: `Content-Length ${Number.isFinite(length) ? length : 'of more than 15 digits'} is far over the frame limit of ${this.#max} bytes: skipped to the next Content-Length header` });
      this.#seeking = true;
      this.#seekSkipped = 0;
      return;
    }
    this.#scan = new JsonScanner();
    this.#skipBytes = length;
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
