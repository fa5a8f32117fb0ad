/**
 * The IPC bus: named endpoints (in-process parties and connected peers), exact and pattern routes,
 * request/reply with deadlines and cancellation, notifications, and pub/sub with wildcards and
 * bounded per-subscriber queues. The bus itself is the kernel's endpoint (`request`, `handle`, …).
 *
 * This file is the facade: each concept lives in its own file, sharing one BusCore (core.ts):
 * rights.ts and tokens.ts (who may do what), routes.ts (where a method goes), call.ts and calls.ts
 * (a call's life), activation.ts (reservations and holds), pubsub.ts, handshake.ts (hello),
 * peer-protocol.ts (a connection's session and the `symphony.*` methods), heartbeat.ts, events.ts.
 * The socket server and the spawner are given the bus as a PeerHost (peer-host.ts).
 */
import { toMs } from '../util/duration.js';
import { Activation } from './activation.js';
import type { BusApi, BusEndpoint, BusEvent, BusOptions, BusStats, EventListener, Handler, PeerStats, Registration, RequestOptions, SubscribeOptions, Subscription } from './api.js';
import { Calls } from './calls.js';
import type { PeerConnection } from './connection.js';
import type { BusCore, BusLimits } from './core.js';
import { DeadlineWheel } from './deadlines.js';
import { Endpoint } from './endpoint.js';
import type { Call } from './call.js';
import { BusError, ErrorCode, PeerGoneError } from './errors.js';
import { BusEvents } from './events.js';
import { Handshake } from './handshake.js';
import { Heartbeats } from './heartbeat.js';
import { PeerProtocol } from './peer-protocol.js';
import type { PeerHost } from './peer-host.js';
import { PubSub } from './pubsub.js';
import { ALL_GRANTS, ALL_RIGHTS, grantsFor, type Rights } from './rights.js';
import { RouteTable } from './routes.js';
import { listenUnix, type ListenOptions, type SocketServer } from './server.js';
import { spawnPeer, spawnWorker, type PeerProcess, type SpawnPeerOptions } from './spawn.js';
import { Tokens } from './tokens.js';
import type { MessageTransport } from './transport.js';

/**
 * The bus's identity, a registered symbol (the same in every copy of this module): a component's
 * dependency is the bus when `dep[Symbol.for('symphony.bus')] === dep`. A peer's proxy answers
 * every method name, so telling the bus by the methods it has mistook a proxy for it.
 */
const BUS_IDENTITY: unique symbol = Symbol.for('symphony.bus');

export class Bus implements BusApi, PeerHost, AsyncDisposable {
  get [BUS_IDENTITY](): this {
    return this;
  }
  readonly wheel = new DeadlineWheel();
  readonly name: string;
  readonly maxFrameBytes: number;
  readonly maxInFlight: number;
  readonly maxOutputBytes: number;
  readonly maxPeerBytes: number;
  readonly maxPendingHellos: number;
  readonly #core: BusCore;
  readonly #self: Endpoint;
  readonly #calls: Calls;
  readonly #pubsub: PubSub;
  readonly #activation: Activation;
  readonly #handshake: Handshake;
  readonly #protocol: PeerProtocol;
  readonly #heartbeats: Heartbeats;
  #server: SocketServer | undefined;
  #closed = false;

  constructor(options: BusOptions = {}) {
    this.name = options.name ?? 'kernel';
    const heartbeatMs = options.heartbeat === undefined ? 5_000 : toMs(options.heartbeat, 'heartbeat');
    const limits: BusLimits = {
      defaultTimeoutMs: options.defaultTimeout === undefined ? 30_000 : toMs(options.defaultTimeout, 'defaultTimeout'),
      heartbeatMs,
      maxFrameBytes: options.maxFrameBytes ?? 1024 * 1024,
      maxInFlight: options.maxInFlight ?? 1024,
      maxOutputBytes: options.maxOutputBytes ?? 16 * 1024 * 1024,
      maxPeerBytes: options.maxPeerBytes ?? 64 * 1024 * 1024,
      maxPendingHellos: options.maxPendingHellos ?? 64,
      // Twice the heartbeat by default (10 s), as a connection was always given.
      helloTimeoutMs: options.helloTimeout === undefined ? Math.max(2 * heartbeatMs, 0) || 10_000 : toMs(options.helloTimeout, 'helloTimeout'),
    };
    this.maxFrameBytes = limits.maxFrameBytes;
    this.maxInFlight = limits.maxInFlight;
    this.maxOutputBytes = limits.maxOutputBytes;
    this.maxPeerBytes = limits.maxPeerBytes;
    this.maxPendingHellos = limits.maxPendingHellos;
    this.#self = new Endpoint(this.name, ALL_GRANTS, 'local');
    const bus = this;
    const core = {
      limits,
      wheel: this.wheel,
      self: this.#self,
      endpoints: new Map<string, Endpoint>([[this.name, this.#self]]),
      connections: new Set<Endpoint>(),
      events: new BusEvents(),
      tokens: new Tokens(),
      routes: new RouteTable(),
      get closed() {
        return bus.#closed;
      },
      drop: (ep: Endpoint, reason: string) => this.#drop(ep, reason),
    } as Omit<BusCore, 'calls' | 'pubsub' | 'activation'> as { -readonly [K in keyof BusCore]: BusCore[K] };
    this.#core = core;
    core.calls = this.#calls = new Calls(core);
    core.pubsub = this.#pubsub = new PubSub(core);
    core.activation = this.#activation = new Activation(core);
    this.#handshake = new Handshake(core);
    this.#protocol = new PeerProtocol(core, this.#handshake);
    this.#heartbeats = new Heartbeats(core, (ep, detail) => this.#protocol.slowConsumer(ep, detail));
  }

  // ---- the kernel's own API ----------------------------------------------------------------------

  request<T = unknown>(method: string, params?: unknown, options?: RequestOptions): Promise<T> {
    return this.#calls.request(this.#self, method, params, options) as Promise<T>;
  }
  handle(method: string, handler: Handler): Registration {
    return this.#calls.serve(this.#self, method, handler);
  }
  notify(method: string, params?: unknown): void {
    this.#calls.notify(this.#self, method, params);
  }
  publish(topic: string, data?: unknown): void {
    this.#pubsub.publish(this.#self, topic, data);
  }
  subscribe(pattern: string, listener: EventListener, options?: SubscribeOptions): Subscription {
    return this.#pubsub.subscribe(this.#self, pattern, listener, options);
  }

  /** An in-process endpoint with its own identity and rights (a component, a trusted extension). */
  endpoint(name: string, rights: Rights = ALL_RIGHTS, options: { supersede?: boolean } = {}): BusEndpoint {
    const endpoints = this.#core.endpoints;
    const current = endpoints.get(name);
    if (current && !options.supersede) throw new BusError(ErrorCode.InvalidRequest, `an endpoint named '${name}' already exists`);
    if (current) current.superseded = true;
    const ep = new Endpoint(name, grantsFor(rights), 'local');
    endpoints.set(name, ep);
    this.#core.events.emit({ type: 'peer', peer: name, state: 'connected' });
    const calls = this.#calls;
    const pubsub = this.#pubsub;
    return {
      name,
      request: (m, p, o) => calls.request(ep, m, p, o) as Promise<never>,
      handle: (m, h) => calls.serve(ep, m, h),
      notify: (m, p) => calls.notify(ep, m, p),
      publish: (t, d) => pubsub.publish(ep, t, d),
      subscribe: (p, l, o) => pubsub.subscribe(ep, p, l, o),
      stats: () => this.stats(),
      stop: (reason = 'closed') => this.#drop(ep, reason),
    };
  }

  /** Observes connections, protocol errors, denials and slow consumers. */
  onEvent(fn: (e: BusEvent) => void): () => void {
    return this.#core.events.on(fn);
  }

  // ---- tokens and connections ----------------------------------------------------------------------

  /**
   * A new secret for a peer the kernel starts: whoever says hello with it is `name`, with these
   * rights, whatever name it claims. One live connection per such identity.
   */
  issueToken(name: string, rights: Rights = ALL_RIGHTS, options: { operator?: boolean; token?: string } = {}): string {
    return this.#core.tokens.issue(name, rights, options);
  }

  revokeToken(token: string): void {
    this.#core.tokens.revoke(token);
  }

  /**
   * Serves a connection: the peer must say `symphony.hello` with a valid token first. Returns a
   * handle to wait for its readiness (`symphony.ready`) or to close it.
   */
  attach(transport: MessageTransport, options: { label?: string; boundedHello?: boolean } = {}): PeerConnection {
    const connection = this.#protocol.attach(transport, options);
    this.#heartbeats.start();
    return connection;
  }

  /** An error of the socket listener (EMFILE on accept, say): reported, and the listener keeps going. */
  listenerError(err: Error): void {
    this.#core.events.protocolError('the socket listener', `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${err.message}`);
  }

  /** The connection of the peer that says hello as `name` (a socket peer the kernel spawned). */
  connectionFor(name: string): Promise<PeerConnection> {
    return this.#handshake.connectionFor(name);
  }

  stats(): BusStats {
    const core = this.#core;
    const peers: PeerStats[] = [];
    let inflight = 0;
    let dropped = 0;
    for (const ep of new Set([...core.endpoints.values(), ...core.connections])) {
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
    const e = core.events;
    return { peers, methods: core.routes.size, subscriptions: this.#pubsub.size, inflight, droppedEvents: dropped, protocolErrors: e.protocolErrors, deniedCalls: e.denied, slowConsumers: e.slowConsumers };
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
    return this.#core.routes.find(method) !== undefined;
  }

  /** Disconnects every peer (their pending calls fail with -32004) and stops the heartbeats. */
  async stop(reason = 'the bus is closing'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeats.stop();
    this.#activation.releaseAll(reason);
    const core = this.#core;
    for (const ep of [...core.connections]) ep.session?.close(reason);
    for (const ep of [...core.endpoints.values()]) if (ep !== this.#self) this.#drop(ep, reason);
    for (const call of this.#inFlight(this.#self)) call.fail(new PeerGoneError(reason));
    await this.#server?.stop();
  }

  /**
   * The calls in flight to `ep`, to fail them: the wheel files its young entries first, since an
   * in-process call joins its target's list only when filed (see CallList).
   */
  #inFlight(ep: Endpoint): Call[] {
    this.#core.wheel.flush();
    return ep.calls.snapshot();
  }

  /** `await using bus = new Bus()`: stopped at the end of the scope, as stop() does. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  // ---- on behalf of an endpoint (the faces endpoint() hands out, the peer protocol) --------------------

  requestAs(from: Endpoint, method: string, params: unknown, options?: RequestOptions): Promise<unknown> {
    return this.#calls.request(from, method, params, options);
  }
  handleAs(ep: Endpoint, method: string, handler: Handler | undefined): Registration {
    return this.#calls.serve(ep, method, handler);
  }
  notifyAs(from: Endpoint, method: string, params: unknown): void {
    this.#calls.notify(from, method, params);
  }
  publishAs(from: Endpoint, topic: string, data: unknown): void {
    this.#pubsub.publish(from, topic, data);
  }
  subscribeAs(ep: Endpoint, pattern: string, listener: EventListener | undefined, options: SubscribeOptions = {}): Subscription {
    return this.#pubsub.subscribe(ep, pattern, listener, options);
  }

  /** Reserves methods for a party not running yet: see Activation.reserve. */
  reserve(methods: readonly string[], activate: () => Promise<void>): { dispose(): void } {
    return this.#activation.reserve(methods, activate);
  }

  /** Holds `name`'s methods while its supervisor restarts it: see Activation.hold. */
  hold(name: string): { resume(): void; release(error?: Error): void } {
    return this.#activation.hold(name);
  }

  // ---- an endpoint's end -----------------------------------------------------------------------------

  /** Removes an endpoint: calls pending to it fail with -32004 at once; its own calls are cancelled. */
  #drop(ep: Endpoint, reason: string): void {
    if (ep.state === 'closed') return;
    const core = this.#core;
    const wasKnown = ep.state !== 'hello';
    const held = ep.state === 'ready' && !ep.superseded && this.#activation.holding(ep.name) ? [...ep.routes].filter((r) => !r.lazy).map((r) => r.method) : undefined;
    ep.state = 'closed';
    core.connections.delete(ep);
    this.#handshake.unbound(ep);
    if (core.endpoints.get(ep.name) === ep) core.endpoints.delete(ep.name);
    for (const r of [...ep.routes]) core.routes.remove(r);
    if (held) this.#activation.openGap(ep.name, held);
    for (const s of [...ep.subscriptions]) this.#pubsub.unsubscribe(s);
    for (const call of this.#inFlight(ep)) call.fail(new PeerGoneError(`'${ep.name}' is gone (${reason}) with '${call.method}' unanswered`, { method: call.method, peer: ep.name }));
    ep.session?.close(reason);
    for (const w of ep.readyWaiters.splice(0)) w();
    if (wasKnown) core.events.emit({ type: 'peer', peer: ep.name, state: 'gone', reason });
  }
}
