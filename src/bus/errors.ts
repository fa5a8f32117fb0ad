/** JSON-RPC error codes of the bus (docs/protocol.md). */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  RequestCancelled: -32800,
  Unauthorized: -32001,
  Forbidden: -32002,
  Timeout: -32003,
  PeerGone: -32004,
  Overloaded: -32005,
  MessageTooLarge: -32006,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Every failed request rejects with a BusError (or a subclass) whose `code` is the JSON-RPC code. */
export class BusError extends Error {
  override name = 'BusError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  toJSON(): { code: number; message: string; data?: unknown } {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data };
  }
}

export class ParseError extends BusError {
  override name = 'ParseError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.ParseError, message, data);
  }
}
export class InvalidRequestError extends BusError {
  override name = 'InvalidRequestError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.InvalidRequest, message, data);
  }
}
export class MethodNotFoundError extends BusError {
  override name = 'MethodNotFoundError';
  constructor(readonly method: string) {
    super(ErrorCode.MethodNotFound, `nobody serves '${method}'`, { method });
  }
}
export class InvalidParamsError extends BusError {
  override name = 'InvalidParamsError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.InvalidParams, message, data);
  }
}
export class InternalError extends BusError {
  override name = 'InternalError';
  constructor(message: string, data?: unknown, options?: { cause?: unknown }) {
    super(ErrorCode.InternalError, message, data, options);
  }
}
export class RequestCancelledError extends BusError {
  override name = 'RequestCancelledError';
  constructor(message = 'request cancelled', data?: unknown) {
    super(ErrorCode.RequestCancelled, message, data);
  }
}
export class UnauthorizedError extends BusError {
  override name = 'UnauthorizedError';
  constructor(message = 'unauthorized: say symphony.hello with a valid token first') {
    super(ErrorCode.Unauthorized, message);
  }
}
export class ForbiddenError extends BusError {
  override name = 'ForbiddenError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.Forbidden, message, data);
  }
}
export class TimeoutError extends BusError {
  override name = 'TimeoutError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.Timeout, message, data);
  }
}
export class PeerGoneError extends BusError {
  override name = 'PeerGoneError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.PeerGone, message, data);
  }
}
export class OverloadedError extends BusError {
  override name = 'OverloadedError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.Overloaded, message, data);
  }
}
export class MessageTooLargeError extends BusError {
  override name = 'MessageTooLargeError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.MessageTooLarge, message, data);
  }
}

const BY_CODE: Record<number, new (message: string, data?: unknown) => BusError> = {
  [ErrorCode.ParseError]: ParseError,
  [ErrorCode.InvalidRequest]: InvalidRequestError,
  [ErrorCode.InvalidParams]: InvalidParamsError,
  [ErrorCode.InternalError]: InternalError,
  [ErrorCode.RequestCancelled]: RequestCancelledError,
  [ErrorCode.Unauthorized]: UnauthorizedError,
  [ErrorCode.Forbidden]: ForbiddenError,
  [ErrorCode.Timeout]: TimeoutError,
  [ErrorCode.PeerGone]: PeerGoneError,
  [ErrorCode.Overloaded]: OverloadedError,
  [ErrorCode.MessageTooLarge]: MessageTooLargeError,
};

/** The typed error for a JSON-RPC error object received from the wire. */
export function fromWire(error: { code?: unknown; message?: unknown; data?: unknown }): BusError {
  const code = typeof error.code === 'number' ? error.code : ErrorCode.InternalError;
  const message = typeof error.message === 'string' ? error.message : 'error without a message';
  if (code === ErrorCode.MethodNotFound) {
    const method = (error.data as { method?: unknown } | undefined)?.method;
    const e = new MethodNotFoundError(typeof method === 'string' ? method : '?');
    e.message = message;
    return e;
  }
  const Cls = BY_CODE[code];
  return Cls ? new Cls(message, error.data) : new BusError(code, message, error.data);
}

/** What a handler threw, as a BusError: BusErrors keep their code, anything else is -32603. */
export function toBusError(err: unknown, method: string): BusError {
  if (err instanceof BusError) return err;
  if (err instanceof Error) return new InternalError(`${method}: ${err.name}: ${err.message}`, { method }, { cause: err });
  return new InternalError(`${method}: handler threw ${typeof err === 'string' ? err : JSON.stringify(err) ?? String(err)}`, { method });
}
