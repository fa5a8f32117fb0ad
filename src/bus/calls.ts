/**
 * Calls: admitting a request (rights, a route, the callee's circuit), starting it (an in-process
 * handler, or forwarded to the serving peer), notifications, and serving a method.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import { toMs } from '../util/duration.js';
import type { Handler, Registration, RequestOptions } from './api.js';
import { Call, LocalHandlerContext } from './call.js';
import type { BusCore } from './core.js';
import type { Endpoint, Route } from './endpoint.js';
import { BusError, ErrorCode, ForbiddenError, MethodNotFoundError, OverloadedError, PeerGoneError, toBusError } from './errors.js';
import type { Grants } from './rights.js';
import type { IncomingRequest } from './session.js';
import { assertPattern, isPattern } from './subjects.js';

export class Calls {
  readonly #core: BusCore;
  constructor(core: BusCore) {
    this.#core = core;
  }

  /**
   * The resolving functions of the promise being made, caught by one executor made once: a
   * request makes no closure of its own for its promise.
   */
  #resolve: ((value: unknown) => void) | undefined = undefined;
  #reject: ((error: unknown) => void) | undefined = undefined;
  readonly #capture = (resolve: (value: unknown) => void, reject: (error: unknown) => void): void => {
    this.#resolve = resolve;
    this.#reject = reject;
  };

  /** A request from an in-process party: its promise settles with the answer or a typed error. */
  request(from: Endpoint, method: string, params: unknown, options?: RequestOptions): Promise<unknown> {
    // The common call gives no options: nothing to parse, no principal, no signal.
    if (options === undefined) {
      const route = this.admit(from, method);
      return route instanceof BusError ? Promise.reject(route) : this.#begin(from, route, method, params, this.#core.limits.defaultTimeoutMs, undefined);
    }
    let timeoutMs: number;
    try {
      timeoutMs = options.timeout === undefined ? this.#core.limits.defaultTimeoutMs : typeof options.timeout === 'number' ? options.timeout : toMs(options.timeout, 'timeout');
    } catch (err) {
      return Promise.reject(err);
    }
    const principal = options.onBehalfOf;
    const route = principal === undefined || principal === from.name ? this.admit(from, method) : this.#admitFor(from, principal, method);
    if (route instanceof BusError) return Promise.reject(route);
    return this.#begin(from, route, method, params, timeoutMs, options);
  }

  /** Makes an admitted call and starts it (a start that throws rejects it), then ties it to the caller's signal. */
  #begin(from: Endpoint, route: Route, method: string, params: unknown, timeoutMs: number, options: RequestOptions | undefined): Promise<unknown> {
    const promise = new Promise(this.#capture);
    const call = Call.unclocked(this.#core.wheel, from, route.endpoint, method, timeoutMs, options?.traceparent);
    const principal = options?.onBehalfOf;
    if (principal !== undefined && principal !== from.name) call.principal = principal;
    call.resolve = this.#resolve;
    call.reject = this.#reject;
    try {
      this.start(call, route, params);
    } catch (err) {
      call.reject!(err as BusError);
      return promise;
    }
    const signal = options?.signal;
    if (signal && !call.settled) {
      if (signal.aborted) {
        call.cancel(`'${method}' was cancelled`);
        return promise;
      }
      call.signal = signal;
      call.onAbort = () => call.cancel(`'${method}' was cancelled`);
      signal.addEventListener('abort', call.onAbort, { once: true });
    }
    return promise;
  }

  /** Requests refused per peer for its memory budget (for the log). */
  readonly #overBudget = new WeakMap<Endpoint, number>();

  /** A request from a peer (past hello, not a protocol method): within its memory budget, its deadline capped by the bus's. */
  fromPeer(ep: Endpoint, req: IncomingRequest): void {
    const session = ep.session!;
    const limits = this.#core.limits;
    // Its budget: what the kernel holds for it (this request included) must stay within maxPeerBytes.
    const held = session.incomingBytes + session.transport.bufferedBytes;
    if (held > limits.maxPeerBytes) {
      // Logged at the first refusal and every 1000th: a flood's refusals must not flood the log.
      const refused = (this.#overBudget.get(ep) ?? 0) + 1;
      this.#overBudget.set(ep, refused);
      if (refused === 1 || refused % 1000 === 0) this.#core.events.emit({ type: 'slow-consumer', peer: ep.name, detail: `over its memory budget (the kernel holds ${held} bytes for it; maxPeerBytes ${limits.maxPeerBytes}): its new requests are refused with -32005 (${refused} so far)` });
      return session.respondError(req, new OverloadedError(`'${ep.name}' is over its memory budget: the kernel holds ${held} bytes for it (its waiting requests and unsent answers; maxPeerBytes ${limits.maxPeerBytes}): wait for answers before sending more`, { method: req.method, peer: ep.name }));
    }
    const now = performance.now();
    const deadline = now + Math.min(limits.defaultTimeoutMs, req.deadline !== undefined ? req.deadline - Date.now() : Infinity);
    const route = this.admit(ep, req.method);
    if (route instanceof BusError) return session.respondError(req, route);
    const call = new Call(this.#core.wheel, ep, route.endpoint, req.method, now, deadline, req.traceparent);
    call.origin = req;
    this.start(call, route, req.params);
    req.onCancel = call;
  }

  /**
   * The route a call from `from` to `method` takes, or why it is refused at once: not in its
   * rights (-32002), nobody serves it (-32601, immediately, never a timeout), circuit open (-32005).
   */
  admit(from: Endpoint, method: string): Route | BusError {
    if (!from.grants.all && !from.grants.allows('calls', method)) {
      this.#core.events.deny(from, 'calls', method);
      return new ForbiddenError(`'${from.name}' may not call '${method}' (not in its manifest's calls)`, { method, peer: from.name });
    }
    const route = this.#core.routes.find(method);
    if (route === undefined) return new MethodNotFoundError(method);
    const target = route.endpoint;
    if (target.kind === 'remote' && !target.breaker.allow()) {
      return new OverloadedError(`'${target.name}' is failing (circuit open): '${method}' refused`, { method, peer: target.name });
    }
    return route;
  }

  /**
   * A deputy's call for `principal`: refused unless the deputy is one of the kernel's own parts and
   * the principal's own rights allow the method (an identity the bus does not know has none).
   */
  #admitFor(from: Endpoint, principal: string, method: string): Route | BusError {
    const events = this.#core.events;
    if (!from.grants.all) {
      events.deny(from, 'calls', method);
      return new ForbiddenError(`'${from.name}' may not call on behalf of '${principal}': only the kernel's own parts act for another identity`, { method, peer: from.name });
    }
    const grants = this.#grantsOf(principal);
    if (!grants || (!grants.all && !grants.allows('calls', method))) {
      events.denied++;
      events.emit({ type: 'denied', peer: principal, action: 'calls', subject: method });
      const why = grants ? 'not in its calls' : 'an identity the bus does not know has no rights';
      return new ForbiddenError(`'${principal}' may not call '${method}' (asked through '${from.name}': ${why})`, { method, peer: principal });
    }
    return this.admit(from, method);
  }

  /** The rights of an identity by name: a connected or in-process endpoint, else a token the kernel issued. */
  #grantsOf(name: string): Grants | undefined {
    return this.#core.endpoints.get(name)?.grants ?? this.#core.tokens.grantsOf(name);
  }

  /** Starts an admitted call: runs the in-process handler, or forwards it to the serving peer. */
  start(call: Call, route: Route, params: unknown): void {
    const target = call.target;
    const n = ++target.requests;
    // The latency sample: every call to a target among its first 64, then one in 16.
    if (!call.timed && (n <= 64 || (n & 15) === 1)) call.sample();
    if (route.handler) {
      // Counted now, linked into the target's list only if the wheel files it (see CallList).
      target.calls.enter(call);
      this.#core.wheel.add(call);
      let result: unknown;
      try {
        result = route.handler(params, new LocalHandlerContext(call));
      } catch (err) {
        this.#handlerFailed(call, err);
        return;
      }
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
        (result as PromiseLike<unknown>).then(
          (v) => call.ok(v),
          (err: unknown) => this.#handlerFailed(call, err),
        );
      } else {
        call.ok(result);
      }
      return;
    }
    // A peer serves it: its session carries the deadline and the cancellation, and tells the call.
    target.calls.add(call);
    call.downstream = target.session!.forward(call, params);
  }

  #handlerFailed(call: Call, err: unknown): void {
    const e = toBusError(err, call.method);
    if (e.code === ErrorCode.InternalError) this.#core.events.emit({ type: 'handler-error', peer: call.target.name, method: call.method, error: e.message });
    call.fail(e);
  }

  notify(from: Endpoint, method: string, params: unknown): void {
    const events = this.#core.events;
    if (!from.grants.all && !from.grants.allows('calls', method)) return events.deny(from, 'calls', method);
    const route = this.#core.routes.find(method);
    if (!route) return;
    if (route.handler) {
      const call = Call.unclocked(this.#core.wheel, from, route.endpoint, method, this.#core.limits.defaultTimeoutMs, undefined);
      call.notification = true;
      try {
        const r = route.handler(params, new LocalHandlerContext(call));
        if (r && typeof (r as PromiseLike<unknown>).then === 'function') (r as PromiseLike<unknown>).then(undefined, (err: unknown) => events.emit({ type: 'handler-error', peer: route.endpoint.name, method, error: String(err) }));
      } catch (err) {
        events.emit({ type: 'handler-error', peer: route.endpoint.name, method, error: err instanceof Error ? err.message : String(err) });
      }
    } else {
      route.endpoint.session!.notify(method, params);
    }
  }

  /** `ep` serves `method` (no handler: a peer answers it over its session). */
  serve(ep: Endpoint, method: string, handler: Handler | undefined): Registration {
    if (ep.state === 'closed') throw new PeerGoneError(`'${ep.name}' is closed: it cannot serve '${method}'`, { method, peer: ep.name });
    if (isPattern(method)) assertPattern(method, 'method');
    else if (typeof method !== 'string' || !method) throw new TypeError('method must be a non-empty string');
    if (method.startsWith('symphony.') || method.startsWith('$/')) throw new ForbiddenError(`'${method}' is reserved for the protocol`, { method });
    if (!ep.grants.all && !ep.grants.allows('provides', method)) {
      this.#core.events.deny(ep, 'provides', method);
      throw new ForbiddenError(`'${ep.name}' may not serve '${method}' (not in its manifest's provides)`, { method, peer: ep.name });
    }
    const routes = this.#core.routes;
    const route = routes.add(ep, method, handler, false);
    return { ready: Promise.resolve(), unregister: () => routes.remove(route) };
  }
}
