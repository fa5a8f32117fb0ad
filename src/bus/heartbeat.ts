/**
 * Heartbeats: one timer for every connection; the silent ones are pinged, those that stopped
 * answering or reading are dropped, and one that never said hello is closed.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import type { BusCore } from './core.js';
import type { Endpoint } from './endpoint.js';
import { TimeoutError } from './errors.js';

export class Heartbeats {
  #timer: NodeJS.Timeout | undefined;
  readonly #core: BusCore;
  readonly #slowConsumer: (ep: Endpoint, detail: string) => void;
  constructor(core: BusCore, slowConsumer: (ep: Endpoint, detail: string) => void) {
    this.#core = core;
    this.#slowConsumer = slowConsumer;
  }

  start(): void {
    const { heartbeatMs, maxOutputBytes } = this.#core.limits;
    if (this.#timer || heartbeatMs <= 0) return;
    this.#timer = setInterval(() => {
      const now = performance.now();
      for (const ep of this.#core.connections) {
        const session = ep.session!;
        const t = session.transport;
        // Byte streams bound their output as they write (limitOutput); here, one held back that did
        // not go down over a whole check period. Other transports: the old size check.
        if (t.outputStalled ? t.outputStalled() : t.bufferedBytes > maxOutputBytes) {
          this.#slowConsumer(ep, `disconnected: ${t.bufferedBytes} bytes unread, not reading`);
          continue;
        }
        if (ep.state === 'hello' && now - session.lastSeen > heartbeatMs * 2) {
          session.close('no hello in time');
          continue;
        }
        if (ep.pinging || ep.state === 'hello' || now - session.lastSeen < heartbeatMs) continue;
        ep.pinging = true;
        session.request('symphony.ping', undefined, { timeoutMs: heartbeatMs }).then(
          () => (ep.pinging = false),
          (err: unknown) => {
            ep.pinging = false;
            if (err instanceof TimeoutError && performance.now() - session.lastSeen > heartbeatMs * 2) session.close('heartbeat lost');
          },
        );
      }
    }, Math.max(10, heartbeatMs / 2)).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
