/**
 * A call in flight through the bus, and the `ctx` an in-process handler gets for it.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import type { HandlerContext } from './api.js';
import type { DeadlineEntry, DeadlineWheel } from './deadlines.js';
import type { Endpoint } from './endpoint.js';
import { ErrorCode, RequestCancelledError, TimeoutError, type BusError } from './errors.js';
import { newTraceparent, type CancelListener, type ForwardedRequest, type IncomingRequest, type OutgoingRequest } from './session.js';


/**
 * One request in flight through the bus, from its caller to whoever serves it. The call itself
 * holds who waits for the answer (an in-process caller's promise, or a peer's request to answer on
 * its session) rather than a callback: no closure per call on this path.
 */
/** What few calls carry: kept apart, so that the common call is a smaller object (less to allocate and collect). */
class CallRare {
  /** Made by notifyAs: nobody waits for an answer, and a reservation delivers it as a notification. */
  notification = false;
  /** The handler's AbortSignal, made only if it asks for one. */
  controller: AbortController | undefined = undefined;
  /** The request to the serving peer, when a peer serves it. */
  downstream: OutgoingRequest | undefined = undefined;
  /** A peer caller: its request, answered on its session. */
  origin: IncomingRequest | undefined = undefined;
  /** The caller's AbortSignal and the listener on it, removed once the call is over. */
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** Whom the call is for, when a deputy makes it (RequestOptions.onBehalfOf). */
  principal: string | undefined = undefined;
}

export class Call implements DeadlineEntry, ForwardedRequest, CancelListener {
  wheelKey?: number;
  settled = false;
  /** An in-process caller (requestAs): its promise. */
  resolve: ((value: unknown) => void) | undefined = undefined;
  reject: ((error: BusError) => void) | undefined = undefined;
  #rare: CallRare | undefined = undefined;
  get #more(): CallRare {
    return (this.#rare ??= new CallRare());
  }
  get notification(): boolean {
    return this.#rare?.notification ?? false;
  }
  set notification(v: boolean) {
    this.#more.notification = v;
  }
  get controller(): AbortController | undefined {
    return this.#rare?.controller;
  }
  set controller(v: AbortController | undefined) {
    this.#more.controller = v;
  }
  get downstream(): OutgoingRequest | undefined {
    return this.#rare?.downstream;
  }
  set downstream(v: OutgoingRequest | undefined) {
    if (v !== undefined || this.#rare) this.#more.downstream = v;
  }
  get origin(): IncomingRequest | undefined {
    return this.#rare?.origin;
  }
  set origin(v: IncomingRequest | undefined) {
    this.#more.origin = v;
  }
  get signal(): AbortSignal | undefined {
    return this.#rare?.signal;
  }
  set signal(v: AbortSignal | undefined) {
    this.#more.signal = v;
  }
  get onAbort(): (() => void) | undefined {
    return this.#rare?.onAbort;
  }
  set onAbort(v: (() => void) | undefined) {
    this.#more.onAbort = v;
  }
  get principal(): string | undefined {
    return this.#rare?.principal;
  }
  set principal(v: string | undefined) {
    this.#more.principal = v;
  }
  /** Its place in the target's CallList. */
  prev: Call | undefined = undefined;
  next: Call | undefined = undefined;
  listed = false;
  #traceparent: string | undefined;
  /**
   * `performance.now()` when the call began, undefined until someone needs it: a clock read costs about
   * as much as an `await fn()`, and most calls are answered before anyone looks. It is read (the
   * call "pinned") when the call is timed for the latency sample, when its handler asks for its
   * deadline, when it is forwarded to a peer, or at the wheel's first tick after it began (so its
   * deadline counts from then: never early, and while the event loop turns, at most a tick later
   * than from its true start, so it fires at most two ticks late).
   */
  #started: number | undefined;
  /** Whole milliseconds most often: a field that also held `undefined` (shapeKeeper) stores those unboxed. */
  #timeoutMs: number;
  /** In the latency sample: its latency is recorded when it settles (else only counted). A call made with its start read is. */
  timed: boolean;
  constructor(
    readonly wheel: DeadlineWheel,
    readonly from: Endpoint,
    readonly target: Endpoint,
    readonly method: string,
    /** performance.now() when the call began (latency) and when it expires. */
    started: number,
    deadline: number,
    traceparent: string | undefined,
  ) {
    this.#traceparent = traceparent;
    this.#started = started;
    this.#timeoutMs = deadline - started;
    this.timed = true;
  }
  /** A call whose start is read only when needed (see #started), due `timeoutMs` after it. */
  static unclocked(wheel: DeadlineWheel, from: Endpoint, target: Endpoint, method: string, timeoutMs: number, traceparent: string | undefined): Call {
    const call = new Call(wheel, from, target, method, 0, timeoutMs, traceparent);
    call.#started = undefined;
    call.timed = false;
    return call;
  }
  /** Puts the call in the latency sample: its start is read now. */
  sample(): void {
    this.timed = true;
    this.#started ??= performance.now();
  }
  /** performance.now() when the call began (read now if nobody read it yet). */
  get started(): number {
    return (this.#started ??= performance.now());
  }
  /** performance.now() at which it expires. */
  get deadline(): number {
    return this.started + this.#timeoutMs;
  }
  /** The caller's trace context, or a new one, made only when someone reads it (a peer, a handler). */
  get traceparent(): string {
    return (this.#traceparent ??= newTraceparent());
  }
  /** The wheel filed it (pending past a tick, or flushed): it joins its target's list (see CallList). */
  filed(): void {
    this.target.calls.link(this);
  }
  expire(): void {
    this.target.timeouts++;
    this.fail(new TimeoutError(`'${this.method}' (served by '${this.target.name}') did not answer within ${Math.round(this.#timeoutMs)}ms`, { method: this.method, peer: this.target.name }));
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
    const rare = this.#rare;
    if (rare) {
      rare.controller?.abort(error);
      rare.downstream?.cancel(error.message);
    }
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
    this.wheel.delete(this);
    this.target.calls.delete(this);
    if (this.timed) this.target.latency.record(performance.now() - this.started);
    else this.target.latency.skip();
  }
  /**
   * A call that lives as long as the class, so the shape of calls survives a full GC. V8 holds an
   * object shape (hidden class) only weakly once no object has it: a full GC while no call was in
   * flight collected the calls' shapes and threw away every function optimized for them (`node
   * --trace-deopt`: "weak objects"), and the next thousands of calls ran unoptimized (the first
   * 20,000 in-process calls after a GC took 4-8 µs each instead of under 1 µs). Its fields hold
   * the kinds of values real calls hold (fractional times), or it would get a shape of its own;
   * its timeout once held `undefined`, so that field is a tagged one, where the usual whole
   * milliseconds are stored unboxed (a double field boxes every value: an allocation per call).
   */
  static readonly shapeKeeper = Call.#keeper();
  static #keeper(): Call {
    const keeper = new Call(undefined as never, undefined as never, undefined as never, '', performance.now() + 0.5, performance.now() + 1.25, undefined);
    keeper.#timeoutMs = undefined as never;
    keeper.#timeoutMs = 0.75;
    return keeper;
  }
  #answer(error: BusError | undefined, value: unknown): void {
    const rare = this.#rare;
    if (rare?.onAbort) rare.signal!.removeEventListener('abort', rare.onAbort);
    const origin = rare?.origin;
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
export class LocalHandlerContext implements HandlerContext {
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
  get operator(): boolean {
    const { from, principal } = this.call;
    return principal === undefined && (from.identity ? from.identity.operator : from.kind === 'local' && from.grants.all);
  }
}
