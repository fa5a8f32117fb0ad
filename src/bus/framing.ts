/**
 * Byte stream <-> JSON messages. NDJSON (one message per line) by default; LSP's Content-Length
 * framing when a connection's first bytes say `Content-Length:` (or hello negotiates it). The
 * decoder is incremental (any chunking decodes the same), bounded (a frame over the limit is
 * skipped, and reported, without losing sync) and total: it never throws.
 */
export type Framing = 'ndjson' | 'content-length';

export type Decoded =
  | { kind: 'message'; message: unknown }
  | { kind: 'error'; error: 'parse' | 'too-large' | 'header'; detail: string; id?: string | number | null };

const NL = 0x0a;
const CR = 0x0d;
const HEADER_LIMIT = 8 * 1024;
const CONTENT_LENGTH = /^content-length:/i;
const LENGTH_LINE = /^content-length:\s*(\d+)\s*$/im;
/** Enough of an oversize frame's head to find its id, so the error can answer it. */
const ID_PROBE = /"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})/;
const PROBE_BYTES = 512;

export class FrameDecoder {
  #framing: Framing | undefined;
  readonly #max: number;
  #parts: Buffer[] = [];
  #partsLength = 0;
  /** Skipping the rest of an oversize NDJSON line, or this many bytes of an oversize LSP body. */
  #skipLine = false;
  #skipBytes = 0;
  #probe = '';
  /** LSP: the body length once the headers are read. */
  #bodyLength = -1;

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
    if (!this.#partsLength) return [];
    const pending = Buffer.concat(this.#parts);
    this.#parts = [];
    this.#partsLength = 0;
    return this.push(pending);
  }

  push(chunk: Buffer): Decoded[] {
    const out: Decoded[] = [];
    try {
      if (this.#framing === undefined && !this.#detect(chunk)) return out;
      if (this.#framing === 'ndjson') this.#ndjson(chunk, out);
      else this.#lsp(chunk, out);
    } catch (err) {
      // Defensive: a decoder bug must never take the connection's owner down.
      this.#reset();
      out.push({ kind: 'error', error: 'parse', detail: `decoder reset: ${(err as Error).message}` });
    }
    return out;
  }

  /** Decides the framing from the first bytes; false while there are too few to tell. */
  #detect(chunk: Buffer): boolean {
    const head = Buffer.concat([...this.#parts, chunk]);
    let i = 0;
    while (i < head.length && (head[i] === 0x20 || head[i] === NL || head[i] === CR || head[i] === 0x09)) i++;
    const text = head.toString('latin1', i, Math.min(head.length, i + 15));
    if (text.length < 15 && 'content-length:'.startsWith(text.toLowerCase()) && !head.includes(NL, i)) {
      this.#parts.push(chunk);
      this.#partsLength += chunk.length;
      return false;
    }
    this.#framing = CONTENT_LENGTH.test(text) ? 'content-length' : 'ndjson';
    return true;
  }

  #ndjson(chunk: Buffer, out: Decoded[]): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl === -1 ? chunk.length : nl;
      if (this.#skipLine) {
        if (nl === -1) return;
        this.#skipLine = false;
        out.push(this.#tooLarge());
        start = nl + 1;
        continue;
      }
      const len = this.#partsLength + (end - start);
      if (len > this.#max) {
        this.#probe ||= Buffer.concat([...this.#parts, chunk.subarray(start, Math.min(end, start + PROBE_BYTES))]).toString('utf8', 0, PROBE_BYTES);
        this.#parts = [];
        this.#partsLength = 0;
        if (nl === -1) {
          this.#skipLine = true;
          return;
        }
        out.push(this.#tooLarge());
        start = nl + 1;
        continue;
      }
      if (nl === -1) {
        this.#parts.push(chunk.subarray(start));
        this.#partsLength += chunk.length - start;
        return;
      }
      if (!this.#partsLength) {
        // The complete lines from here on, if together within the frame limit (then none is over
        // it), are decoded as one string and split there: one UTF-8 decoding per chunk rather than
        // one per line (a newline is never inside a multi-byte sequence: the lines read the same).
        const last = chunk.lastIndexOf(NL);
        if (last - start <= this.#max) {
          this.#lines(chunk.toString('utf8', start, last), out);
          start = last + 1;
          continue;
        }
      }
      let line: Buffer;
      if (this.#partsLength) {
        this.#parts.push(chunk.subarray(start, end));
        line = Buffer.concat(this.#parts, len);
        this.#parts = [];
        this.#partsLength = 0;
        this.#parse(line, 0, line.length, out);
      } else {
        this.#parse(chunk, start, end, out);
      }
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
      if (s < e) {
        try {
          out.push({ kind: 'message', message: JSON.parse(text.slice(s, e)) });
        } catch (err) {
          out.push({ kind: 'error', error: 'parse', detail: `not JSON: ${(err as Error).message}` });
        }
      }
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
    const text = buf.toString('utf8', s, end);
    try {
      out.push({ kind: 'message', message: JSON.parse(text) });
    } catch (err) {
      out.push({ kind: 'error', error: 'parse', detail: `not JSON: ${(err as Error).message}` });
    }
  }

  #tooLarge(): Decoded {
    const m = ID_PROBE.exec(this.#probe);
    this.#probe = '';
    const id = m ? (JSON.parse(m[1]!) as string | number) : undefined;
    return { kind: 'error', error: 'too-large', detail: `frame larger than ${this.#max} bytes`, ...(id !== undefined ? { id } : {}) };
  }

  #lsp(chunk: Buffer, out: Decoded[]): void {
    let buf = chunk;
    while (buf.length) {
      if (this.#skipBytes) {
        const n = Math.min(this.#skipBytes, buf.length);
        if (this.#probe.length < PROBE_BYTES) this.#probe += buf.toString('latin1', 0, Math.min(n, PROBE_BYTES - this.#probe.length));
        this.#skipBytes -= n;
        buf = buf.subarray(n);
        if (!this.#skipBytes) out.push(this.#tooLarge());
        continue;
      }
      if (this.#bodyLength < 0) {
        // Headers, up to the blank line.
        this.#parts.push(buf);
        this.#partsLength += buf.length;
        const all = this.#parts.length === 1 ? buf : Buffer.concat(this.#parts, this.#partsLength);
        const endOfHeaders = all.indexOf('\r\n\r\n');
        if (endOfHeaders === -1) {
          if (all.length > HEADER_LIMIT) {
            out.push({ kind: 'error', error: 'header', detail: 'Content-Length headers too long or missing' });
            this.#parts = [];
            this.#partsLength = 0;
            buf = this.#resync(all.subarray(1));
            continue;
          }
          this.#parts = [all];
          return;
        }
        this.#parts = [];
        this.#partsLength = 0;
        const headers = all.toString('latin1', 0, endOfHeaders);
        const m = LENGTH_LINE.exec(headers);
        if (!m) {
          out.push({ kind: 'error', error: 'header', detail: `no Content-Length header in ${JSON.stringify(headers.slice(0, 80))}` });
          buf = this.#resync(all.subarray(endOfHeaders + 4));
          continue;
        }
        this.#bodyLength = Number(m[1]);
        buf = all.subarray(endOfHeaders + 4);
        if (this.#bodyLength > this.#max) {
          this.#probe = '';
          this.#skipBytes = this.#bodyLength;
          this.#bodyLength = -1;
        }
        continue;
      }
      const need = this.#bodyLength - this.#partsLength;
      if (buf.length < need) {
        this.#parts.push(buf);
        this.#partsLength += buf.length;
        return;
      }
      this.#parts.push(buf.subarray(0, need));
      const body = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#bodyLength);
      this.#parts = [];
      this.#partsLength = 0;
      this.#bodyLength = -1;
      this.#parse(body, 0, body.length, out);
      buf = buf.subarray(need);
    }
  }

  /** After garbage in LSP mode: continue from the next `Content-Length:` header, if any. */
  #resync(buf: Buffer): Buffer {
    const at = buf.toString('latin1').search(/content-length:/i);
    return at === -1 ? Buffer.alloc(0) : buf.subarray(at);
  }

  #reset(): void {
    this.#parts = [];
    this.#partsLength = 0;
    this.#skipLine = false;
    this.#skipBytes = 0;
    this.#bodyLength = -1;
    this.#probe = '';
  }
}

/** One message as bytes in the given framing. */
export function encodeFrame(message: unknown, framing: Framing): string {
  return frameJson(JSON.stringify(message), framing);
}

/** One message already encoded as JSON, as bytes in the given framing. */
export function frameJson(json: string, framing: Framing): string {
  return framing === 'ndjson' ? `${json}\n` : `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
}
