import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import { toMs, type Duration } from '../util/duration.js';
import { DeadlineWheel, type DeadlineEntry } from './deadlines.js';
import {
  BusError,
  ErrorCode,
  ForbiddenError,
  InvalidParamsError,
  MethodNotFoundError,
  OverloadedError,
  PeerGoneError,
  RequestCancelledError,
  TimeoutError,
  toBusError,
  UnauthorizedError,
} from './errors.js';
import { IncomingRequest, newTraceparent, RpcSession, type CancelListener, type ForwardedRequest, type OutgoingRequest } from './session.js';
import { CircuitBreaker, LatencyHistogram } from './stats.js';
import { assertPattern, assertSubject, isPattern, matches, SubjectIndex } from './subjects.js';
import type { MessageTransport } from './transport.js';
import { listenUnix, type ListenOptions, type SocketServer } from './server.js';
import { spawnPeer, spawnWorker, type PeerProcess, type SpawnPeerOptions } from './spawn.js';

/** What a handler receives besides the params. */
export interface HandlerContext {
  readonly method: string;
  /** The caller's identity (from its token, never from the name it claims). */
  readonly peer: string;
  /** Aborts when the caller cancels, the deadline passes, or the caller goes away. */
  readonly signal: AbortSignal;
  /** True once the call is over (answered, cancelled, past its deadline, its caller gone): a cheap check, no AbortSignal made. */
  readonly done: boolean;
  /** Epoch milliseconds by which the caller wants the answer. */
  readonly deadline: number;
  remainingMs(): number;
  readonly traceparent: string;
}

export type Handler = (params: any, ctx: HandlerContext) => unknown;
export type EventListener = (data: any, event: { topic: string; from: string }) => unknown;

export interface RequestOptions {
  /** Deadline for the answer (default: the bus's `defaultTimeout`, 30s). */
  timeout?: Duration;
  signal?: AbortSignal;
  /** W3C trace context to continue (one is created otherwise). */
  traceparent?: string;
  /**
   * The identity this call is made for (a handler's `ctx.peer`): a deputy such as the Conductor
   * or the Pool Manager calls with its caller's rights, not its own. Admitted only when both may
   * call the method; the served handler sees this identity as its caller. Only the kernel's own
   * parts (full rights) may name another identity.
   */
  onBehalfOf?: string;
}

export type SlowConsumerPolicy = 'drop-oldest' | 'drop-newest' | 'unsubscribe';

export interface SubscribeOptions {
  /** Events queued for this subscriber at most (default 1024). */
  queue?: number;
  /** What happens to the next event when the queue is full (default drop-oldest). */
  policy?: SlowConsumerPolicy;
}

export interface Registration {
  /** Resolves once the method is served (at once in process; after the round trip for a client). */
  readonly ready: Promise<void>;
  dispose(): void;
}

export interface Subscription {
  readonly pattern: string;
  readonly ready: Promise<void>;
  /** Events dropped for this subscriber by its slow-consumer policy. */
  readonly dropped: number;
  unsubscribe(): void;
}

/** The bus API, the same in process, in a worker, in a child process and over a socket. */
export interface BusApi {
  readonly name: string;
  request<T = unknown>(method: string, params?: unknown, options?: RequestOptions): Promise<T>;
  handle(method: string, handler: Handler): Registration;
  notify(method: string, params?: unknown): void;
  publish(topic: string, data?: unknown): void;
  subscribe(pattern: string, listener: EventListener, options?: SubscribeOptions): Subscription;
  stats(): BusStats;
}

/** What an identity may do: patterns of methods it serves and calls, topics it publishes and subscribes to. */
export interface Rights {
  provides: readonly string[];
  calls: readonly string[];
  publishes: readonly string[];
  subscribes: readonly string[];
}
export const ALL_RIGHTS: Rights = Object.freeze({ provides: ['>'], calls: ['>'], publishes: ['>'], subscribes: ['>'] });

export interface PeerStats {
  name: string;
  kind: 'local' | 'remote';
  state: 'hello' | 'open' | 'ready' | 'closed';
  /** Calls to this peer not yet answered. */
  inflight: number;
  /** Calls from this peer being served. */
  serving: number;
  requests: number;
  errors: number;
  timeouts: number;
  latency: ReturnType<LatencyHistogram['summary']>;
  breaker: 'closed' | 'open' | 'half-open';
  queuedBytes: number;
  /** What the kernel holds on its behalf: its requests not answered yet (their frames) and its unsent output (maxPeerBytes bounds it). */
  heldBytes: number;
  droppedEvents: number;
}

export interface BusStats {
  peers: PeerStats[];
  methods: number;
  subscriptions: number;
  inflight: number;
  droppedEvents: number;
  protocolErrors: number;
  deniedCalls: number;
  /** Peers disconnected because they did not read their output (maxOutputBytes). */
  slowConsumers: number;
}

export type BusEvent =
  | { type: 'peer'; peer: string; state: 'connected' | 'ready' | 'gone'; reason?: string }
  | { type: 'protocol-error'; peer: string; detail: string }
  | { type: 'handler-error'; peer: string; method: string; error: string }
  | { type: 'denied'; peer: string; action: keyof Rights | 'hello'; subject: string }
  | { type: 'slow-consumer'; peer: string; detail: string };

export interface BusOptions {
  /** Default deadline of a request (30s). */
  defaultTimeout?: Duration;
  /** Largest frame accepted (1 MiB). */
  maxFrameBytes?: number;
  /** Requests a peer may have outstanding before the bus stops reading from it (1024). */
  maxInFlight?: number;
  /**
   * Unsent output a peer may accumulate (16 MiB). Past half of it the bus stops reading the peer
   * until its output drains; past all of it, or held back with nothing drained over a heartbeat
   * check, the peer is disconnected as a slow consumer.
   */
  maxOutputBytes?: number;
  /** Silence after which a peer is pinged; two missed pings and it is gone (5s). */
  heartbeat?: Duration;
  /** The name the bus itself uses as a caller (`kernel`). */
  name?: string;
  /**
   * Memory the kernel may hold on a peer's behalf: its requests waiting for their answers (their
   * frames) and its unsent output (64 MiB). Past it the peer's new requests get -32005 at once.
   */
  maxPeerBytes?: number;
  /** Socket connections that have not said hello yet, at most (64): one more closes the oldest. */
  maxPendingHellos?: number;
  /** Time a socket connection has to say hello (twice the heartbeat: 10s). */
  helloTimeout?: Duration;
}

const EVENT_HIGH_WATER = 1024 * 1024;

/**
 * Rights with matching cached per subject, one cache per kind of right: keyed by the subject
 * itself (a method name, whose hash the string keeps), a call's check is one lookup, not a new
 * "kind subject" string to build and hash (about 200 ns on every call of an endpoint with rights).
 */
class Grants {
  readonly #cache: Record<keyof Rights, Map<string, boolean>> = { provides: new Map(), calls: new Map(), publishes: new Map(), subscribes: new Map() };
  constructor(readonly rights: Rights) {}
  readonly all = false as boolean;
  allows(kind: keyof Rights, subject: string): boolean {
    const cache = kind === 'calls' ? this.#cache.calls : this.#cache[kind];
    let ok = cache.get(subject);
    if (ok === undefined) {
      ok = this.rights[kind].some((p) => matches(p, subject));
      if (cache.size > 512) cache.clear();
      cache.set(subject, ok);
    }
    return ok;
  }
}
const ALL: Grants = Object.assign(new Grants(ALL_RIGHTS), { all: true });
const grantsFor = (rights: Rights | undefined) => (!rights || rights === ALL_RIGHTS ? ALL : new Grants(rights));

interface Route {
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
 */
class CallList {
  #head: Call | undefined;
  #tail: Call | undefined;
  size = 0;
  add(call: Call): void {
    call.listed = true;
    call.prev = this.#tail;
    call.next = undefined;
    if (this.#tail) this.#tail.next = call;
    else this.#head = call;
    this.#tail = call;
    this.size++;
  }
  delete(call: Call): void {
    if (!call.listed) return;
    call.listed = false;
    if (call.prev) call.prev.next = call.next;
    else this.#head = call.next;
    if (call.next) call.next.prev = call.prev;
    else this.#tail = call.prev;
    call.prev = call.next = undefined;
    this.size--;
  }
  /** A copy to iterate while failing calls (which removes them). */
  snapshot(): Call[] {
    const calls: Call[] = [];
    for (let c = this.#head; c; c = c.next) calls.push(c);
    return calls;
  }
}

/** A peer of the bus: an in-process party (the kernel, a component, an extension) or a connection. */
class Endpoint {
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

/**
 * One request in flight through the bus, from its caller to whoever serves it. The call itself
 * holds who waits for the answer (an in-process caller's promise, or a peer's request to answer on
 * its session) rather than a callback: no closure per call on this path.
 */
class Call implements DeadlineEntry, ForwardedRequest, CancelListener {
  wheelKey?: number;
  settled = false;
  /** Made by notifyAs: nobody waits for an answer, and a reservation delivers it as a notification. */
  notification = false;
  controller: AbortController | undefined = undefined;
  downstream: OutgoingRequest | undefined = undefined;
  /** An in-process caller (requestAs): its promise. */
  resolve: ((value: unknown) => void) | undefined = undefined;
  reject: ((error: BusError) => void) | undefined = undefined;
  /** A peer caller: its request, answered on its session. */
  origin: IncomingRequest | undefined = undefined;
  /** The caller's AbortSignal and the listener on it, removed once the call is over. */
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** Its place in the target's CallList. */
  prev: Call | undefined = undefined;
  next: Call | undefined = undefined;
  listed = false;
  #traceparent: string | undefined;
  constructor(
    readonly bus: Bus,
    readonly from: Endpoint,
    readonly target: Endpoint,
    readonly method: string,
    /** performance.now() when the call began (latency) and when it expires. */
    readonly started: number,
    readonly deadline: number,
    traceparent: string | undefined,
  ) {
    this.#traceparent = traceparent;
  }
  /** The caller's trace context, or a new one, made only when someone reads it (a peer, a handler). */
  get traceparent(): string {
    return (this.#traceparent ??= newTraceparent());
  }
  expire(): void {
    this.target.timeouts++;
    this.fail(new TimeoutError(`'${this.method}' (served by '${this.target.name}') did not answer within ${Math.round(this.deadline - this.started)}ms`, { method: this.method, peer: this.target.name }));
  }
  ok(value: unknown): void {
    if (this.settled) return;
    this.#settle();
    this.target.breaker.success();
    this.#answer(undefined, value);
  }
  fail(error: BusError): void {
    if (this.settled) return;
    this.#settle();
    this.target.errors++;
    if (error.code === ErrorCode.Timeout || error.code === ErrorCode.PeerGone) this.target.breaker.failure();
    this.controller?.abort(error);
    this.downstream?.cancel(error.message);
    this.#answer(error, undefined);
  }
  /** The caller cancelled, or went away. */
  cancel(message: string): void {
    this.fail(new RequestCancelledError(message, { method: this.method }));
  }
  /** The peer that sent it cancelled it, or went away (the call is its request's CancelListener). */
  requestCancelled(): void {
    this.cancel(`the caller '${this.from.name}' cancelled '${this.method}'`);
  }
  /** Whom the call is for, when a deputy makes it (RequestOptions.onBehalfOf). */
  principal: string | undefined = undefined;
  /** The caller's identity, sent along when a peer serves the call (`meta.peer`): whom it is for. */
  get peer(): string {
    return this.principal ?? this.from.name;
  }
  /** The serving peer answered (the call is its session's ResponseSink). */
  answered(result: unknown): void {
    this.ok(result);
  }
  /** The request to the serving peer failed: its error, no answer in time, the peer gone. */
  failed(error: BusError): void {
    if (error instanceof TimeoutError) this.target.timeouts++;
    this.fail(error);
  }
  #settle(): void {
    this.settled = true;
    this.bus.wheel.delete(this);
    this.target.calls.delete(this);
    this.target.latency.record(performance.now() - this.started);
  }
  /**
   * A call that lives as long as the class, so the shape of calls survives a full GC. V8 holds an
   * object shape (hidden class) only weakly once no object has it: a full GC while no call was in
   * flight collected the calls' shapes and threw away every function optimized for them (`node
   * --trace-deopt`: "weak objects"), and the next thousands of calls ran unoptimized (the first
   * 20,000 in-process calls after a GC took 4-8 µs each instead of under 1 µs). Its fields hold
   * the kinds of values real calls hold (fractional times), or it would get a shape of its own.
   */
  static readonly shapeKeeper = new Call(undefined as never, undefined as never, undefined as never, '', performance.now() + 0.5, performance.now() + 0.5, undefined);
  #answer(error: BusError | undefined, value: unknown): void {
    if (this.onAbort) this.signal!.removeEventListener('abort', this.onAbort);
    const origin = this.origin;
    if (origin) {
      const session = this.from.session!;
      if (error) session.respondError(origin, error);
      else session.respond(origin, value);
    } else if (error) {
      this.reject?.(error);
    } else {
      this.resolve?.(value);
    }
  }
}

/** `ctx` of an in-process handler; its AbortSignal is made only if the handler asks for it. */
class LocalHandlerContext implements HandlerContext {
  constructor(readonly call: Call) {}
  get method(): string {
    return this.call.method;
  }
  get peer(): string {
    return this.call.peer;
  }
  get done(): boolean {
    return this.call.settled;
  }
  get signal(): AbortSignal {
    const call = this.call;
    if (!call.controller) {
      call.controller = new AbortController();
      if (call.settled) call.controller.abort(new RequestCancelledError('the request is over'));
    }
    return call.controller.signal;
  }
  get deadline(): number {
    return Date.now() + (this.call.deadline - performance.now());
  }
  remainingMs(): number {
    return Math.max(0, this.call.deadline - performance.now());
  }
  get traceparent(): string {
    return this.call.traceparent;
  }
}

class Sub {
  readonly queue: [topic: string, data: unknown, from: string][] = [];
  dropped = 0;
  draining = false;
  closed = false;
  constructor(
    readonly pattern: string,
    readonly endpoint: Endpoint,
    readonly listener: EventListener | undefined,
    readonly max: number,
    readonly policy: SlowConsumerPolicy,
  ) {}
}

interface Identity {
  name: string;
  grants: Grants;
  /** The operator's token: full rights, any number of connections. */
  operator: boolean;
  secret: Buffer;
}

interface HeldGap {
  settle(error?: Error): void;
  reservation: { dispose(): void };
}

/**
 * The IPC bus: named endpoints (in-process parties and connected peers), exact and pattern routes,
 * request/reply with deadlines and cancellation, notifications, and pub/sub with wildcards and
 * bounded per-subscriber queues. The bus itself is the kernel's endpoint (`request`, `handle`, …).
 */
export class Bus implements BusApi {
  readonly wheel = new DeadlineWheel();
  readonly name: string;
  readonly #exact = new Map<string, Route>();
  readonly #patterns = new SubjectIndex<Route>();
  readonly #patternRoutes = new Map<string, Route>();
  readonly #subs = new SubjectIndex<Sub>();
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #connections = new Set<Endpoint>();
  /** Socket connections not past hello yet, oldest first. */
  readonly #pendingHellos = new Set<Endpoint>();
  readonly #tokens = new Map<string, Identity>();
  readonly #listeners = new Set<(e: BusEvent) => void>();
  readonly #awaiting = new Map<string, ((c: PeerConnection) => void)[]>();
  /** Supervised peers whose methods are held while they restart (hold()); the gap, if one is open. */
  readonly #holds = new Map<string, HeldGap | null>();
  readonly #self: Endpoint;
  readonly #defaultTimeoutMs: number;
  readonly #heartbeatMs: number;
  readonly maxFrameBytes: number;
  readonly maxInFlight: number;
  readonly maxOutputBytes: number;
  readonly maxPeerBytes: number;
  readonly maxPendingHellos: number;
  readonly #helloTimeoutMs: number;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #server: SocketServer | undefined;
  #protocolErrors = 0;
  #denied = 0;
  #slowConsumers = 0;
  #closed = false;

  constructor(options: BusOptions = {}) {
    this.name = options.name ?? 'kernel';
    this.#defaultTimeoutMs = options.defaultTimeout === undefined ? 30_000 : toMs(options.defaultTimeout, 'defaultTimeout');
    this.#heartbeatMs = options.heartbeat === undefined ? 5_000 : toMs(options.heartbeat, 'heartbeat');
    this.maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024;
    this.maxInFlight = options.maxInFlight ?? 1024;
    this.maxOutputBytes = options.maxOutputBytes ?? 16 * 1024 * 1024;
    this.maxPeerBytes = options.maxPeerBytes ?? 64 * 1024 * 1024;
    this.maxPendingHellos = options.maxPendingHellos ?? 64;
    // Twice the heartbeat by default (10 s), as a connection was always given.
    this.#helloTimeoutMs = options.helloTimeout === undefined ? Math.max(2 * this.#heartbeatMs, 0) || 10_000 : toMs(options.helloTimeout, 'helloTimeout');
    this.#self = new Endpoint(this.name, ALL, 'local');
    this.#endpoints.set(this.name, this.#self);
  }

  // ---- the kernel's own API ----------------------------------------------------------------------

  request<T = unknown>(method: string, params?: unknown, options?: RequestOptions): Promise<T> {
    return this.requestAs(this.#self, method, params, options) as Promise<T>;
  }
  handle(method: string, handler: Handler): Registration {
    return this.handleAs(this.#self, method, handler);
  }
  notify(method: string, params?: unknown): void {
    this.notifyAs(this.#self, method, params);
  }
  publish(topic: string, data?: unknown): void {
    this.publishAs(this.#self, topic, data);
  }
  subscribe(pattern: string, listener: EventListener, options?: SubscribeOptions): Subscription {
    return this.subscribeAs(this.#self, pattern, listener, options);
  }

  /** An in-process endpoint with its own identity and rights (a component, a trusted extension). */
  endpoint(name: string, rights: Rights = ALL_RIGHTS, options: { supersede?: boolean } = {}): BusApi & { close(reason?: string): void } {
    const current = this.#endpoints.get(name);
    if (current && !options.supersede) throw new BusError(ErrorCode.InvalidRequest, `an endpoint named '${name}' already exists`);
    if (current) current.superseded = true;
    const ep = new Endpoint(name, grantsFor(rights), 'local');
    this.#endpoints.set(name, ep);
    this.#emit({ type: 'peer', peer: name, state: 'connected' });
    return {
      name,
      request: (m, p, o) => this.requestAs(ep, m, p, o) as Promise<never>,
      handle: (m, h) => this.handleAs(ep, m, h),
      notify: (m, p) => this.notifyAs(ep, m, p),
      publish: (t, d) => this.publishAs(ep, t, d),
      subscribe: (p, l, o) => this.subscribeAs(ep, p, l, o),
      stats: () => this.stats(),
      close: (reason = 'closed') => this.#drop(ep, reason),
    };
  }

  /** Observes connections, protocol errors, denials and slow consumers. */
  onEvent(fn: (e: BusEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  // ---- tokens and connections ----------------------------------------------------------------------

  /**
   * A new secret for a peer the kernel starts: whoever says hello with it is `name`, with these
   * rights, whatever name it claims. One live connection per such identity.
   */
  issueToken(name: string, rights: Rights = ALL_RIGHTS, options: { operator?: boolean; token?: string } = {}): string {
    const token = options.token ?? randomBytes(32).toString('base64url');
    const secret = Buffer.from(token);
    this.#tokens.set(hash(token), { name, grants: grantsFor(rights), operator: options.operator ?? false, secret });
    return token;
  }

  revokeToken(token: string): void {
    this.#tokens.delete(hash(token));
  }

  /**
   * Serves a connection: the peer must say `symphony.hello` with a valid token first. Returns a
   * handle to wait for its readiness (`symphony.ready`) or to close it.
   */
  attach(transport: MessageTransport, options: { label?: string; boundedHello?: boolean } = {}): PeerConnection {
    const ep = new Endpoint(options.label ?? 'unauthenticated peer', ALL, 'remote');
    ep.state = 'hello';
    const session = new RpcSession(transport, { wheel: this.wheel, defaultTimeoutMs: this.#defaultTimeoutMs, peerName: ep.name });
    ep.session = session;
    this.#connections.add(ep);
    if (options.boundedHello) this.#boundHello(ep);
    session.onBatch = () => {
      if (ep.state !== 'hello') return true;
      this.#deny(ep, 'hello', 'a batch before hello');
      session.notify('symphony.error', new UnauthorizedError('a batch before symphony.hello: say hello with a token first, alone').toJSON());
      session.close('unauthorized: a batch before hello');
      return false;
    };
    const closed = new Promise<string>((resolve) => {
      session.onClose = (reason) => {
        this.#drop(ep, reason);
        resolve(reason);
      };
    });
    session.onRequest = (req) => this.#onPeerRequest(ep, req);
    session.onNotification = (method, params) => this.#onPeerNotification(ep, method, params);
    session.onProtocolError = (detail) => {
      this.#protocolErrors++;
      this.#emit({ type: 'protocol-error', peer: ep.name, detail });
    };
    // Checked by the transport as it writes, so one burst cannot queue more than about maxOutputBytes.
    transport.limitOutput?.(this.maxOutputBytes, (bytes) => this.#slowConsumer(ep, `disconnected: ${bytes} bytes unsent (maxOutputBytes ${this.maxOutputBytes})`));
    session.onInflight = (n) => {
      if (!ep.paused && n >= this.maxInFlight) {
        ep.paused = true;
        transport.pause();
      } else if (ep.paused && n <= this.maxInFlight >> 1) {
        ep.paused = false;
        transport.resume();
      }
    };
    this.#startHeartbeats();
    return (ep.connection = new PeerConnection(ep, closed, (reason) => session.close(reason)));
  }

  /**
   * A socket connection must say hello within helloTimeout, and at most maxPendingHellos may be
   * waiting to: one more closes the oldest (a peer that means to talk says hello in its first
   * write; holding the slots open costs an attacker a connection each, and frees them for others).
   */
  #boundHello(ep: Endpoint): void {
    if (this.#pendingHellos.size >= this.maxPendingHellos) {
      for (const oldest of this.#pendingHellos) {
        this.#unboundHello(oldest);
        oldest.session?.notify('symphony.error', new OverloadedError(`more than ${this.maxPendingHellos} connections waiting to say hello (maxPendingHellos): the oldest is closed`).toJSON());
        oldest.session?.close(`closed before hello: more than ${this.maxPendingHellos} connections waiting to say hello`);
        break;
      }
    }
    this.#pendingHellos.add(ep);
    ep.helloTimer = setTimeout(() => {
      ep.helloTimer = undefined;
      this.#pendingHellos.delete(ep);
      if (ep.state !== 'hello') return;
      ep.session?.notify('symphony.error', new UnauthorizedError(`no symphony.hello within ${this.#helloTimeoutMs}ms (helloTimeout)`).toJSON());
      ep.session?.close('no hello in time');
    }, this.#helloTimeoutMs);
    ep.helloTimer.unref?.();
  }

  #unboundHello(ep: Endpoint): void {
    this.#pendingHellos.delete(ep);
    if (ep.helloTimer) clearTimeout(ep.helloTimer);
    ep.helloTimer = undefined;
  }

  /** An error of the socket listener (EMFILE on accept, say): reported, and the listener keeps going. */
  listenerError(err: Error): void {
    this.#protocolErrors++;
    this.#emit({ type: 'protocol-error', peer: 'the socket listener', detail: `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${err.message}` });
  }

  /** The connection of the peer that says hello as `name` (a socket peer the kernel spawned). */
  connectionFor(name: string): Promise<PeerConnection> {
    const ep = this.#endpoints.get(name);
    if (ep?.connection) return Promise.resolve(ep.connection);
    return new Promise((resolve) => {
      const waiters = this.#awaiting.get(name) ?? [];
      waiters.push(resolve);
      this.#awaiting.set(name, waiters);
    });
  }

  stats(): BusStats {
    const peers: PeerStats[] = [];
    let inflight = 0;
    let dropped = 0;
    for (const ep of new Set([...this.#endpoints.values(), ...this.#connections])) {
      let droppedHere = ep.dropped;
      for (const s of ep.subscriptions) droppedHere += s.dropped;
      inflight += ep.calls.size;
      dropped += droppedHere;
      peers.push({
        name: ep.name,
        kind: ep.kind,
        state: ep.state,
        inflight: ep.calls.size,
        serving: ep.session?.incomingCount ?? 0,
        requests: ep.requests,
        errors: ep.errors,
        timeouts: ep.timeouts,
        latency: ep.latency.summary(),
        breaker: ep.breaker.state,
        queuedBytes: ep.session?.transport.bufferedBytes ?? 0,
        heldBytes: ep.session ? ep.session.incomingBytes + ep.session.transport.bufferedBytes : 0,
        droppedEvents: droppedHere,
      });
    }
    return { peers, methods: this.#exact.size + this.#patterns.size, subscriptions: this.#subs.size, inflight, droppedEvents: dropped, protocolErrors: this.#protocolErrors, deniedCalls: this.#denied, slowConsumers: this.#slowConsumers };
  }

  /** Listens on a Unix socket (mode 0600, private directory); `bus.close()` stops it. */
  async listen(options: ListenOptions = {}): Promise<SocketServer> {
    if (this.#server) throw new BusError(ErrorCode.InvalidRequest, `the bus already listens on ${this.#server.path}`);
    this.#server = await listenUnix(this, options);
    return this.#server;
  }

  /** The socket path peers connect to (`SYMPHONY_BUS`), when listening. */
  get socketPath(): string | undefined {
    return this.#server?.path;
  }

  /** Starts a peer process with its own token and a scrubbed environment (stdio by default). */
  spawnPeer(options: SpawnPeerOptions): PeerProcess {
    return spawnPeer(this, { socketPath: this.socketPath, ...options });
  }

  /** Starts a worker thread peer (structured clone over a MessagePort). */
  spawnWorker(file: string | URL, options: Parameters<typeof spawnWorker>[2]): ReturnType<typeof spawnWorker> {
    return spawnWorker(this, file, options);
  }

  /** True when some endpoint serves `method`. */
  serves(method: string): boolean {
    return this.#route(method) !== undefined;
  }

  /** Disconnects every peer (their pending calls fail with -32004) and stops the heartbeats. */
  async close(reason = 'the bus is closing'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeatTimer);
    for (const name of [...this.#holds.keys()]) this.#closeGap(name, new PeerGoneError(`'${name}' was restarting when ${reason}`, { peer: name }));
    this.#holds.clear();
    for (const ep of [...this.#connections]) ep.session?.close(reason);
    for (const ep of [...this.#endpoints.values()]) if (ep !== this.#self) this.#drop(ep, reason);
    for (const call of this.#self.calls.snapshot()) call.fail(new PeerGoneError(reason));
    await this.#server?.close();
  }

  // ---- routing core ----------------------------------------------------------------------------

  requestAs(from: Endpoint, method: string, params: unknown, options?: RequestOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const now = performance.now();
      const timeoutMs = options?.timeout === undefined ? this.#defaultTimeoutMs : typeof options.timeout === 'number' ? options.timeout : toMs(options.timeout, 'timeout');
      const principal = options?.onBehalfOf;
      const route = principal === undefined || principal === from.name ? this.#admit(from, method) : this.#admitFor(from, principal, method);
      if (route instanceof BusError) return reject(route);
      const call = new Call(this, from, route.endpoint, method, now, now + timeoutMs, options?.traceparent);
      if (principal !== undefined && principal !== from.name) call.principal = principal;
      call.resolve = resolve;
      call.reject = reject;
      this.#start(call, route, params);
      const signal = options?.signal;
      if (signal && !call.settled) {
        if (signal.aborted) return call.cancel(`'${method}' was cancelled`);
        call.signal = signal;
        call.onAbort = () => call.cancel(`'${method}' was cancelled`);
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
    });
  }

  /**
   * The route a call from `from` to `method` takes, or why it is refused at once: not in its
   * rights (-32002), nobody serves it (-32601, immediately, never a timeout), circuit open (-32005).
   */
  #admit(from: Endpoint, method: string): Route | BusError {
    if (!from.grants.all && !from.grants.allows('calls', method)) {
      this.#deny(from, 'calls', method);
      return new ForbiddenError(`'${from.name}' may not call '${method}' (not in its manifest's calls)`, { method, peer: from.name });
    }
    const route = this.#route(method);
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
    if (!from.grants.all) {
      this.#deny(from, 'calls', method);
      return new ForbiddenError(`'${from.name}' may not call on behalf of '${principal}': only the kernel's own parts act for another identity`, { method, peer: from.name });
    }
    const grants = this.#grantsOf(principal);
    if (!grants || (!grants.all && !grants.allows('calls', method))) {
      this.#denied++;
      this.#emit({ type: 'denied', peer: principal, action: 'calls', subject: method });
      const why = grants ? 'not in its calls' : 'an identity the bus does not know has no rights';
      return new ForbiddenError(`'${principal}' may not call '${method}' (asked through '${from.name}': ${why})`, { method, peer: principal });
    }
    return this.#admit(from, method);
  }

  /** The rights of an identity by name: a connected or in-process endpoint, else a token the kernel issued. */
  #grantsOf(name: string): Grants | undefined {
    const ep = this.#endpoints.get(name);
    if (ep) return ep.grants;
    for (const identity of this.#tokens.values()) if (identity.name === name && !identity.operator) return identity.grants;
    return undefined;
  }

  /** Starts an admitted call: runs the in-process handler, or forwards it to the serving peer. */
  #start(call: Call, route: Route, params: unknown): void {
    const target = call.target;
    target.requests++;
    target.calls.add(call);
    if (route.handler) {
      this.wheel.add(call);
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
    call.downstream = target.session!.forward(call, params);
  }

  #handlerFailed(call: Call, err: unknown): void {
    const e = toBusError(err, call.method);
    if (e.code === ErrorCode.InternalError) this.#emit({ type: 'handler-error', peer: call.target.name, method: call.method, error: e.message });
    call.fail(e);
  }

  #route(method: string): Route | undefined {
    const exact = this.#exact.get(method);
    if (exact !== undefined || this.#patterns.size === 0) return exact;
    const candidates = this.#patterns.match(method);
    let best: Route | undefined;
    for (const r of candidates) if (!best || r.weight > best.weight) best = r;
    return best;
  }

  handleAs(ep: Endpoint, method: string, handler: Handler | undefined): Registration {
    if (ep.state === 'closed') throw new PeerGoneError(`'${ep.name}' is closed: it cannot serve '${method}'`, { method, peer: ep.name });
    if (isPattern(method)) assertPattern(method, 'method');
    else if (typeof method !== 'string' || !method) throw new TypeError('method must be a non-empty string');
    if (method.startsWith('symphony.') || method.startsWith('$/')) throw new ForbiddenError(`'${method}' is reserved for the protocol`, { method });
    if (!ep.grants.all && !ep.grants.allows('provides', method)) {
      this.#deny(ep, 'provides', method);
      throw new ForbiddenError(`'${ep.name}' may not serve '${method}' (not in its manifest's provides)`, { method, peer: ep.name });
    }
    const route = this.#addRoute(ep, method, handler, false);
    return { ready: Promise.resolve(), dispose: () => this.#unroute(route) };
  }

  #addRoute(ep: Endpoint, method: string, handler: Handler | undefined, lazy: boolean): Route {
    const existing = isPattern(method) ? this.#patternRoutes.get(method) : this.#exact.get(method);
    // Taking over a method is allowed from a reservation, or between two generations of one party.
    if (existing && existing.endpoint !== ep && !existing.lazy && !(existing.endpoint.superseded && existing.endpoint.name === ep.name)) {
      throw new InvalidParamsError(`'${method}' is already served by '${existing.endpoint.name}'`, { method, peer: existing.endpoint.name });
    }
    if (existing) this.#unroute(existing);
    // More literal segments win; between equals, `*` (exactly one segment) beats `>` (any number).
    const weight = method.split('.').filter((s) => s !== '*' && s !== '>').length * 2 + (method.endsWith('>') ? 0 : 1);
    const route: Route = { method, endpoint: ep, handler, weight, lazy };
    if (isPattern(method)) {
      this.#patterns.add(method, route);
      this.#patternRoutes.set(method, route);
    } else {
      this.#exact.set(method, route);
    }
    ep.routes.add(route);
    return route;
  }

  /**
   * Reserves methods for a party that is not running yet (activation on first call). The first call
   * to any of them runs `activate` once and waits for it (a failure or a deadline is the caller's
   * error, naming the party); then every waiting call goes to whoever serves the method by then,
   * through a newer reservation if one took the method over. The party's own registration of a
   * method replaces its reservation.
   */
  reserve(methods: readonly string[], activate: () => Promise<void>): { dispose(): void } {
    const ep = this.#self;
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
              const route = this.#route(call.method);
              if (!route || (route.lazy && routes.includes(route))) {
                return reject(new MethodNotFoundError(call.method));
              }
              if (call.notification) {
                this.notifyAs(call.from, call.method, params);
                return resolve(undefined);
              }
              // A newer reservation took the method over (the party restarted and waits for its
              // first call again): the call goes on through it, with its own deadline.
              if (route.lazy) return resolve(route.handler!(params, ctx));
              const admitted = this.#admit(call.from, call.method);
              if (admitted instanceof BusError) return reject(admitted);
              const forwarded = new Call(this, call.from, admitted.endpoint, call.method, performance.now(), call.deadline, call.traceparent);
              forwarded.resolve = resolve;
              forwarded.reject = reject;
              this.#start(forwarded, admitted, params);
              ctx.signal.addEventListener('abort', () => forwarded.cancel(`'${call.method}' was cancelled`), { once: true });
            }),
        );
      };
      routes.push(this.#addRoute(ep, method, handler, true));
    }
    return { dispose: () => routes.forEach((r) => this.#unroute(r)) };
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

  #openGap(name: string, methods: string[]): void {
    if (this.#closed || methods.length === 0 || this.#holds.get(name) !== null) return;
    let settle!: (error?: Error) => void;
    const back = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
    back.catch(() => {}); // nobody may be waiting
    try {
      this.#holds.set(name, { settle, reservation: this.reserve(methods, () => back) });
    } catch {
      // Not expected (these were the dropped peer's own routes, just removed), but #drop runs in
      // close paths and must not throw: without a gap, calls fail -32601 as they would unheld.
    }
  }

  #closeGap(name: string, error?: Error): void {
    const gap = this.#holds.get(name);
    if (!gap) return;
    this.#holds.set(name, null);
    gap.reservation.dispose(); // only the routes still its own: the successor's registrations replaced the others
    gap.settle(error);
  }

  #unroute(route: Route): void {
    if (!route.endpoint.routes.delete(route)) return;
    if (isPattern(route.method)) {
      this.#patterns.delete(route.method, route);
      if (this.#patternRoutes.get(route.method) === route) this.#patternRoutes.delete(route.method);
    } else if (this.#exact.get(route.method) === route) this.#exact.delete(route.method);
  }

  notifyAs(from: Endpoint, method: string, params: unknown): void {
    if (!from.grants.all && !from.grants.allows('calls', method)) return this.#deny(from, 'calls', method);
    const route = this.#route(method);
    if (!route) return;
    if (route.handler) {
      const now = performance.now();
      const call = new Call(this, from, route.endpoint, method, now, now + this.#defaultTimeoutMs, undefined);
      call.notification = true;
      try {
        const r = route.handler(params, new LocalHandlerContext(call));
        if (r && typeof (r as PromiseLike<unknown>).then === 'function') (r as PromiseLike<unknown>).then(undefined, (err: unknown) => this.#emit({ type: 'handler-error', peer: route.endpoint.name, method, error: String(err) }));
      } catch (err) {
        this.#emit({ type: 'handler-error', peer: route.endpoint.name, method, error: err instanceof Error ? err.message : String(err) });
      }
    } else {
      route.endpoint.session!.notify(method, params);
    }
  }

  publishAs(from: Endpoint, topic: string, data: unknown): void {
    assertSubject(topic);
    if (!from.grants.all && !from.grants.allows('publishes', topic)) {
      this.#deny(from, 'publishes', topic);
      throw new ForbiddenError(`'${from.name}' may not publish '${topic}' (not in its manifest's publishes)`, { topic, peer: from.name });
    }
    // A peer gets one event per publish however many of its patterns match (it fans out locally).
    let notified: Set<Endpoint> | undefined;
    for (const sub of this.#subs.match(topic)) {
      if (!sub.listener) {
        if (notified?.has(sub.endpoint)) continue;
        (notified ??= new Set()).add(sub.endpoint);
      }
      this.#deliver(sub, topic, data, from.name);
    }
  }

  subscribeAs(ep: Endpoint, pattern: string, listener: EventListener | undefined, options: SubscribeOptions = {}): Subscription {
    assertPattern(pattern);
    if (!ep.grants.all && !ep.grants.allows('subscribes', pattern)) {
      this.#deny(ep, 'subscribes', pattern);
      throw new ForbiddenError(`'${ep.name}' may not subscribe to '${pattern}' (not in its manifest's subscribes)`, { pattern, peer: ep.name });
    }
    const sub = new Sub(pattern, ep, listener, options.queue ?? 1024, options.policy ?? 'drop-oldest');
    this.#subs.add(pattern, sub);
    ep.subscriptions.add(sub);
    const self = this;
    return {
      pattern,
      ready: Promise.resolve(),
      get dropped() {
        return sub.dropped;
      },
      unsubscribe: () => self.#unsubscribe(sub),
    };
  }

  #unsubscribe(sub: Sub): void {
    sub.closed = true;
    sub.queue.length = 0;
    this.#subs.delete(sub.pattern, sub);
    sub.endpoint.subscriptions.delete(sub);
  }

  #deliver(sub: Sub, topic: string, data: unknown, from: string): void {
    if (sub.closed) return;
    if (!sub.listener) {
      const session = sub.endpoint.session!;
      if (session.transport.bufferedBytes > EVENT_HIGH_WATER) {
        sub.dropped++;
        if (sub.dropped === 1 || sub.dropped % 1000 === 0) this.#emit({ type: 'slow-consumer', peer: sub.endpoint.name, detail: `${sub.dropped} event(s) dropped: it is not reading` });
        return;
      }
      session.notify('symphony.event', { topic, data });
      return;
    }
    if (sub.queue.length >= sub.max) {
      sub.dropped++;
      if (sub.policy === 'drop-newest') return;
      if (sub.policy === 'unsubscribe') {
        this.#emit({ type: 'slow-consumer', peer: sub.endpoint.name, detail: `unsubscribed from '${sub.pattern}': its queue of ${sub.max} was full` });
        return this.#unsubscribe(sub);
      }
      sub.queue.shift();
    }
    sub.queue.push([topic, data, from]);
    if (!sub.draining) {
      sub.draining = true;
      queueMicrotask(() => void this.#drain(sub));
    }
  }

  /** Delivers a subscriber's queue in order, one event at a time (async listeners are awaited). */
  async #drain(sub: Sub): Promise<void> {
    while (sub.queue.length && !sub.closed) {
      const [topic, data, from] = sub.queue.shift()!;
      try {
        const r = sub.listener!(data, { topic, from });
        if (r && typeof (r as PromiseLike<unknown>).then === 'function') await r;
      } catch (err) {
        this.#emit({ type: 'handler-error', peer: sub.endpoint.name, method: `event ${topic}`, error: err instanceof Error ? err.message : String(err) });
      }
    }
    sub.draining = false;
  }

  // ---- peers -------------------------------------------------------------------------------------

  /** Requests refused per peer for its memory budget (for the log). */
  readonly #overBudget = new WeakMap<Endpoint, number>();

  #onPeerRequest(ep: Endpoint, req: IncomingRequest): void {
    const session = ep.session!;
    if (ep.state === 'hello') return this.#hello(ep, req);
    if (req.method.startsWith('symphony.')) return this.#protocolRequest(ep, req);
    // Its budget: what the kernel holds for it (this request included) must stay within maxPeerBytes.
    const held = session.incomingBytes + session.transport.bufferedBytes;
    if (held > this.maxPeerBytes) {
      // Logged at the first refusal and every 1000th: a flood's refusals must not flood the log.
      const refused = (this.#overBudget.get(ep) ?? 0) + 1;
      this.#overBudget.set(ep, refused);
      if (refused === 1 || refused % 1000 === 0) this.#emit({ type: 'slow-consumer', peer: ep.name, detail: `over its memory budget (the kernel holds ${held} bytes for it; maxPeerBytes ${this.maxPeerBytes}): its new requests are refused with -32005 (${refused} so far)` });
      return session.respondError(req, new OverloadedError(`'${ep.name}' is over its memory budget: the kernel holds ${held} bytes for it (its waiting requests and unsent answers; maxPeerBytes ${this.maxPeerBytes}): wait for answers before sending more`, { method: req.method, peer: ep.name }));
    }
    const now = performance.now();
    const deadline = now + Math.min(this.#defaultTimeoutMs, req.deadline !== undefined ? req.deadline - Date.now() : Infinity);
    const route = this.#admit(ep, req.method);
    if (route instanceof BusError) return session.respondError(req, route);
    const call = new Call(this, ep, route.endpoint, req.method, now, deadline, req.traceparent);
    call.origin = req;
    this.#start(call, route, req.params);
    req.onCancel = call;
  }

  #hello(ep: Endpoint, req: IncomingRequest): void {
    const session = ep.session!;
    const p = req.params as { protocol?: unknown; peer?: unknown; token?: unknown; framing?: unknown } | undefined;
    const refuse = (why: string) => {
      this.#deny(ep, 'hello', why);
      session.respondError(req, new UnauthorizedError(why));
      setImmediate(() => session.close(`unauthorized: ${why}`));
    };
    if (req.method !== 'symphony.hello') return refuse(`'${req.method}' before symphony.hello: say hello with a token first`);
    if (p?.protocol !== 1) return refuse(`unsupported protocol ${JSON.stringify(p?.protocol)} (this bus speaks 1)`);
    const identity = typeof p.token === 'string' ? this.#authenticate(p.token) : undefined;
    if (!identity) return refuse('bad token');
    const claimed = typeof p.peer === 'string' && p.peer ? p.peer : 'peer';
    let name = identity.name;
    if (identity.operator) {
      name = claimed;
      for (let i = 2; this.#endpoints.has(name); i++) name = `${claimed}#${i}`;
    } else if (this.#endpoints.has(name)) {
      // The same token twice is a replay. A newer token the kernel issued for the same identity is
      // its successor (a restart or a swap): it takes the name; the old one serves until it is gone.
      const current = this.#endpoints.get(name)!;
      if (current.identity === identity || current.identity === undefined) return refuse(`'${name}' is already connected`);
      current.superseded = true;
    }
    ep.identity = identity;
    ep.name = name;
    ep.grants = identity.grants;
    ep.state = 'open';
    this.#unboundHello(ep);
    session.peerName = name;
    this.#endpoints.set(name, ep);
    const framing = p.framing === 'content-length' ? 'content-length' : (session.transport.framing ?? 'ndjson');
    session.respond(req, { protocol: 1, peer: name, framing, maxFrameBytes: this.maxFrameBytes, heartbeatMs: this.#heartbeatMs, maxInFlight: this.maxInFlight });
    if (framing !== session.transport.framing && session.transport.setFraming) {
      const t = session.transport;
      process.nextTick(() => t.setFraming!(framing)); // after the hello answer has been framed the old way
    }
    this.#emit({ type: 'peer', peer: name, state: 'connected' });
    const waiters = this.#awaiting.get(name);
    if (waiters) {
      this.#awaiting.delete(name);
      for (const w of waiters) w(ep.connection!);
    }
  }

  #protocolRequest(ep: Endpoint, req: IncomingRequest): void {
    const session = ep.session!;
    const p = (req.params ?? {}) as Record<string, unknown>;
    try {
      switch (req.method) {
        case 'symphony.ping':
          return session.respond(req, {});
        case 'symphony.hello':
          throw new InvalidParamsError('already said hello');
        case 'symphony.register':
        case 'symphony.unregister': {
          const methods = p.methods;
          if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string')) throw new InvalidParamsError(`${req.method} needs { methods: [string, …] }`);
          if (req.method === 'symphony.register') for (const m of methods as string[]) this.handleAs(ep, m, undefined);
          else for (const r of [...ep.routes]) if ((methods as string[]).includes(r.method)) this.#unroute(r);
          return session.respond(req, { methods });
        }
        case 'symphony.subscribe': {
          if (typeof p.pattern !== 'string') throw new InvalidParamsError('symphony.subscribe needs { pattern }');
          if ([...ep.subscriptions].some((s) => s.pattern === p.pattern)) return session.respond(req, {});
          this.subscribeAs(ep, p.pattern, undefined);
          return session.respond(req, {});
        }
        case 'symphony.unsubscribe': {
          for (const s of [...ep.subscriptions]) if (s.pattern === p.pattern) this.#unsubscribe(s);
          return session.respond(req, {});
        }
        case 'symphony.publish': {
          if (typeof p.topic !== 'string') throw new InvalidParamsError('symphony.publish needs { topic, data }');
          this.publishAs(ep, p.topic, p.data);
          return session.respond(req, {});
        }
        case 'symphony.ready':
          this.#markReady(ep);
          return session.respond(req, {});
        default:
          throw new MethodNotFoundError(req.method);
      }
    } catch (err) {
      session.respondError(req, err instanceof BusError ? err : new InvalidParamsError(err instanceof Error ? err.message : String(err)));
    }
  }

  #onPeerNotification(ep: Endpoint, method: string, params: unknown): void {
    if (ep.state === 'hello') {
      this.#deny(ep, 'hello', `notification '${method}' before hello`);
      ep.session!.notify('symphony.error', new UnauthorizedError().toJSON());
      return ep.session!.close('unauthorized: notification before hello');
    }
    try {
      if (method === 'symphony.ready') return this.#markReady(ep);
      if (method === 'symphony.publish') {
        const p = params as { topic?: unknown; data?: unknown } | undefined;
        if (typeof p?.topic !== 'string') throw new InvalidParamsError('symphony.publish needs { topic, data }');
        return this.publishAs(ep, p.topic, p.data);
      }
      if (method.startsWith('symphony.')) return;
      this.notifyAs(ep, method, params);
    } catch (err) {
      // A notification has no answer: tell the peer what went wrong without closing it.
      const e = err instanceof BusError ? err : new InvalidParamsError(err instanceof Error ? err.message : String(err));
      ep.session!.notify('symphony.error', e.toJSON());
    }
  }

  #markReady(ep: Endpoint): void {
    if (ep.state !== 'open') return;
    ep.state = 'ready';
    if (this.#holds.get(ep.name)) this.#closeGap(ep.name); // back: the calls held for it go on
    for (const w of ep.readyWaiters.splice(0)) w();
    this.#emit({ type: 'peer', peer: ep.name, state: 'ready' });
  }

  /** Removes an endpoint: calls pending to it fail with -32004 at once; its own calls are cancelled. */
  #drop(ep: Endpoint, reason: string): void {
    if (ep.state === 'closed') return;
    const wasKnown = ep.state !== 'hello';
    const held = ep.state === 'ready' && !ep.superseded && this.#holds.get(ep.name) === null ? [...ep.routes].filter((r) => !r.lazy).map((r) => r.method) : undefined;
    ep.state = 'closed';
    this.#connections.delete(ep);
    this.#unboundHello(ep);
    if (this.#endpoints.get(ep.name) === ep) this.#endpoints.delete(ep.name);
    for (const r of [...ep.routes]) this.#unroute(r);
    if (held) this.#openGap(ep.name, held);
    for (const s of [...ep.subscriptions]) this.#unsubscribe(s);
    for (const call of ep.calls.snapshot()) call.fail(new PeerGoneError(`'${ep.name}' is gone (${reason}) with '${call.method}' unanswered`, { method: call.method, peer: ep.name }));
    ep.session?.close(reason);
    for (const w of ep.readyWaiters.splice(0)) w();
    if (wasKnown) this.#emit({ type: 'peer', peer: ep.name, state: 'gone', reason });
  }

  #authenticate(token: string): Identity | undefined {
    const identity = this.#tokens.get(hash(token));
    if (!identity) return undefined;
    const given = Buffer.from(token);
    return given.length === identity.secret.length && timingSafeEqual(given, identity.secret) ? identity : undefined;
  }

  /** A peer that does not read its output: disconnected (calls pending to it fail with -32004, its own are cancelled). */
  #slowConsumer(ep: Endpoint, detail: string): void {
    const session = ep.session!;
    if (session.closed) return;
    this.#slowConsumers++;
    this.#emit({ type: 'slow-consumer', peer: ep.name, detail });
    session.close('it stopped reading (slow consumer)');
  }

  #deny(ep: Endpoint, action: keyof Rights | 'hello', subject: string): void {
    this.#denied++;
    this.#emit({ type: 'denied', peer: ep.name, action, subject });
  }

  #emit(e: BusEvent): void {
    for (const fn of this.#listeners) {
      try {
        fn(e);
      } catch {
        // observers never break the bus
      }
    }
  }

  /** One timer for all connections: ping the silent ones, drop those that stopped answering or reading. */
  #startHeartbeats(): void {
    if (this.#heartbeatTimer || this.#heartbeatMs <= 0) return;
    this.#heartbeatTimer = setInterval(() => {
      const now = performance.now();
      for (const ep of this.#connections) {
        const session = ep.session!;
        const t = session.transport;
        // Byte streams bound their output as they write (limitOutput); here, one held back that did
        // not go down over a whole check period. Other transports: the old size check.
        if (t.outputStalled ? t.outputStalled() : t.bufferedBytes > this.maxOutputBytes) {
          this.#slowConsumer(ep, `disconnected: ${t.bufferedBytes} bytes unread, not reading`);
          continue;
        }
        if (ep.state === 'hello' && now - session.lastSeen > this.#heartbeatMs * 2) {
          session.close('no hello in time');
          continue;
        }
        if (ep.pinging || ep.state === 'hello' || now - session.lastSeen < this.#heartbeatMs) continue;
        ep.pinging = true;
        session.request('symphony.ping', undefined, { timeoutMs: this.#heartbeatMs }).then(
          () => (ep.pinging = false),
          (err: unknown) => {
            ep.pinging = false;
            if (err instanceof TimeoutError && performance.now() - session.lastSeen > this.#heartbeatMs * 2) session.close('heartbeat lost');
          },
        );
      }
    }, Math.max(10, this.#heartbeatMs / 2)).unref();
  }
}

/** A connected peer as its owner sees it (the socket server, or whoever spawned the process). */
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

function hash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
