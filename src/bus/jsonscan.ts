/**
 * A streaming look at a JSON frame's structure without parsing it: how deep it nests, and, for
 * the top-level object (or each object of a top-level batch array), the raw text of its `id` and
 * which of `method`, `result`, `error` it has. Used where parsing is not possible or not wanted:
 * a frame over the size limit (skipped, but its id is still found wherever it is in the frame, so
 * the error can name it), a frame nested too deep (refused before anything re-serialises it), and
 * an id whose text JSON.parse would not give back (12345678901234567890, 1e3, -0, "\u0041").
 *
 * Bytes or UTF-16 code units are fed one at a time: the structural characters are all ASCII, the
 * same in both. It never throws and keeps a bounded amount of state whatever it is fed.
 */

/** Deepest nesting of arrays and objects accepted in a frame (docs/protocol.md). */
export const MAX_DEPTH = 128;
/** Longest id text kept (a longer id is not an id the bus can give back). */
const MAX_ID_CHARS = 256;
/** Longest key text looked at (keys of interest are shorter). */
const MAX_KEY_CHARS = 8;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

/** What a scan found about one top-level object (the frame, or one element of a batch). */
export interface ScannedObject {
  /** The id's raw text, when it had one within MAX_ID_CHARS. */
  id: string | undefined;
  method: boolean;
  result: boolean;
  error: boolean;
}

export class JsonScanner {
  readonly #limit: number;
  depth = 0;
  /** Deepest nesting seen, capped a little past the limit (it stops counting there). */
  maxDepth = 0;
  /** '[' or '{' opened the frame; 0 before its first structural character. */
  top = 0;
  #inString = false;
  #escape = false;
  /** The depth at which keys of interest live: 1 for an object frame, 2 for a batch's elements. */
  #keyDepth = 1;
  /** At #keyDepth in an object, the next string is a key. */
  #expectKey = false;
  #key = '';
  #keyOpen = false;
  /** The key just read is `id`: the value's text is being captured (-1: not capturing). */
  #capturing = false;
  #capture = '';
  #captureStarted = false;
  #current: ScannedObject | undefined;
  /** The objects found, in order (one for an object frame, one per object element of a batch). */
  readonly objects: ScannedObject[] = [];
  /** For a batch: how many elements had begun (to align objects with elements). */
  elements = 0;
  /** objects[i] belongs to element elementOf[i] of a batch. */
  readonly elementOf: number[] = [];

  constructor(limit = MAX_DEPTH) {
    this.#limit = limit;
  }

  get tooDeep(): boolean {
    return this.maxDepth > this.#limit;
  }

  /** The object scanned for an object frame. */
  get first(): ScannedObject | undefined {
    return this.objects[0];
  }

  pushBytes(buf: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end) {
      // Inside a string nobody keeps (the bulk of a big frame): jump to its next quote natively.
      if (this.#inString && !this.#keyOpen && !this.#capturing && !this.#escape) {
        const q = buf.indexOf(QUOTE, i);
        const stop = q === -1 || q >= end ? end : q;
        let n = 0;
        for (let j = stop - 1; j >= i && buf[j] === BACKSLASH; j--) n++;
        if (stop === end) {
          this.#escape = n % 2 === 1;
          return;
        }
        if (n % 2 === 1) {
          i = q + 1; // an escaped quote: still in the string
          continue;
        }
        i = q;
      }
      this.#step(buf[i]!);
      i++;
    }
  }

  pushText(text: string, start = 0, end = text.length): void {
    let i = start;
    while (i < end) {
      if (this.#inString && !this.#keyOpen && !this.#capturing && !this.#escape) {
        const q = text.indexOf('"', i);
        const stop = q === -1 || q >= end ? end : q;
        let n = 0;
        for (let j = stop - 1; j >= i && text.charCodeAt(j) === BACKSLASH; j--) n++;
        if (stop === end) {
          this.#escape = n % 2 === 1;
          return;
        }
        if (n % 2 === 1) {
          i = q + 1;
          continue;
        }
        i = q;
      }
      this.#step(text.charCodeAt(i));
      i++;
    }
  }

  #step(c: number): void {
    if (this.#inString) {
      if (this.#escape) this.#escape = false;
      else if (c === BACKSLASH) this.#escape = true;
      else if (c === QUOTE) {
        this.#inString = false;
        if (this.#keyOpen) {
          this.#keyOpen = false;
          this.#expectKey = false;
          this.#keyDone();
          return;
        }
      }
      if (this.#keyOpen) {
        if (this.#key.length <= MAX_KEY_CHARS) this.#key += String.fromCharCode(c);
        return;
      }
      if (this.#capturing) this.#captureChar(c);
      return;
    }
    // Structure. Whitespace outside strings is never part of a token.
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      if (this.#capturing && this.#captureStarted && this.depth === this.#keyDepth) this.#endCapture();
      return;
    }
    const d = this.depth;
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (this.#capturing) this.#stopCapture(); // an object or array id is no id
      if (d === 0) {
        this.top = c;
        this.#keyDepth = c === 0x5b ? 2 : 1;
      } else if (this.top === 0x5b && d === 1) {
        this.elements++;
      }
      this.depth = d + 1;
      if (this.depth > this.maxDepth && this.maxDepth <= this.#limit) this.maxDepth = this.depth;
      if (c === 0x7b && this.depth === this.#keyDepth) {
        this.#current = { id: undefined, method: false, result: false, error: false };
        this.objects.push(this.#current);
        this.elementOf.push(this.elements - 1);
        this.#expectKey = true;
      }
      return;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (this.#capturing && d === this.#keyDepth) this.#endCapture();
      if (d > 0) this.depth = d - 1;
      return;
    }
    if (d === this.#keyDepth && this.#current) {
      if (c === COMMA) {
        if (this.#capturing) this.#endCapture();
        this.#expectKey = true;
        return;
      }
      if (c === COLON) return;
      if (c === QUOTE && this.#expectKey) {
        this.#inString = true;
        this.#keyOpen = true;
        this.#key = '';
        return;
      }
    } else if (this.top === 0x5b && d === 1 && c !== COMMA) {
      // A batch element that is not an array or object (a number, a string, null): still an element.
      if (!this.#scalarOpen) this.elements++;
      this.#scalarOpen = true;
      if (c === QUOTE) this.#inString = true;
      return;
    } else if (this.top === 0x5b && d === 1 && c === COMMA) {
      this.#scalarOpen = false;
      return;
    }
    if (c === QUOTE) this.#inString = true;
    if (this.#capturing) this.#captureChar(c);
  }

  #scalarOpen = false;

  #keyDone(): void {
    const cur = this.#current!;
    switch (this.#key) {
      case 'id':
        this.#capturing = true;
        this.#capture = '';
        this.#captureStarted = false;
        break;
      case 'method':
        cur.method = true;
        break;
      case 'result':
        cur.result = true;
        break;
      case 'error':
        cur.error = true;
        break;
    }
  }

  #captureChar(c: number): void {
    this.#captureStarted = true;
    if (this.#capture.length >= MAX_ID_CHARS) return this.#stopCapture();
    this.#capture += String.fromCharCode(c);
    if (this.#inString === false && c === QUOTE) return; // closing quote handled by the string state
  }

  #endCapture(): void {
    this.#capturing = false;
    if (this.#current && this.#captureStarted) this.#current.id = this.#capture;
    this.#capture = '';
  }

  #stopCapture(): void {
    this.#capturing = false;
    this.#capture = '';
  }
}

/**
 * True when `text` might nest deeper than `limit`: it has more than `limit` openers. Cheap (a few
 * indexOf calls for an ordinary frame); a frame that passes it needs no scan at all.
 */
export function mayNestDeeperThan(text: string, limit = MAX_DEPTH): boolean {
  if (text.length <= 2 * limit) return false;
  let n = 0;
  for (let i = text.indexOf('[', 0); i !== -1; i = text.indexOf('[', i + 1)) if (++n > limit) return true;
  for (let i = text.indexOf('{', 0); i !== -1; i = text.indexOf('{', i + 1)) if (++n > limit) return true;
  return false;
}
