/**
 * A party on the bus: an in-process one (the kernel, a component, an extension) or a connection;
 * the routes it serves, the calls in flight to it, its subscriptions, its statistics.
 */
import type { Handler, PeerStats } from './api.js';
import type { Call } from './call.js';
import type { PeerConnection } from './connection.js';
import type { Sub } from './pubsub.js';
import type { Grants } from './rights.js';
import type { RpcSession } from './session.js';
import { CircuitBreaker, LatencyHistogram } from './stats.js';
import type { Identity } from './tokens.js';

/** A method served by an endpoint: exact, or a pattern. */
export interface Route {
  readonly method: string;
  readonly endpoint: Endpoint;
  readonly handler: Handler | undefined;
  /** Literal segments (more specific patterns win). */
  readonly weight: number;
  /** A reservation for a party not started yet (activation on first call); any real registration replaces it. */
  readonly lazy?: boolean;
}

/**
 * The calls in flight to one endpoint, oldest first, as a list linked through the calls
 * themselves: adding and removing one (on every call) are a few field writes, where a Set's
 * table is reallocated as it empties and refills.
 *
 * A call to an in-process handler is only counted when it starts (`enter`), and linked when the
 * deadline wheel files it (still pending past a tick, or at a flush): most are answered before,
 * and never write themselves into the endpoint (a long-lived object, so each such write went
 * through V8's write barrier). Whoever walks the list (`snapshot`) flushes the wheel first.
 */
export class CallList {
  #head: Call | undefined;
  #tail: Call | undefined;
  size = 0;
  /** Counts a call in flight (it is linked later, by `link`). */
  enter(call: Call): void {
    call.listed = true;
    this.size++;
  }
  /** Counts and links a call in flight. */
  add(call: Call): void {
    this.enter(call);
    this.link(call);
  }
  /** Links a counted call at the end of the list (at once for a forwarded call, when filed for an in-process one). */
  link(call: Call): void {
    if (!call.listed || this.#linked(call)) return;
    call.prev = this.#tail;
    call.next = undefined;
    if (this.#tail) this.#tail.next = call;
    else this.#head = call;
    this.#tail = call;
  }
  #linked(call: Call): boolean {
    return call.prev !== undefined || this.#head === call;
  }
  delete(call: Call): void {
    if (!call.listed) return;
    call.listed = false;
    if (this.#linked(call)) {
      if (call.prev) call.prev.next = call.next;
      else this.#head = call.next;
      if (call.next) call.next.prev = call.prev;
      else this.#tail = call.prev;
      call.prev = call.next = undefined;
    }
    if (--this.size === 0 && this.#idle) {
      const waiting = this.#idle;
      this.#idle = undefined;
      for (const resolve of waiting) resolve();
    }
  }
  #idle: (() => void)[] | undefined;
  /** Resolves once no call is in flight (at once when none is): a replaced peer finishes what it took. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idle ??= []).push(resolve));
  }
  /** A copy of the linked calls to iterate while failing them (which removes them): flush the wheel first. */
  snapshot(): Call[] {
    const calls: Call[] = [];
    for (let c = this.#head; c; c = c.next) calls.push(c);
    return calls;
  }
}

/** A peer of the bus: an in-process party (the kernel, a component, an extension) or a connection. */
export class Endpoint {
  state: PeerStats['state'] = 'open';
  session: RpcSession | undefined;
  connection: PeerConnection | undefined;
  /** The token identity it said hello with (remote peers). */
  identity: Identity | undefined;
  /** A successor with the same identity has taken its name; it keeps serving until it goes. */
  superseded = false;
  /** Calls in flight to it. */
  readonly calls = new CallList();
  readonly routes = new Set<Route>();
  readonly subscriptions = new Set<Sub>();
  readonly latency = new LatencyHistogram();
  readonly breaker = new CircuitBreaker();
  requests = 0;
  errors = 0;
  timeouts = 0;
  dropped = 0;
  pinging = false;
  paused = false;
  /** A socket connection bounded before hello (maxPendingHellos, helloTimeout): its timer until then. */
  helloTimer: NodeJS.Timeout | undefined = undefined;
  readonly readyWaiters: (() => void)[] = [];
  constructor(
    public name: string,
    public grants: Grants,
    readonly kind: 'local' | 'remote',
  ) {}
}
