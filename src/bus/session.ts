import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import type { Decoded } from './framing.js';
import type { DeadlineEntry, DeadlineWheel } from './deadlines.js';
import {
  BusError,
  ErrorCode,
  fromWire,
  MessageTooLargeError,
  PeerGoneError,
  RequestCancelledError,
  TimeoutError,
} from './errors.js';
import { IdTable } from './idtable.js';
import type { MessageTransport } from './transport.js';

export type RequestId = string | number;

/** Request metadata that travels with every request (docs/protocol.md). */
export interface RequestMeta {
  traceparent?: string;
  /** Epoch milliseconds. */
  deadline?: number;
  /** The caller's identity, added by the bus when it forwards a request to a peer. */
  peer?: string;
}

/** Told once when the other side cancels a request it sent, or goes away. */
export interface CancelListener {
  requestCancelled(): void;
}

/** A request received from the other side, until it is answered or cancelled. */
export class IncomingRequest {
  cancelled = false;
  answered = false;
  /** Set by whoever serves it (an object rather than a callback: no closure per request). */
  onCancel: CancelListener | undefined = undefined;
  /** Its `meta` (docs/protocol.md), each field kept only when well-formed. */
  readonly traceparent: string | undefined = undefined;
  /** Epoch milliseconds. */
  readonly deadline: number | undefined = undefined;
  readonly peer: string | undefined = undefined;
  constructor(
    readonly id: RequestId,
    readonly method: string,
    readonly params: unknown,
    meta: unknown,
  ) {
    if (meta && typeof meta === 'object') {
      const m = meta as Record<string, unknown>;
      if (typeof m.traceparent === 'string' && m.traceparent.length <= 128) this.traceparent = m.traceparent;
      if (typeof m.deadline === 'number' && Number.isFinite(m.deadline)) this.deadline = m.deadline;
      if (typeof m.peer === 'string' && m.peer.length <= 256) this.peer = m.peer;
    }
  }
  /** Keeps the shape of incoming requests across a full GC (see OutgoingRequest.shapeKeeper). */
  static readonly shapeKeeper = new IncomingRequest(0, '', undefined, undefined);
}

/*
 * The JSON of the two messages every call sends, built from their parts: byte for byte what
 * JSON.stringify writes for the message object (test/bus/encoding.test.ts), without walking the
 * envelope and the nested meta key by key (a benchmark request: 0.81 -> 0.35 us to encode).
 * Byte-stream transports take them as text (sendJson); ports still get the objects.
 */

/** Text that needs no escaping in a JSON string: printable ASCII but `"` and `\\`. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `s` as JSON.stringify writes it. */
function jsonString(s: string): string {
  return s.length <= 256 && PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** A value with its own toJSON: only the whole-message JSON.stringify passes it its key. */
const hasToJSON = (v: unknown) => v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function';

/** `JSON.stringify({ jsonrpc: '2.0', id, method, params, meta: { traceparent, deadline, peer } })`, params and peer left out when undefined. */
export function requestJson(id: number, method: string, params: unknown, traceparent: string, deadline: number, peer: string | undefined): string {
  const meta = `{"traceparent":${jsonString(traceparent)},"deadline":${Number.isFinite(deadline) ? deadline : 'null'}${peer === undefined ? '' : `,"peer":${jsonString(peer)}`}}`;
  if (hasToJSON(params)) return `${JSON.stringify({ jsonrpc: '2.0', id, method, params }).slice(0, -1)},"meta":${meta}}`;
  const p = params === undefined ? undefined : (JSON.stringify(params) as string | undefined);
  return `{"jsonrpc":"2.0","id":${id},"method":${jsonString(method)}${p === undefined ? '' : `,"params":${p}`},"meta":${meta}}`;
}

/** `JSON.stringify({ jsonrpc: '2.0', id, result })`. */
export function responseJson(id: RequestId, result: unknown): string {
  if (hasToJSON(result)) return JSON.stringify({ jsonrpc: '2.0', id, result });
  const r = JSON.stringify(result) as string | undefined;
  return `{"jsonrpc":"2.0","id":${typeof id === 'number' ? id : jsonString(id)}${r === undefined ? '' : `,"result":${r}`}}`;
}

/** Who hears the answer to an outgoing request: exactly one of these, once. */
export interface ResponseSink {
  answered(result: unknown): void;
  failed(error: BusError): void;
}

/**
 * A request the bus forwards to a peer: what goes on the wire besides the params, and, as its
 * sink, who hears the answer (the bus's own record of the call, so no closures per request).
 */
export interface ForwardedRequest extends ResponseSink {
  readonly method: string;
  /** `performance.now()` when it was made, just before it is forwarded (it stands for now then). */
  readonly started: number;
  /** `performance.now()` by which the answer is due. */
  readonly deadline: number;
  readonly traceparent: string;
  /** The caller's identity (`meta.peer`). */
  readonly peer: string;
}

export class OutgoingRequest implements DeadlineEntry {
  wheelKey?: number;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** Cancels it: the caller gets -32800 and the other side a `$/cancelRequest`. */
  cancel(message = `'${this.method}' was cancelled`): void {
    this.session.fail(this, new RequestCancelledError(message, { method: this.method }), true);
  }
  constructor(
    readonly session: RpcSession,
    readonly id: number,
    readonly method: string,
    readonly deadline: number,
    readonly timeoutMs: number,
    readonly sink: ResponseSink,
  ) {}
  expire(): void {
    this.session.fail(this, new TimeoutError(`'${this.method}' got no answer from '${this.session.peerName}' within ${Math.round(this.timeoutMs)}ms`, { method: this.method, peer: this.session.peerName }), true);
  }
  /**
   * One entry alive as long as the class, so the shape of entries survives a full GC (see
   * Call.shapeKeeper in bus.ts: otherwise the send and receive paths are deoptimized by a GC
   * that finds no request in flight). The times are fractional, as real ones.
   */
  static readonly shapeKeeper = new OutgoingRequest(undefined as never, 0, '', performance.now() + 0.5, 0.5, undefined as never);
}

export interface SessionOptions {
  wheel: DeadlineWheel;
  /** Used when a request gives no timeout. */
  defaultTimeoutMs: number;
  /** The other side's name, for messages. */
  peerName: string;
  /** Consecutive bad frames tolerated before the session closes (docs/protocol.md: 100). */
  maxBadFrames?: number;
}

/**
 * A W3C traceparent for a request that starts a trace. Trace ids must be unique, not secret: a
 * random per-process prefix and a counter make them unique at a fraction of the cost of fresh
 * randomness per request (this is on every request's path). The counter's 16 hex digits are its
 * high 14, formatted once per 256 ids, and the low 2 from a table (formatting all 16 each time
 * was 4x the cost).
 */
const tracePrefix = randomBytes(8).toString('hex');
const LOW_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let traceCounter = 0;
let traceHigh = -1;
let traceHighHex = '';
export const newTraceparent = (): string => {
  const n = ++traceCounter;
  const high = Math.floor(n / 256);
  if (high !== traceHigh) {
    traceHigh = high;
    traceHighHex = high.toString(16).padStart(14, '0');
  }
  const id = traceHighHex + LOW_HEX[n % 256]!;
  return `00-${tracePrefix}${id}-${id}-01`;
};

/**
 * One JSON-RPC 2.0 session over a transport, symmetric (both sides may call): correlation of
 * responses, deadlines (a request's remaining time travels as `meta.deadline`), cancellation both
 * ways with `$/cancelRequest`, strict validation of what arrives (a bad frame is answered, never
 * thrown), and, on close, every pending request rejected at once with -32004.
 */
export class RpcSession {
  readonly #transport: MessageTransport;
  readonly #options: SessionOptions;
  readonly #pending = new IdTable<OutgoingRequest>();
  readonly #incoming = new IdTable<IncomingRequest>();
  #nextId = 0;
  #closed: string | undefined;
  #badFrames = 0;
  peerName: string;
  /** When the last message arrived (performance.now()), for heartbeats. */
  lastSeen = performance.now();

  onRequest: (request: IncomingRequest) => void = (r) => this.respondError(r, new BusError(ErrorCode.MethodNotFound, `nobody serves '${r.method}'`));
  onNotification: (method: string, params: unknown) => void = () => {};
  onClose: (reason: string) => void = () => {};
  /** A bad frame arrived (already answered); for logs and stats. */
  onProtocolError: (detail: string) => void = () => {};
  /** The number of incoming requests not yet answered changed (flow control). */
  onInflight: (count: number) => void = () => {};

  constructor(transport: MessageTransport, options: SessionOptions) {
    this.#transport = transport;
    this.#options = options;
    this.peerName = options.peerName;
    transport.onMessage = (d) => this.#receive(d);
    transport.onClose = (reason) => this.#closeWith(reason);
  }

  get transport(): MessageTransport {
    return this.#transport;
  }
  get closed(): boolean {
    return this.#closed !== undefined;
  }
  get pendingCount(): number {
    return this.#pending.size;
  }
  get incomingCount(): number {
    return this.#incoming.size;
  }

  request(method: string, params: unknown, options: { timeoutMs?: number; signal?: AbortSignal; meta?: RequestMeta } = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.call(method, params, options, { answered: resolve, failed: reject });
    });
  }

  /**
   * Sends a request; `sink` hears the answer exactly once. Returns the entry (to cancel it), or
   * undefined when it failed at once (closed session, aborted signal).
   */
  call(method: string, params: unknown, options: { timeoutMs?: number; signal?: AbortSignal; meta?: RequestMeta }, sink: ResponseSink): OutgoingRequest | undefined {
    const signal = options.signal;
    if (signal?.aborted && this.#closed === undefined) {
      sink.failed(new RequestCancelledError(`'${method}' was cancelled before it was sent`, { method }));
      return undefined;
    }
    const meta = options.meta;
    let timeoutMs = options.timeoutMs ?? this.#options.defaultTimeoutMs;
    if (meta?.deadline !== undefined) timeoutMs = Math.min(timeoutMs, Math.max(0, meta.deadline - Date.now()));
    const entry = this.#send(method, params, performance.now() + timeoutMs, timeoutMs, meta?.traceparent ?? newTraceparent(), meta?.peer, sink);
    if (entry && signal) {
      entry.signal = signal;
      entry.onAbort = () => entry.cancel();
      signal.addEventListener('abort', entry.onAbort, { once: true });
    }
    return entry;
  }

  /** Sends a request the bus forwards (`call` without the options: this is every forwarded request's path). */
  forward(request: ForwardedRequest, params: unknown): OutgoingRequest | undefined {
    const timeoutMs = Math.max(0, request.deadline - request.started);
    return this.#send(request.method, params, request.deadline, timeoutMs, request.traceparent, request.peer, request);
  }

  #send(method: string, params: unknown, deadline: number, timeoutMs: number, traceparent: string, peer: string | undefined, sink: ResponseSink): OutgoingRequest | undefined {
    if (this.#closed !== undefined) {
      sink.failed(new PeerGoneError(`'${this.peerName}' is gone: ${this.#closed}`, { method, peer: this.peerName }));
      return undefined;
    }
    const id = ++this.#nextId;
    const entry = new OutgoingRequest(this, id, method, deadline, timeoutMs, sink);
    this.#pending.add(entry);
    this.#options.wheel.add(entry);
    const deadlineEpoch = Date.now() + timeoutMs;
    const t = this.#transport;
    if (t.sendJson) {
      t.sendJson(requestJson(id, method, params, traceparent, deadlineEpoch, peer));
    } else {
      const meta: RequestMeta = { traceparent, deadline: deadlineEpoch };
      if (peer !== undefined) meta.peer = peer;
      t.send(params === undefined ? { jsonrpc: '2.0', id, method, meta } : { jsonrpc: '2.0', id, method, params, meta });
    }
    return entry;
  }

  notify(method: string, params?: unknown): void {
    if (this.#closed !== undefined) return;
    this.#transport.send(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  respond(request: IncomingRequest, result: unknown): void {
    if (!this.#finish(request)) return;
    const t = this.#transport;
    if (t.sendJson) t.sendJson(responseJson(request.id, result === undefined ? null : result));
    else t.send({ jsonrpc: '2.0', id: request.id, result: result === undefined ? null : result });
  }

  respondError(request: IncomingRequest, error: BusError): void {
    if (!this.#finish(request)) return;
    this.#transport.send({ jsonrpc: '2.0', id: request.id, error: error.toJSON() });
  }

  /** Settles an outgoing request with an error; with `cancelRemote`, tells the other side to stop. */
  fail(entry: OutgoingRequest, error: BusError, cancelRemote: boolean): void {
    if (this.#pending.get(entry.id) !== entry) return;
    this.#settle(entry);
    if (cancelRemote) this.notify('$/cancelRequest', { id: entry.id });
    entry.sink.failed(error);
  }

  /** Closes the session: pending requests are rejected with -32004, incoming ones cancelled. */
  close(reason = 'closed'): void {
    if (this.#closed !== undefined) return;
    // The transport reports its own close at once ('closed by this side'): the reason given here
    // is the one pending calls and the owner hear (e.g. that the peer was a slow consumer).
    this.#transport.onClose = () => {};
    this.#transport.close();
    this.#closeWith(reason);
  }

  #finish(request: IncomingRequest): boolean {
    if (request.answered || request.cancelled || this.#closed !== undefined) return false;
    request.answered = true;
    this.#incoming.delete(request);
    this.onInflight(this.#incoming.size);
    return true;
  }

  #settle(entry: OutgoingRequest): void {
    this.#pending.delete(entry);
    this.#options.wheel.delete(entry);
    if (entry.signal) entry.signal.removeEventListener('abort', entry.onAbort!);
  }

  #closeWith(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    const gone = (method: string) => new PeerGoneError(`'${this.peerName}' is gone (${reason}) with '${method}' unanswered`, { method, peer: this.peerName });
    for (const entry of this.#pending.values()) {
      this.#settle(entry);
      entry.sink.failed(gone(entry.method));
    }
    for (const req of this.#incoming.values()) {
      req.cancelled = true;
      req.onCancel?.requestCancelled();
    }
    this.#incoming.clear();
    this.onClose(reason);
  }

  #bad(id: RequestId | null, error: BusError): void {
    this.#transport.send({ jsonrpc: '2.0', id, error: error.toJSON() });
    this.onProtocolError(error.message);
    if (++this.#badFrames > (this.#options.maxBadFrames ?? 100)) this.close(`more than ${this.#options.maxBadFrames ?? 100} bad frames in a row`);
  }

  #receive(d: Decoded): void {
    this.lastSeen = performance.now();
    if (d.kind === 'error') {
      if (d.error === 'too-large') {
        const id = d.id ?? null;
        const entry = typeof id === 'number' ? this.#pending.get(id) : undefined;
        if (entry) this.fail(entry, new MessageTooLargeError(`the answer to '${entry.method}' was larger than the frame limit`, { method: entry.method }), false);
        return this.#bad(id, new MessageTooLargeError(d.detail));
      }
      return this.#bad(null, new BusError(ErrorCode.ParseError, `parse error: ${d.detail}`));
    }
    const m = d.message as Record<string, unknown>;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      return this.#bad(null, new BusError(ErrorCode.InvalidRequest, Array.isArray(m) ? 'invalid request: batches are not supported' : 'invalid request: not a JSON-RPC object'));
    }
    const id = m.id;
    const validId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
    if (m.jsonrpc !== '2.0') return this.#bad(validId ? (id as RequestId) : null, new BusError(ErrorCode.InvalidRequest, 'invalid request: "jsonrpc" must be "2.0"'));
    const method = m.method;
    if (method !== undefined) {
      if (typeof method !== 'string' || method.length === 0) return this.#bad(validId ? (id as RequestId) : null, new BusError(ErrorCode.InvalidRequest, 'invalid request: "method" must be a non-empty string'));
      if (id === undefined) {
        this.#badFrames = 0;
        if (method === '$/cancelRequest') return this.#cancelIncoming((m.params as { id?: RequestId } | undefined)?.id);
        return this.onNotification(method, m.params);
      }
      if (!validId) return this.#bad(null, new BusError(ErrorCode.InvalidRequest, 'invalid request: "id" must be a string or a number'));
      if (this.#incoming.has(id as RequestId)) return this.#bad(id as RequestId, new BusError(ErrorCode.InvalidRequest, `invalid request: id ${JSON.stringify(id)} is already in use`));
      this.#badFrames = 0;
      const req = new IncomingRequest(id as RequestId, method, m.params, m.meta);
      this.#incoming.add(req);
      this.onInflight(this.#incoming.size);
      return this.onRequest(req);
    }
    if (validId && ('result' in m || 'error' in m)) {
      this.#badFrames = 0;
      const entry = typeof id === 'number' ? this.#pending.get(id) : undefined;
      if (!entry) return; // an answer after a timeout or a cancel: dropped
      this.#settle(entry);
      if ('error' in m) {
        const e = m.error as Record<string, unknown> | null;
        entry.sink.failed(e && typeof e === 'object' ? fromWire(e) : new BusError(ErrorCode.InternalError, `'${entry.method}' failed with a malformed error`));
      } else {
        entry.sink.answered(m.result);
      }
      return;
    }
    this.#bad(validId ? (id as RequestId) : null, new BusError(ErrorCode.InvalidRequest, 'invalid request: neither a request, a notification nor a response'));
  }

  #cancelIncoming(id: RequestId | undefined): void {
    if (id === undefined) return;
    const req = this.#incoming.get(id);
    if (!req || req.answered) return;
    this.respondError(req, new RequestCancelledError(`'${req.method}' was cancelled by the caller`, { method: req.method }));
    req.cancelled = true;
    req.onCancel?.requestCancelled();
  }
}
