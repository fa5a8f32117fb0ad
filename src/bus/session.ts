import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import { SMALL_FRAME, type Decoded } from './framing.js';
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
  /** The id's text as sent, when JSON.stringify(id) would not write it back so (docs/protocol.md: ids come back exactly as sent). */
  rawId: string | undefined = undefined;
  /** What holding it costs (its frame's size): counted against its sender's budget until answered. */
  bytes = 0;
  /** The batch it came in, whose answer collects its response. */
  batch: Batch | undefined = undefined;
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
  return responseText(typeof id === 'number' ? String(id) : jsonString(id), result);
}

/** The response with the id's JSON text given (as the request wrote it). */
function responseText(idText: string, result: unknown): string {
  if (hasToJSON(result)) return `{"jsonrpc":"2.0","id":${idText},"result":${JSON.stringify({ result }).slice(10, -1)}}`;
  const r = JSON.stringify(result) as string | undefined;
  return `{"jsonrpc":"2.0","id":${idText}${r === undefined ? '' : `,"result":${r}`}}`;
}

/** An error response; data that cannot be encoded (cyclic, a BigInt, too deep) is left out rather than lose the answer. */
function errorText(idText: string, error: BusError): string {
  let e: string;
  try {
    e = JSON.stringify(error.toJSON());
  } catch {
    e = JSON.stringify({ code: error.code, message: error.message });
  }
  return `{"jsonrpc":"2.0","id":${idText},"error":${e}}`;
}

/** The JSON text of a request's id: as it was sent. */
function idText(request: IncomingRequest): string {
  if (request.rawId !== undefined) return request.rawId;
  const id = request.id;
  return typeof id === 'number' ? String(id) : jsonString(id);
}

/** An error object's message, for a log line. */
function describeError(e: unknown): string {
  const message = e && typeof e === 'object' ? (e as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message.slice(0, 200) : 'an error without a message';
}

/** Elements a batch may have (docs/protocol.md): each is answered, so this bounds one frame's work and answer. */
export const MAX_BATCH = 1024;

/** A batch being answered (JSON-RPC 2.0 section 6): the responses of its elements, sent as one array once all are in. */
export class Batch {
  /** Requests of it not answered yet. */
  pending = 0;
  /** Every element has been read. */
  sealed = false;
  sent = false;
  /** An element was invalid (reported once for the whole batch). */
  bad = false;
  readonly out: string[] = [];
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
  /** The sizes of the other side's requests not answered yet (its budget: what this side holds for it). */
  #incomingBytes = 0;
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
  /** A batch arrived: true to read it (the bus refuses one before hello, and closes the connection). */
  onBatch: () => boolean = () => true;

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
  /** Bytes of the other side's requests held until they are answered. */
  get incomingBytes(): number {
    return this.#incomingBytes;
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
    const deadlineEpoch = Date.now() + timeoutMs;
    const t = this.#transport;
    let json: string | undefined;
    if (t.sendJson) {
      try {
        json = requestJson(id, method, params, traceparent, deadlineEpoch, peer);
      } catch (err) {
        // Cyclic, a BigInt, nested past what JSON.stringify's recursion can take: the caller's error, never the process's.
        sink.failed(new BusError(ErrorCode.InvalidParams, `the params of '${method}' cannot be sent as JSON: ${err instanceof Error ? err.message : String(err)}`, { method }));
        return undefined;
      }
    }
    const entry = new OutgoingRequest(this, id, method, deadline, timeoutMs, sink);
    this.#pending.add(entry);
    this.#options.wheel.add(entry);
    if (json !== undefined) {
      t.sendJson!(json);
    } else {
      const meta: RequestMeta = { traceparent, deadline: deadlineEpoch };
      if (peer !== undefined) meta.peer = peer;
      t.send(params === undefined ? { jsonrpc: '2.0', id, method, meta } : { jsonrpc: '2.0', id, method, params, meta });
    }
    return entry;
  }

  notify(method: string, params?: unknown): void {
    if (this.#closed !== undefined) return;
    try {
      this.#transport.send(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
    } catch (err) {
      // Data that cannot be encoded: a notification has nobody to tell but the log.
      this.onProtocolError(`notification '${method}' not sent: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  respond(request: IncomingRequest, result: unknown): void {
    if (!this.#finish(request)) return;
    const t = this.#transport;
    const value = result === undefined ? null : result;
    if (!t.sendJson && !request.batch) return t.send({ jsonrpc: '2.0', id: request.id, result: value });
    let json: string;
    try {
      json = request.rawId === undefined ? responseJson(request.id, value) : responseText(request.rawId, value);
    } catch (err) {
      json = errorText(idText(request), new BusError(ErrorCode.InternalError, `the result of '${request.method}' cannot be sent as JSON: ${err instanceof Error ? err.message : String(err)}`, { method: request.method }));
    }
    this.#out(request.batch, json);
  }

  respondError(request: IncomingRequest, error: BusError): void {
    if (!this.#finish(request)) return;
    const t = this.#transport;
    if (!t.sendJson && !request.batch) return t.send({ jsonrpc: '2.0', id: request.id, error: error.toJSON() });
    this.#out(request.batch, errorText(idText(request), error));
  }

  /** A response's JSON: sent, or kept for the answer of its batch. */
  #out(batch: Batch | undefined, json: string): void {
    if (!batch) {
      const t = this.#transport;
      if (t.sendJson) t.sendJson(json);
      else t.send(JSON.parse(json) as object);
      return;
    }
    batch.out.push(json);
    this.#flushBatch(batch);
  }

  #flushBatch(batch: Batch): void {
    if (!batch.sealed || batch.pending > 0 || batch.sent || this.#closed !== undefined) return;
    batch.sent = true;
    // Nothing at all for a batch of notifications (section 6).
    if (!batch.out.length) return;
    const json = `[${batch.out.join(',')}]`;
    const t = this.#transport;
    if (t.sendJson) t.sendJson(json);
    else t.send(JSON.parse(json) as object);
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
    this.#incomingBytes -= request.bytes;
    if (request.batch) request.batch.pending--;
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
    this.#incomingBytes = 0;
    this.onClose(reason);
  }

  /** Answers a bad frame (with the id's text, or `null` when it has none), reported; too many in a row close the session. */
  #bad(id: string, error: BusError, batch?: Batch): void {
    if (batch) {
      // Counted once for the whole batch, when it has been read.
      batch.bad = true;
      return this.#out(batch, errorText(id, error));
    }
    this.#out(undefined, errorText(id, error));
    this.#reportBad(error.message);
  }

  #reportBad(detail: string): void {
    this.onProtocolError(detail);
    const max = this.#options.maxBadFrames ?? 100;
    if (++this.#badFrames > max) this.close(`more than ${max} bad frames in a row`);
  }

  #receive(d: Decoded): void {
    this.lastSeen = performance.now();
    if (d.kind === 'error') return this.#refused(d);
    const m = d.message;
    if (Array.isArray(m)) return this.#batch(m, d.rawIds, d.bytes ?? SMALL_FRAME);
    this.#one(m, d.rawId, d.bytes ?? SMALL_FRAME, undefined);
  }

  /** A frame refused before (or instead of) parsing it: too large, too deep, not JSON, a bad header. */
  #refused(d: Decoded & { kind: 'error' }): void {
    if (d.answer) return this.#refusedAnswer(d, d.id, d.rawId, true);
    if (d.error === 'parse' || d.error === 'header') return this.#bad('null', new BusError(ErrorCode.ParseError, `parse error: ${d.detail}`));
    const error = (detail: string) => (d.error === 'too-large' ? new MessageTooLargeError(detail) : new BusError(ErrorCode.InvalidRequest, `invalid request: ${detail}`));
    if (d.elements) return this.#refusedBatch(d, error);
    const id = d.id === undefined ? 'null' : (d.rawId ?? JSON.stringify(d.id));
    this.#bad(id, error(d.detail));
  }

  /**
   * An answer to one of this side's requests, refused unparsed: its id is this side's, never a
   * request of theirs to answer. The call it answers fails at once; the other side is told by a
   * notification (an error response to an answer could be answered back, without end).
   */
  #refusedAnswer(d: Decoded & { kind: 'error' }, id: string | number | undefined, rawId: string | undefined, alone: boolean): void {
    let entry = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!entry && alone && id === undefined && d.error === 'too-large' && this.#pending.size === 1) for (const only of this.#pending.values()) entry = only;
    const tooLarge = d.error === 'too-large';
    if (entry) {
      const why = `the answer from '${this.peerName}' to '${entry.method}' was refused: ${d.detail}`;
      this.fail(entry, tooLarge ? new MessageTooLargeError(why, { method: entry.method, peer: this.peerName }) : new BusError(ErrorCode.InternalError, `malformed answer: ${why}`, { method: entry.method, peer: this.peerName }), false);
    }
    this.notify('symphony.error', { code: tooLarge ? ErrorCode.MessageTooLarge : d.error === 'parse' ? ErrorCode.ParseError : ErrorCode.InvalidRequest, message: `an answer${id !== undefined ? ` (to request ${rawId ?? JSON.stringify(id)})` : ''} was refused: ${d.detail}` });
    if (alone) this.#reportBad(`answer refused: ${d.detail}`);
  }

  /**
   * A batch refused whole (too large, too deep): each request in it is still answered, with its
   * id, in one array (JSON-RPC 2.0 section 6), so a client waiting for its batch hears every call;
   * answers in it fail the calls they answer. Nothing found to answer: one error with id null.
   */
  #refusedBatch(d: Decoded & { kind: 'error' }, error: (detail: string) => BusError): void {
    const out: string[] = [];
    const e = error(`the batch ${d.detail}`);
    for (const el of d.elements!) {
      if (el.answer) this.#refusedAnswer(d, el.id, el.rawId, false);
      else if (el.id !== undefined) out.push(errorText(el.rawId ?? JSON.stringify(el.id), e));
    }
    if (!out.length) return this.#bad('null', error(d.detail));
    const t = this.#transport;
    const json = `[${out.join(',')}]`;
    if (t.sendJson) t.sendJson(json);
    else t.send(JSON.parse(json) as object);
    this.#reportBad(`batch refused: ${d.detail}`);
  }

  /** A batch (JSON-RPC 2.0 section 6): each element as if alone, the responses as one array. */
  #batch(list: unknown[], rawIds: (string | undefined)[] | undefined, bytes: number): void {
    if (!list.length) return this.#bad('null', new BusError(ErrorCode.InvalidRequest, 'invalid request: an empty batch'));
    if (!this.onBatch()) return;
    if (list.length > MAX_BATCH) return this.#bad('null', new BusError(ErrorCode.InvalidRequest, `invalid request: a batch of ${list.length} elements (at most ${MAX_BATCH})`));
    const batch = new Batch();
    const share = Math.ceil(bytes / list.length);
    for (let i = 0; i < list.length; i++) {
      if (this.#closed !== undefined) return;
      this.#one(list[i], rawIds?.[i], share, batch);
    }
    batch.sealed = true;
    if (batch.bad) this.#reportBad('a batch with invalid elements');
    this.#flushBatch(batch);
  }

  #one(message: unknown, rawId: string | undefined, bytes: number, batch: Batch | undefined): void {
    const m = message as Record<string, unknown>;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      return this.#bad('null', new BusError(ErrorCode.InvalidRequest, 'invalid request: not a JSON-RPC object'), batch);
    }
    const id = m.id;
    const validId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
    const method = m.method;
    if (method === undefined) {
      // Not a request. An answer (or what was meant as one) is never answered back, whatever is
      // wrong with it: two sides answering each other's errors would never stop.
      if ('result' in m || 'error' in m || (typeof id === 'number' && this.#pending.has(id))) return this.#answer(m, id);
      return this.#bad('null', new BusError(ErrorCode.InvalidRequest, 'invalid request: neither a request, a notification nor a response'), batch);
    }
    const idJson = validId ? (rawId ?? (typeof id === 'number' ? String(id) : jsonString(id as string))) : 'null';
    if (m.jsonrpc !== '2.0') return this.#bad(idJson, new BusError(ErrorCode.InvalidRequest, 'invalid request: "jsonrpc" must be "2.0"'), batch);
    if (typeof method !== 'string' || method.length === 0) return this.#bad(idJson, new BusError(ErrorCode.InvalidRequest, 'invalid request: "method" must be a non-empty string'), batch);
    if (id === undefined) {
      if (!batch) this.#badFrames = 0;
      if (method === '$/cancelRequest') return this.#cancelIncoming((m.params as { id?: RequestId } | undefined)?.id);
      return this.onNotification(method, m.params);
    }
    if (!validId) return this.#bad('null', new BusError(ErrorCode.InvalidRequest, id === null ? 'invalid request: "id" null is not served (its answer could not be told from an error about an unreadable request): use a string or a number' : 'invalid request: "id" must be a string or a number'), batch);
    // An integer past 2^53 (and 1e3 beside 1000) is keyed by its text: two such ids never collide.
    const key: RequestId = rawId !== undefined && typeof id === 'number' ? `\u0000${rawId}` : (id as RequestId);
    if (this.#incoming.has(key)) return this.#bad(idJson, new BusError(ErrorCode.InvalidRequest, `invalid request: id ${idJson} is already in use`), batch);
    if (!batch) this.#badFrames = 0;
    const req = new IncomingRequest(key, method, m.params, m.meta);
    req.rawId = rawId;
    req.bytes = bytes;
    if (batch) {
      req.batch = batch;
      batch.pending++;
    }
    this.#incoming.add(req);
    this.#incomingBytes += bytes;
    this.onInflight(this.#incoming.size);
    return this.onRequest(req);
  }

  /** An answer to one of this side's requests: settles it, or fails it at once when it is malformed. */
  #answer(m: Record<string, unknown>, id: unknown): void {
    const entry = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!entry) {
      // Late (after a timeout or a cancel), or an error about a frame of ours it could not read.
      if (id === null && 'error' in m) this.onProtocolError(`'${this.peerName}' reported: ${describeError(m.error)}`);
      return;
    }
    this.#badFrames = 0;
    const hasResult = 'result' in m;
    const hasError = 'error' in m;
    const e = m.error as Record<string, unknown> | null | undefined;
    let wrong: string | undefined;
    if (m.jsonrpc !== '2.0') wrong = '"jsonrpc" is not "2.0"';
    else if (hasResult && hasError) wrong = 'both "result" and "error"';
    else if (!hasResult && !hasError) wrong = 'neither "result" nor "error"';
    else if (hasError && (e === null || typeof e !== 'object' || Array.isArray(e))) wrong = '"error" is not an object';
    if (wrong) {
      this.#settle(entry);
      this.onProtocolError(`malformed answer from '${this.peerName}': ${wrong}`);
      return entry.sink.failed(new BusError(ErrorCode.InternalError, `malformed answer from '${this.peerName}' to '${entry.method}': ${wrong}`, { method: entry.method, peer: this.peerName }));
    }
    this.#settle(entry);
    if (hasError) entry.sink.failed(fromWire(e!));
    else entry.sink.answered(m.result);
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
