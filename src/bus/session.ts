import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import { SMALL_FRAME, type Decoded } from './decoded.js';
import type { DeadlineWheel } from './deadlines.js';
import { answerProblem, describeError, errorText, idText, jsonString, requestJson, responseJson, responseText, sendText } from './envelopes.js';
import { BusError, ErrorCode, fromWire, MessageTooLargeError, PeerGoneError, RequestCancelledError } from './errors.js';
import { IdTable } from './idtable.js';
import { Batch, IncomingRequest, OutgoingRequest, type RequestId, type RequestMeta, type ResponseSink, type ForwardedRequest } from './requests.js';
import { newTraceparent } from './trace.js';
import type { MessageTransport } from './transport.js';

// The session's face: what the rest of the bus (and its tests) import from here.
export { requestJson, responseJson } from './envelopes.js';
export { Batch, IncomingRequest, OutgoingRequest, type CancelListener, type ForwardedRequest, type RequestId, type RequestMeta, type ResponseSink } from './requests.js';
export { newTraceparent } from './trace.js';

/** Elements a batch may have (docs/protocol.md): each is answered, so this bounds one frame's work and answer. */
export const MAX_BATCH = 1024;

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
    if (!batch) return sendText(this.#transport, json);
    batch.out.push(json);
    this.#flushBatch(batch);
  }

  #flushBatch(batch: Batch): void {
    if (!batch.sealed || batch.pending > 0 || batch.sent || this.#closed !== undefined) return;
    batch.sent = true;
    // Nothing at all for a batch of notifications (section 6).
    if (!batch.out.length) return;
    sendText(this.#transport, `[${batch.out.join(',')}]`);
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
    sendText(this.#transport, `[${out.join(',')}]`);
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
    const wrong = answerProblem(m);
    if (wrong) {
      this.#settle(entry);
      this.onProtocolError(`malformed answer from '${this.peerName}': ${wrong}`);
      return entry.sink.failed(new BusError(ErrorCode.InternalError, `malformed answer from '${this.peerName}' to '${entry.method}': ${wrong}`, { method: entry.method, peer: this.peerName }));
    }
    this.#settle(entry);
    if ('error' in m) entry.sink.failed(fromWire(m.error as Record<string, unknown>));
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
