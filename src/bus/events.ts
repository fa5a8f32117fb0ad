/**
 * What the bus tells its observers (connections, protocol errors, denials, slow consumers), and the
 * counters its statistics report. An observer that throws never breaks the bus.
 */
import type { BusEvent } from './api.js';
import type { Endpoint } from './endpoint.js';
import type { Rights } from './rights.js';

export class BusEvents {
  readonly #listeners = new Set<(e: BusEvent) => void>();
  protocolErrors = 0;
  denied = 0;
  slowConsumers = 0;

  on(fn: (e: BusEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  emit(e: BusEvent): void {
    for (const fn of this.#listeners) {
      try {
        fn(e);
      } catch {
        // observers never break the bus
      }
    }
  }

  deny(ep: Endpoint, action: keyof Rights | 'hello', subject: string): void {
    this.denied++;
    this.emit({ type: 'denied', peer: ep.name, action, subject });
  }

  protocolError(peer: string, detail: string): void {
    this.protocolErrors++;
    this.emit({ type: 'protocol-error', peer, detail });
  }
}
