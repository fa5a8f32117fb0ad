import type { MessagePort } from 'node:worker_threads';
import type { Decoded } from './framing.js';
import type { MessageTransport } from './transport.js';

/** Over a worker MessagePort: messages by structured clone, batched per tick as arrays. */
export class PortTransport implements MessageTransport {
  readonly #port: MessagePort;
  #queue: object[] = [];
  #flushing = false;
  #closed = false;
  onMessage: (decoded: Decoded) => void = () => {};
  onClose: (reason: string) => void = () => {};

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (batch: unknown) => {
      if (!Array.isArray(batch)) return this.onMessage({ kind: 'error', error: 'parse', detail: 'port message is not a batch' });
      for (const message of batch) {
        if (this.#closed) return;
        this.onMessage({ kind: 'message', message });
      }
    });
    port.on('close', () => this.#end('the port closed'));
    port.on('messageerror', (err: Error) => this.onMessage({ kind: 'error', error: 'parse', detail: `message could not be cloned: ${err.message}` }));
  }

  get bufferedBytes(): number {
    return 0;
  }

  send(message: object): void {
    if (this.#closed) return;
    this.#queue.push(message);
    if (!this.#flushing) {
      this.#flushing = true;
      process.nextTick(() => {
        this.#flushing = false;
        if (this.#closed || !this.#queue.length) return;
        const batch = this.#queue;
        this.#queue = [];
        try {
          this.#port.postMessage(batch);
        } catch (err) {
          // A value that cannot be cloned: answer what we can rather than lose the batch silently.
          for (const m of batch) {
            try {
              this.#port.postMessage([m]);
            } catch {
              const id = (m as { id?: unknown }).id;
              if (id !== undefined && 'result' in m) this.#port.postMessage([{ jsonrpc: '2.0', id, error: { code: -32603, message: `result could not be cloned: ${(err as Error).message}` } }]);
            }
          }
        }
      });
    }
  }

  pause(): void {}
  resume(): void {}

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#port.close();
    this.onClose('closed by this side');
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose(reason);
  }
}
