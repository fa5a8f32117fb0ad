/**
 * The bus's public face, in types: what a handler gets, what a request takes, the API every party
 * sees (in process, in a worker, in a child process, over a socket), the statistics and events.
 */
import type { Duration } from '../util/duration.js';
import type { Rights } from './rights.js';
import type { LatencyHistogram } from './stats.js';

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
  /**
   * The caller holds the operator's token, or is one of the kernel's own full-rights parts, and
   * calls for itself (not as a deputy for another). Absent where the bus does not say (a handler
   * served by a remote peer).
   */
  readonly operator?: boolean;
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
  unregister(): void;
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

/** An in-process participant of the bus with its own identity and rights (a component, a trusted extension); `stop` ends it as a peer's disconnect would. */
export interface BusEndpoint extends BusApi {
  stop(reason?: string): void;
}

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

