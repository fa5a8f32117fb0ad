import type { Decoded, Framing } from './framing.js';

/**
 * A message transport: moves JSON-RPC messages, knows nothing of their meaning. Byte streams
 * (sockets, stdio) frame them; worker ports pass them by structured clone. Outgoing messages are
 * batched: everything sent in one tick leaves in one write (byte streams: in writes of at most
 * about BATCH_CHARS).
 */
export interface MessageTransport {
  send(message: object): void;
  /** A message already encoded as JSON (byte streams; the session sends objects to transports without it). */
  sendJson?(json: string): void;
  /** Outgoing bytes not yet handed to the OS (0 for ports). */
  readonly bufferedBytes: number;
  /** Stop and resume reading (flow control). */
  pause(): void;
  resume(): void;
  /**
   * Bounds the output (byte streams; the bus sets it for its peers). Once more than half of
   * `maxBytes` waits to be sent, the transport stops reading (what it reads would be answered on
   * top) until the output has drained; past `maxBytes` it calls `onOverflow` with the amount.
   */
  limitOutput?(maxBytes: number, onOverflow: (bytes: number) => void): void;
  /**
   * For a periodic check: true when the output is held back (see limitOutput) and has not gone
   * down since the previous call, which was also held back: the other side is not reading.
   */
  outputStalled?(): boolean;
  /** Switch framing for what follows (hello negotiation); byte streams only. */
  setFraming?(framing: Framing): void;
  readonly framing?: Framing | undefined;
  close(): void;
  /** Set by the session: incoming messages and decoding errors; the end of the transport. */
  onMessage: (decoded: Decoded) => void;
  onClose: (reason: string) => void;
}

// One file per transport: stream-transport.ts (sockets, stdio), port-transport.ts (worker ports).
