/**
 * The requests a session holds: those received from the other side until they are answered or
 * cancelled, those sent until their answer (or deadline, or cancel) settles them, and the batches
 * whose answers are collected into one array.
 */
import { performance } from 'node:perf_hooks'; // not the global: in Node 20 that is a getter run on every clock read
import type { DeadlineEntry } from './deadlines.js';
import { RequestCancelledError, TimeoutError, type BusError } from './errors.js';
import type { RpcSession } from './session.js';

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

