import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

/** What one page may cost the kernel. */
export interface StreamLimits {
  /** Open event streams at most; one more gets 503 (the probes keep their connections). */
  maxClients: number;
  /** Bytes held for one page that does not read; past it, log batches are dropped (and counted). */
  maxQueuedBytes: number;
  /** A page whose socket takes nothing for this long while something waits for it is dropped. */
  stallMs: number;
}

export const DEFAULT_STREAM_LIMITS: Readonly<StreamLimits> = Object.freeze({ maxClients: 16, maxQueuedBytes: 256 * 1024, stallMs: 5000 });

interface Queued {
  /** Messages with a key stand for a state (the inventory, one melody run): a newer one replaces the queued one. */
  key: string | undefined;
  text: string;
}

/**
 * One page's Server-Sent Events stream. Messages go straight to the socket while it takes them;
 * once it pushes back (the page does not read), they wait in a queue bounded by bytes, where a
 * newer state replaces the older one and log batches past the bound are dropped and counted (the
 * page is told how many). A page that takes nothing for `stallMs` while its queue waits, or that
 * goes away mid-stream, is dropped and its queue freed: the kernel never grows for it.
 */
export class SseClient {
  readonly #res: ServerResponse;
  readonly #limits: StreamLimits;
  readonly #queue: Queued[] = [];
  #queuedBytes = 0;
  /** Log batches dropped since the page last heard of a gap. */
  #dropped = 0;
  /** When the socket last took everything (or the stream opened). */
  #drainedAt = performance.now();
  #closed = false;
  readonly #onClose: (client: SseClient, reason: string) => void;
  /** Bytes written to the socket so far. */
  sentBytes = 0;
  /** Log batches dropped over the stream's life. */
  droppedTotal = 0;

  constructor(res: ServerResponse, limits: StreamLimits, onClose: (client: SseClient, reason: string) => void) {
    this.#res = res;
    this.#limits = limits;
    this.#onClose = onClose;
    res.on('drain', () => this.#flush());
    res.on('close', () => this.close('the page went away'));
    res.on('error', () => this.close('the connection failed'));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes waiting for this page (the socket's own buffer included). */
  get queuedBytes(): number {
    return this.#queuedBytes + (this.#res.writableLength ?? 0);
  }

  /** Sends one event; `key` marks a state whose newer value replaces a queued older one. */
  send(type: string, data: unknown, key?: string): void {
    if (this.#closed) return;
    this.sendText(frame(type, data), key);
  }

  /** Sends a framed event (`frame()`), so one serialization serves every page. */
  sendText(text: string, key?: string): void {
    if (this.#closed) return;
    if (this.#queue.length === 0 && !this.#res.writableNeedDrain) {
      this.#write(text);
      return;
    }
    if (this.stalled()) return this.close(`it read nothing for ${this.#limits.stallMs}ms (a page that does not read is dropped)`);
    if (key !== undefined) {
      const i = this.#queue.findIndex((q) => q.key === key);
      if (i >= 0) {
        this.#queuedBytes -= this.#queue[i]!.text.length;
        this.#queue.splice(i, 1);
      }
    } else if (this.#queuedBytes + text.length > this.#limits.maxQueuedBytes) {
      // A log batch the page cannot take now: counted, and the page hears of the gap when it reads again.
      this.#dropped++;
      this.droppedTotal++;
      return;
    }
    this.#queue.push({ key, text });
    this.#queuedBytes += text.length;
    // States are few (one per key), but a page could hold many runs' states: the bound holds for them too.
    while (this.#queuedBytes > this.#limits.maxQueuedBytes * 2 && this.#queue.length > 1) {
      const old = this.#queue.shift()!;
      this.#queuedBytes -= old.text.length;
      this.#dropped++;
      this.droppedTotal++;
    }
  }

  /** True when something waits for the page and its socket has taken nothing for stallMs. */
  stalled(now = performance.now()): boolean {
    return (this.#queue.length > 0 || this.#res.writableNeedDrain) && now - this.#drainedAt > this.#limits.stallMs;
  }

  /** A comment line: keeps proxies and the idle timeout from closing a quiet stream. */
  ping(): void {
    if (this.#closed) return;
    if (this.stalled()) return this.close(`it read nothing for ${this.#limits.stallMs}ms (a page that does not read is dropped)`);
    if (this.#queue.length === 0 && !this.#res.writableNeedDrain) this.#write(': ping\n\n');
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    // destroy, not end: a page that does not read would keep an ended response's bytes queued.
    this.#res.destroy();
    this.#onClose(this, reason);
  }

  #write(text: string): void {
    this.sentBytes += text.length;
    if (this.#res.write(text)) this.#drainedAt = performance.now();
  }

  #flush(): void {
    this.#drainedAt = performance.now();
    if (this.#dropped > 0) {
      const gap = frame('gap', { dropped: this.#dropped });
      this.#dropped = 0;
      this.#queue.unshift({ key: undefined, text: gap });
      this.#queuedBytes += gap.length;
    }
    while (this.#queue.length && !this.#res.writableNeedDrain && !this.#closed) {
      const q = this.#queue.shift()!;
      this.#queuedBytes -= q.text.length;
      this.#write(q.text);
    }
  }
}

/** One Server-Sent Event: `event: TYPE` and its JSON on one `data:` line (JSON has no raw newline). */
export function frame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
