/**
 * W3C traceparents for requests that start a trace. Trace ids must be unique, not secret: a
 * random per-process prefix and a counter make them unique at a fraction of the cost of fresh
 * randomness per request (this is on every request's path). The counter's 16 hex digits are its
 * high 14, formatted once per 256 ids, and the low 2 from a table (formatting all 16 each time
 * was 4x the cost).
 */
import { randomBytes } from 'node:crypto';

const LOW_HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export class TraceIds {
  readonly #prefix = randomBytes(8).toString('hex');
  #counter = 0;
  #high = -1;
  #highHex = '';

  next(): string {
    const n = ++this.#counter;
    const high = Math.floor(n / 256);
    if (high !== this.#high) {
      this.#high = high;
      this.#highHex = high.toString(16).padStart(14, '0');
    }
    const id = this.#highHex + LOW_HEX[n % 256]!;
    return `00-${this.#prefix}${id}-${id}-01`;
  }
}

/**
 * The process's one source: ids unique across every session and bus in the process is what a
 * trace id needs, so this one counter is the process's on purpose (not a per-bus state leak).
 */
const processTraces = new TraceIds();
export const newTraceparent = (): string => processTraces.next();
