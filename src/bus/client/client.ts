import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import { backoffDelay } from '../../util/backoff.js';
import { toMs } from '../../util/duration.js';
import type { BusApi, BusStats, EventListener, Handler, Registration, RequestOptions, SubscribeOptions, Subscription } from '../api.js';
import { DeadlineWheel } from '../deadlines.js';
import { BusError, ErrorCode, PeerGoneError, toBusError, UnauthorizedError } from '../errors.js';
import type { Framing } from '../framing.js';
import { IncomingRequest, RpcSession } from '../session.js';
import { LatencyHistogram } from '../stats.js';
import { assertPattern, assertSubject, isPattern, SubjectIndex } from '../subjects.js';
import { RemoteHandlerContext } from './context.js';
import { resolveConnection, type ConnectOptions, type Setup } from './options.js';

/**
 * The bus from another process (or a worker): the same API as in process. Says hello with its
 * token, re-registers and re-subscribes after a reconnect, and serves its handlers.
 */
export class BusClient implements BusApi {
  readonly #wheel = new DeadlineWheel();
  readonly #handlers = new Map<string, Handler>();
  readonly #patternHandlers = new SubjectIndex<string>();
  readonly #subs = new SubjectIndex<{ pattern: string; listener: EventListener; queue: Promise<unknown> }>();
  readonly #subPatterns = new Map<string, number>();
  readonly #latency = new LatencyHistogram();
  readonly #options: ConnectOptions;
  readonly #defaultTimeoutMs: number;
  readonly #setup: () => Promise<Setup>;
  #session!: RpcSession;
  #identity = '';
  #readySent = false;
  #closing = false;
  #closedResolve!: (reason: string) => void;
  /** Resolves when the client is closed for good (by close(), or a drop it will not recover from). */
  readonly closed: Promise<string>;
  /**
   * A notification the bus refused (a publish outside the manifest, a malformed one), or a handler
   * that failed on a notification: there is no request to reject, so it lands here. By default it
   * is written to stderr (the kernel logs a spawned peer's stderr).
   */
  onError: (error: BusError) => void = (error) => void process.stderr.write(`symphony: ${error.message} (${error.code})\n`);
  /** Called on each (re)connection and on each drop; for logs. */
  onConnection: (state: 'connected' | 'lost', detail: string) => void = () => {};

  private constructor(options: ConnectOptions, setup: () => Promise<Setup>) {
    this.#options = options;
    this.#setup = setup;
    this.#defaultTimeoutMs = options.timeout === undefined ? 30_000 : toMs(options.timeout, 'timeout');
    this.closed = new Promise((r) => (this.#closedResolve = r));
  }

  /** Connects per the options and the environment the kernel gave this process. */
  static async connect(options: ConnectOptions = {}): Promise<BusClient> {
    const connection = resolveConnection(options);
    const client = new BusClient(connection.options, connection.setup);
    await client.#open();
    if (connection.exitWithParent) client.#watchParent();
    return client;
  }

  get name(): string {
    return this.#identity;
  }

  request<T = unknown>(method: string, params?: unknown, options?: RequestOptions): Promise<T> {
    const started = performance.now();
    const timeoutMs = options?.timeout === undefined ? this.#defaultTimeoutMs : toMs(options.timeout, 'timeout');
    return this.#session.request(method, params, { timeoutMs, signal: options?.signal, meta: options?.traceparent ? { traceparent: options.traceparent } : undefined }).then((v) => {
      this.#latency.record(performance.now() - started);
      return v as T;
    });
  }

  handle(method: string, handler: Handler): Registration {
    if (isPattern(method)) assertPattern(method, 'method');
    if (this.#handlers.has(method)) throw new BusError(ErrorCode.InvalidParams, `'${method}' is already handled here`);
    this.#handlers.set(method, handler);
    if (isPattern(method)) this.#patternHandlers.add(method, method);
    const ready = this.#session.request('symphony.register', { methods: [method] }).then(() => undefined);
    ready.catch(() => {});
    return {
      ready,
      dispose: () => {
        this.#handlers.delete(method);
        if (isPattern(method)) this.#patternHandlers.delete(method, method);
        this.#session.request('symphony.unregister', { methods: [method] }).catch(() => {});
      },
    };
  }

  notify(method: string, params?: unknown): void {
    this.#session.notify(method, params);
  }

  publish(topic: string, data?: unknown): void {
    assertSubject(topic);
    this.#session.notify('symphony.publish', { topic, data });
  }

  subscribe(pattern: string, listener: EventListener, _options?: SubscribeOptions): Subscription {
    assertPattern(pattern);
    const entry = { pattern, listener, queue: Promise.resolve() as Promise<unknown> };
    this.#subs.add(pattern, entry);
    const count = (this.#subPatterns.get(pattern) ?? 0) + 1;
    this.#subPatterns.set(pattern, count);
    const ready = count === 1 ? this.#session.request('symphony.subscribe', { pattern }).then(() => undefined) : Promise.resolve();
    ready.catch(() => {});
    return {
      pattern,
      ready,
      dropped: 0,
      unsubscribe: () => {
        if (!this.#subs.delete(pattern, entry)) return;
        const left = (this.#subPatterns.get(pattern) ?? 1) - 1;
        if (left > 0) return void this.#subPatterns.set(pattern, left);
        this.#subPatterns.delete(pattern);
        this.#session.request('symphony.unsubscribe', { pattern }).catch(() => {});
      },
    };
  }

  /** Tells the kernel this peer is ready (for a spawned component, its start is complete). */
  ready(): void {
    this.#readySent = true;
    this.#session.notify('symphony.ready');
  }

  /** Pings the bus; resolves with the round-trip time in milliseconds. */
  async ping(): Promise<number> {
    const t0 = performance.now();
    await this.#session.request('symphony.ping', undefined, { timeoutMs: 5000 });
    return performance.now() - t0;
  }

  stats(): BusStats {
    return {
      peers: [
        {
          name: this.#identity,
          kind: 'remote',
          state: this.#session.closed ? 'closed' : this.#readySent ? 'ready' : 'open',
          inflight: this.#session.pendingCount,
          serving: this.#session.incomingCount,
          requests: this.#latency.count,
          errors: 0,
          timeouts: 0,
          latency: this.#latency.summary(),
          breaker: 'closed',
          queuedBytes: this.#session.transport.bufferedBytes,
          heldBytes: this.#session.incomingBytes + this.#session.transport.bufferedBytes,
          droppedEvents: 0,
        },
      ],
      methods: this.#handlers.size,
      subscriptions: this.#subPatterns.size,
      inflight: this.#session.pendingCount,
      droppedEvents: 0,
      protocolErrors: 0,
      deniedCalls: 0,
      slowConsumers: 0,
    };
  }

  close(): Promise<string> {
    this.#closing = true;
    this.#session.close('closed by the client');
    this.#closedResolve('closed by the client');
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #open(): Promise<void> {
    const { transport, token } = await this.#setup();
    const session = new RpcSession(transport, { wheel: this.#wheel, defaultTimeoutMs: this.#defaultTimeoutMs, peerName: 'bus' });
    this.#session = session;
    session.onRequest = (req) => this.#serve(req);
    session.onNotification = (method, params) => this.#onNotification(method, params);
    session.onClose = (reason) => this.#lost(session, reason);
    let answer: { peer: string; framing: Framing };
    try {
      answer = (await session.request('symphony.hello', { protocol: 1, peer: this.#options.name, token, framing: this.#options.framing ?? 'ndjson' }, { timeoutMs: 10_000 })) as typeof answer;
    } catch (err) {
      session.close('hello failed');
      if (err instanceof BusError && err.code === ErrorCode.Unauthorized) throw new UnauthorizedError(`the bus refused this peer: ${err.message}`);
      throw err;
    }
    this.#identity = answer.peer;
    if (answer.framing === 'content-length' && transport.setFraming) transport.setFraming('content-length');
    // After a reconnect: serve and listen as before.
    if (this.#handlers.size) await session.request('symphony.register', { methods: [...this.#handlers.keys()] });
    for (const pattern of this.#subPatterns.keys()) await session.request('symphony.subscribe', { pattern });
    if (this.#readySent) session.notify('symphony.ready');
    this.onConnection('connected', `as '${this.#identity}'`);
  }

  #lost(session: RpcSession, reason: string): void {
    if (session !== this.#session) return;
    this.onConnection('lost', reason);
    if (this.#closing || !this.#options.reconnect) {
      this.#closedResolve(reason);
      return;
    }
    const policy = { initialMs: 50, maxMs: 2000, ...(typeof this.#options.reconnect === 'object' ? this.#options.reconnect : {}) };
    void (async () => {
      for (let attempt = 1; !this.#closing; attempt++) {
        await new Promise((r) => setTimeout(r, backoffDelay(policy, attempt)).unref());
        if (this.#closing) return;
        try {
          await this.#open();
          return;
        } catch (err) {
          if (err instanceof UnauthorizedError) {
            this.#closedResolve(err.message);
            return;
          }
          this.onConnection('lost', `reconnect ${attempt} failed: ${(err as Error).message}`);
        }
      }
    })();
  }

  /** A notification to a method served here (`bus.notify`): the handler runs; nobody waits for its answer. */
  #serveNotification(method: string, params: unknown): void {
    if (method.startsWith('symphony.') || method.startsWith('$/')) return;
    const handler = this.#handlers.get(method) ?? this.#handlers.get(this.#patternHandlers.match(method)[0] ?? '');
    if (!handler) return;
    const report = (err: unknown) => this.onError(toBusError(err, method));
    try {
      const result = handler(params, new RemoteHandlerContext(new IncomingRequest(0, method, params, undefined), this.#defaultTimeoutMs));
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') (result as PromiseLike<unknown>).then(undefined, report);
    } catch (err) {
      report(err);
    }
  }

  #serve(req: IncomingRequest): void {
    const session = this.#session;
    if (req.method === 'symphony.ping') return session.respond(req, {});
    let handler = this.#handlers.get(req.method);
    if (!handler) {
      const pattern = this.#patternHandlers.match(req.method)[0];
      handler = pattern === undefined ? undefined : this.#handlers.get(pattern);
    }
    if (!handler) return session.respondError(req, new BusError(ErrorCode.MethodNotFound, `'${this.#identity}' does not serve '${req.method}'`, { method: req.method }));
    const ctx = new RemoteHandlerContext(req, this.#defaultTimeoutMs);
    let result: unknown;
    try {
      result = handler(req.params, ctx);
    } catch (err) {
      return session.respondError(req, toBusError(err, req.method));
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(
        (v) => session.respond(req, v),
        (err: unknown) => session.respondError(req, toBusError(err, req.method)),
      );
    } else {
      session.respond(req, result);
    }
  }

  #onNotification(method: string, params: unknown): void {
    if (method === 'symphony.error') {
      const e = params as { code?: unknown; message?: unknown } | undefined;
      return this.onError(new BusError(typeof e?.code === 'number' ? e.code : ErrorCode.InternalError, `the bus refused a notification: ${String(e?.message ?? 'no reason given')}`));
    }
    if (method !== 'symphony.event') return this.#serveNotification(method, params);
    const p = params as { topic?: unknown; data?: unknown } | undefined;
    if (typeof p?.topic !== 'string') return;
    const topic = p.topic;
    for (const sub of this.#subs.match(topic)) {
      // In order per subscription; a slow async listener does not block the others.
      sub.queue = sub.queue.then(() => sub.listener(p.data, { topic, from: 'bus' })).catch(() => {});
    }
  }

  /** Orphan hygiene: a spawned peer exits when its kernel is gone (stdin EOF, or it was re-parented). */
  #watchParent(): void {
    const parent = process.ppid;
    const bye = () => {
      void this.close().finally(() => process.exit(0));
    };
    if (this.#options.transport !== 'stdio') {
      process.stdin.on('end', bye);
      process.stdin.on('error', bye);
      process.stdin.resume();
    } else {
      this.closed.then(bye, bye);
    }
    setInterval(() => {
      if (process.ppid !== parent) bye();
    }, 500).unref();
  }
}

/** Connects to the bus from another process or a worker (see ConnectOptions for the defaults). */
export function connect(options?: ConnectOptions): Promise<BusClient> {
  return BusClient.connect(options);
}

export { PeerGoneError };
