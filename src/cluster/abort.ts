/**
 * The cancel switch of one call served for another node. Node's AbortController costs more than
 * the rest of serving a small call (creating its AbortSignal showed as the largest part of the
 * serving side's CPU time in `npm run bench -- cluster`), and almost every call ends without it
 * being used. The bus only checks `aborted` and adds and removes one `abort` listener on a
 * request's signal, so this is that much of an AbortSignal and no more.
 */
export class CallAbort {
  aborted = false;
  reason: unknown = undefined;
  onabort: null = null;
  #listeners: (() => void)[] = [];

  addEventListener(type: string, listener: () => void): void {
    if (type === 'abort' && !this.aborted) this.#listeners.push(listener);
  }

  removeEventListener(type: string, listener: () => void): void {
    if (type === 'abort') this.#listeners = this.#listeners.filter((l) => l !== listener);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  /** Aborts once: each listener runs once, as with `{ once: true }`. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const l of listeners) l();
  }

  /** What the bus's request options take. */
  get signal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}
