import type { HandlerContext } from '../api.js';
import { RequestCancelledError } from '../errors.js';
import { IncomingRequest, type CancelListener } from '../session.js';

/** What a handler served in a peer's process sees of the request it answers. */
export class RemoteHandlerContext implements HandlerContext, CancelListener {
  #controller: AbortController | undefined;
  readonly #deadlineEpoch: number;
  constructor(
    readonly request: IncomingRequest,
    defaultTimeoutMs: number,
  ) {
    this.#deadlineEpoch = request.deadline ?? Date.now() + defaultTimeoutMs;
    request.onCancel = this;
  }
  /** The bus cancelled the request (its caller did, or the deadline passed). */
  requestCancelled(): void {
    this.#controller?.abort(new RequestCancelledError(`'${this.request.method}' was cancelled`));
  }
  get method(): string {
    return this.request.method;
  }
  get done(): boolean {
    return this.request.cancelled || this.request.answered || Date.now() >= this.#deadlineEpoch;
  }
  get peer(): string {
    return this.request.peer ?? 'bus';
  }
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.request.cancelled) this.#controller.abort(new RequestCancelledError(`'${this.request.method}' was cancelled`));
    }
    return this.#controller.signal;
  }
  get deadline(): number {
    return this.#deadlineEpoch;
  }
  remainingMs(): number {
    return Math.max(0, this.#deadlineEpoch - Date.now());
  }
  get traceparent(): string {
    return this.request.traceparent ?? '';
  }
  /** Keeps the shape of contexts across a full GC (see OutgoingRequest.shapeKeeper in session.ts). */
  static readonly shapeKeeper = new RemoteHandlerContext(new IncomingRequest(0, '', undefined, { deadline: Date.now() + 0.5 }), 0);
}
