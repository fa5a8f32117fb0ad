/**
 * The JSON of the messages every call sends, built from their parts: byte for byte what
 * JSON.stringify writes for the message object (test/bus/encoding.test.ts), without walking the
 * envelope and the nested meta key by key (a benchmark request: 0.81 -> 0.35 us to encode).
 * Byte-stream transports take them as text (sendJson); ports still get the objects.
 */
import type { BusError } from './errors.js';
import type { IncomingRequest, RequestId } from './requests.js';
import type { MessageTransport } from './transport.js';

/** Text that needs no escaping in a JSON string: printable ASCII but `"` and `\\`. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `s` as JSON.stringify writes it. */
export function jsonString(s: string): string {
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
export function responseText(idText: string, result: unknown): string {
  if (hasToJSON(result)) return `{"jsonrpc":"2.0","id":${idText},"result":${JSON.stringify({ result }).slice(10, -1)}}`;
  const r = JSON.stringify(result) as string | undefined;
  return `{"jsonrpc":"2.0","id":${idText}${r === undefined ? '' : `,"result":${r}`}}`;
}

/** An error response; data that cannot be encoded (cyclic, a BigInt, too deep) is left out rather than lose the answer. */
export function errorText(idText: string, error: BusError): string {
  let e: string;
  try {
    e = JSON.stringify(error.toJSON());
  } catch {
    e = JSON.stringify({ code: error.code, message: error.message });
  }
  return `{"jsonrpc":"2.0","id":${idText},"error":${e}}`;
}

/** The JSON text of a request's id: as it was sent. */
export function idText(request: IncomingRequest): string {
  if (request.rawId !== undefined) return request.rawId;
  const id = request.id;
  return typeof id === 'number' ? String(id) : jsonString(id);
}

/** An error object's message, for a log line. */
export function describeError(e: unknown): string {
  const message = e && typeof e === 'object' ? (e as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message.slice(0, 200) : 'an error without a message';
}


/** A message's JSON sent as text where the transport takes text, else as the object. */
export function sendText(t: MessageTransport, json: string): void {
  if (t.sendJson) t.sendJson(json);
  else t.send(JSON.parse(json) as object);
}

/** What is wrong with an answer to one of this side's requests, if anything. */
export function answerProblem(m: Record<string, unknown>): string | undefined {
  const hasResult = 'result' in m;
  const hasError = 'error' in m;
  const e = m.error;
  if (m.jsonrpc !== '2.0') return '"jsonrpc" is not "2.0"';
  if (hasResult && hasError) return 'both "result" and "error"';
  if (!hasResult && !hasError) return 'neither "result" nor "error"';
  if (hasError && (e === null || typeof e !== 'object' || Array.isArray(e))) return '"error" is not an object';
  return undefined;
}
