/**
 * Lazy activation and holds: methods reserved for a party not running yet (the first call starts
 * it and waits), and a supervised party's methods held while it restarts (a call waits, within its
 * own deadline, for the next peer of that name instead of failing -32601).
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import type { Handler } from './api.js';
import { Call, type LocalHandlerContext } from './call.js';
import type { BusCore } from './core.js';
import type { Route } from './endpoint.js';
import { BusError, MethodNotFoundError, PeerGoneError, RequestCancelledError } from './errors.js';
import { assertPattern, isPattern } from './subjects.js';

interface HeldGap {
  settle(error?: Error): void;
  reservation: { dispose(): void };
}

export class Activation {
  /** Supervised peers whose methods are held while they restart (hold()); the gap, if one is open. */
  readonly #holds = new Map<string, HeldGap | null>();
  readonly #core: BusCore;
  constructor(core: BusCore) {
    this.#core = core;
  }

  /**
   * Reserves methods for a party that is not running yet (activation on first call). The first call
   * to any of them runs `activate` once and waits for it (a failure or a deadline is the caller's
   * error, naming the party); then every waiting call goes to whoever serves the method by then,
   * through a newer reservation if one took the method over. The party's own registration of a
   * method replaces its reservation.
   */
  reserve(methods: readonly string[], activate: () => Promise<void>): { dispose(): void } {
    const core = this.#core;
    const ep = core.self;
    let activation: Promise<void> | undefined;
    const routes: Route[] = [];
    for (const method of methods) {
      if (isPattern(method)) assertPattern(method, 'method');
      const handler: Handler = (params, ctx) => {
        const call = (ctx as LocalHandlerContext).call;
        activation ??= activate().finally(() => (activation = undefined));
        return activation.then(
          () =>
            new Promise((resolve, reject) => {
              // Cancelled or timed out while it waited: it is not delivered late (it would run
              // on the new instance, after its caller gave up).
              if (call.settled) return reject(new RequestCancelledError(`'${call.method}' is over`, { method: call.method }));
              const route = core.routes.find(call.method);
              if (!route || (route.lazy && routes.includes(route))) {
                return reject(new MethodNotFoundError(call.method));
              }
              if (call.notification) {
                core.calls.notify(call.from, call.method, params);
                return resolve(undefined);
              }
              // A newer reservation took the method over (the party restarted and waits for its
              // first call again): the call goes on through it, with its own deadline.
              if (route.lazy) return resolve(route.handler!(params, ctx));
              const admitted = core.calls.admit(call.from, call.method);
              if (admitted instanceof BusError) return reject(admitted);
              const forwarded = new Call(core.wheel, call.from, admitted.endpoint, call.method, performance.now(), call.deadline, call.traceparent);
              forwarded.resolve = resolve;
              forwarded.reject = reject;
              core.calls.start(forwarded, admitted, params);
              ctx.signal.addEventListener('abort', () => forwarded.cancel(`'${call.method}' was cancelled`), { once: true });
            }),
        );
      };
      routes.push(core.routes.add(ep, method, handler, true));
    }
    return { dispose: () => routes.forEach((r) => core.routes.remove(r)) };
  }

  /**
   * Holds `name`'s methods while its supervisor restarts it: when the peer of that name goes away
   * after it was ready (not replaced by a successor), its methods stay reserved, and a call to one
   * of them waits, within its own deadline, for the next peer of that name to be ready (or for
   * `resume()`, when the party comes back another way, e.g. reserved for activation on first call),
   * instead of failing with -32601 as if nobody served it. `release(error)` ends the hold: calls
   * still waiting fail with `error` (a -32004 naming the peer by default). Holding a held name
   * returns the same hold.
   */
  hold(name: string): { resume(): void; release(error?: Error): void } {
    if (!this.#holds.has(name)) this.#holds.set(name, null);
    return {
      resume: () => this.#closeGap(name),
      release: (error) => {
        if (!this.#holds.has(name)) return;
        this.#closeGap(name, error ?? new PeerGoneError(`'${name}' is gone and is not coming back`, { peer: name }));
        this.#holds.delete(name);
      },
    };
  }

  /** Held, and no gap open: a peer of that name that goes now leaves its methods reserved. */
  holding(name: string): boolean {
    return this.#holds.get(name) === null;
  }

  /** The peer of that name is back (ready): the calls held for it go on. */
  back(name: string): void {
    if (this.#holds.get(name)) this.#closeGap(name);
  }

  /** The held peer went: its methods stay reserved until it is back. */
  openGap(name: string, methods: string[]): void {
    if (this.#core.closed || methods.length === 0 || this.#holds.get(name) !== null) return;
    let settle!: (error?: Error) => void;
    const back = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
    back.catch(() => {}); // nobody may be waiting
    try {
      this.#holds.set(name, { settle, reservation: this.reserve(methods, () => back) });
    } catch {
      // Not expected (these were the dropped peer's own routes, just removed), but a drop runs in
      // close paths and must not throw: without a gap, calls fail -32601 as they would unheld.
    }
  }

  /** The bus closes: every held call fails with a -32004 naming its peer. */
  releaseAll(reason: string): void {
    for (const name of [...this.#holds.keys()]) this.#closeGap(name, new PeerGoneError(`'${name}' was restarting when ${reason}`, { peer: name }));
    this.#holds.clear();
  }

  #closeGap(name: string, error?: Error): void {
    const gap = this.#holds.get(name);
    if (!gap) return;
    this.#holds.set(name, null);
    gap.reservation.dispose(); // only the routes still its own: the successor's registrations replaced the others
    gap.settle(error);
  }
}
