/**
 * A connected peer as its owner sees it (the socket server, or whoever spawned the process): its
 * name, its state, its readiness, its end.
 */
import type { PeerStats } from './api.js';
import type { Endpoint } from './endpoint.js';
import { PeerGoneError, TimeoutError } from './errors.js';

export class PeerConnection {
  constructor(
    readonly endpoint: Endpoint,
    /** Resolves with the reason when the connection ends. */
    readonly closed: Promise<string>,
    readonly close: (reason?: string) => void,
  ) {}
  get name(): string {
    return this.endpoint.name;
  }
  get state(): PeerStats['state'] {
    return this.endpoint.state;
  }
  /** Resolves when the peer sent `symphony.ready`; rejects if the connection ends first or `ms` passes. */
  ready(ms = 10_000): Promise<void> {
    const ep = this.endpoint;
    if (ep.state === 'ready') return Promise.resolve();
    if (ep.state === 'closed') return Promise.reject(new PeerGoneError(`'${ep.name}' closed before it was ready`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(`'${ep.name}' was not ready within ${ms}ms`)), ms);
      ep.readyWaiters.push(() => {
        clearTimeout(timer);
        if (ep.state === 'ready') resolve();
        else reject(new PeerGoneError(`'${ep.name}' closed before it was ready`));
      });
    });
  }
}
