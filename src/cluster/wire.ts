import { BusError, ErrorCode, MethodNotFoundError } from '../bus/index.js';

/*
 * What nodes say to each other over NATS. Every subject starts with the cluster's prefix (a node's
 * NATS permissions are PREFIX.>):
 *
 *   PREFIX.call.METHOD              a request for METHOD; its providers share it (one queue group)
 *   PREFIX.node.NODE.call.METHOD    a request for METHOD on one node (symphony ps, chunked requests)
 *   PREFIX.want.METHOD              who serves METHOD? (asked when nobody answered PREFIX.call.METHOD)
 *   PREFIX.cancel                   the caller gave up on a request
 *   PREFIX.reply.NODE.NONCE.ID      the answer (or acknowledgement) to a request of node NODE
 *   PREFIX.hb / PREFIX.leave        heartbeats, an orderly leave
 *   PREFIX.name.NODE                a node asking at boot whether its name is taken
 *   PREFIX.ev.TOPIC                 an event published on some node's bus
 *
 * Bodies are JSON. A body larger than the server's max_payload travels in chunks (headers
 * Sym-Chunk: SEQ/COUNT and Sym-Stream: ID), all to one recipient.
 */

/** A request as it crosses: method, params, what is left of its deadline, who asks and what its node admitted it for. */
export interface CallBody {
  /** The caller's request id (also the last token of its reply subject). */
  i: string;
  m: string;
  p?: unknown;
  /** Milliseconds left before the caller's deadline when it was sent. */
  t: number;
  /** The caller's identity on its node. */
  c: string;
  /** The caller's node. */
  n: string;
  /** The method patterns the caller's node admitted this call under (its rights, as far as this call needs them). */
  r: string[];
  tp?: string;
  /** The caller holds its node's operator token: the serving node runs the call as its operator's (within its cluster.accept). */
  o?: 1;
  /** A notification: nobody waits for an answer. */
  x?: 1;
}

/** An answer: a result, an error, an acknowledgement (the call runs on node `a`), or "not served here, ask again". */
export interface ReplyBody {
  r?: unknown;
  e?: { code: number; message: string; data?: unknown };
  a?: string;
  z?: 1;
}

export interface Heartbeat {
  node: string;
  /** One per process run: a node that restarts comes back with a new one. */
  nonce: string;
  /** Epoch ms the node joined (older wins when two claim one name). */
  since: number;
  pid: number;
  host: string;
}

const decoder = new TextDecoder();

// Buffer.from, not TextEncoder: small bodies come from Node's buffer pool (cheaper per call, as
// `npm run bench -- cluster` measures: every call is encoded twice).
export function encode(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function decode<T>(data: Uint8Array): T {
  return JSON.parse(decoder.decode(data)) as T;
}

/** An error as it crosses: the JSON-RPC code, message and data. */
export function errorBody(err: unknown): NonNullable<ReplyBody['e']> {
  if (err instanceof BusError) return { code: err.code, message: err.message, ...(err.data !== undefined ? { data: err.data } : {}) };
  return { code: ErrorCode.InternalError, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

/**
 * Thrown by a node's forwarder when a request that came from another node reaches it (the method
 * is not served here after all): the serving side answers "not here" and the caller asks again.
 */
export class NotServedHere extends MethodNotFoundError {}

/** Splits a body into chunks of at most `size` bytes. */
export function chunks(body: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < body.length; at += size) out.push(body.subarray(at, Math.min(body.length, at + size)));
  return out;
}

/**
 * Reassembles chunked bodies, one stream at a time per key; a stream past `maxBytes` is dropped
 * (its sender is told -32006), one left incomplete for `staleMs` is forgotten.
 */
export class Reassembly {
  readonly #streams = new Map<string, { parts: (Uint8Array | undefined)[]; got: number; bytes: number; at: number }>();
  constructor(
    readonly maxBytes: number,
    readonly staleMs = 30_000,
  ) {}

  /** The whole body once its last chunk arrived; 'too-large' when it outgrows maxBytes; undefined while incomplete or malformed. */
  add(key: string, seq: number, count: number, part: Uint8Array): Uint8Array | 'too-large' | undefined {
    if (!Number.isInteger(seq) || !Number.isInteger(count) || count < 1 || count > 100_000 || seq < 0 || seq >= count) return undefined;
    this.#sweep();
    let s = this.#streams.get(key);
    if (!s) this.#streams.set(key, (s = { parts: new Array(count), got: 0, bytes: 0, at: Date.now() }));
    if (s.parts.length !== count || s.parts[seq]) return undefined;
    s.parts[seq] = part.slice();
    s.got++;
    s.bytes += part.length;
    if (s.bytes > this.maxBytes) {
      this.#streams.delete(key);
      return 'too-large';
    }
    if (s.got < count) return undefined;
    this.#streams.delete(key);
    const out = new Uint8Array(s.bytes);
    let at = 0;
    for (const p of s.parts) {
      out.set(p!, at);
      at += p!.length;
    }
    return out;
  }

  #sweep(): void {
    if (this.#streams.size === 0) return;
    const old = Date.now() - this.staleMs;
    for (const [k, s] of this.#streams) if (s.at < old) this.#streams.delete(k);
  }
}
