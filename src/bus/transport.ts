import type { MessagePort } from 'node:worker_threads';
import { encodeFrame, frameJson, FrameDecoder, type Decoded, type Framing } from './framing.js';

/**
 * A message transport: moves JSON-RPC messages, knows nothing of their meaning. Byte streams
 * (sockets, stdio) frame them; worker ports pass them by structured clone. Outgoing messages are
 * batched: everything sent in one tick leaves in one write.
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
  /** Switch framing for what follows (hello negotiation); byte streams only. */
  setFraming?(framing: Framing): void;
  readonly framing?: Framing | undefined;
  close(): void;
  /** Set by the session: incoming messages and decoding errors; the end of the transport. */
  onMessage: (decoded: Decoded) => void;
  onClose: (reason: string) => void;
}

export interface StreamTransportOptions {
  maxFrameBytes?: number;
  /** Known framing, or undefined to detect from the first bytes (server side). */
  framing?: Framing;
}

type Input = NodeJS.ReadableStream & { pause(): unknown; resume(): unknown; destroy?(): void };
type Output = NodeJS.WritableStream & { writableLength?: number; destroyed?: boolean; destroy?(): void };

/** Over a readable and a writable byte stream: a socket (both the same object) or a child's stdio. */
export class StreamTransport implements MessageTransport {
  readonly #input: Input;
  readonly #output: Output;
  readonly #decoder: FrameDecoder;
  /** Frames not written yet, appended to one string (written as one). */
  #queue = '';
  #flushing = false;
  #closed = false;
  #outFraming: Framing;
  /** Paused (flow control): frames already read wait here, so at most one chunk is held. */
  #paused = false;
  #backlog: Decoded[] = [];
  onMessage: (decoded: Decoded) => void = () => {};
  onClose: (reason: string) => void = () => {};

  constructor(
    input: NodeJS.ReadableStream,
    output: NodeJS.WritableStream,
    options: StreamTransportOptions = {},
  ) {
    this.#input = input as Input;
    this.#output = output as Output;
    this.#decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes, framing: options.framing });
    this.#outFraming = options.framing ?? 'ndjson';
    input.on('data', (chunk: Buffer | string) => {
      // Closed: whatever still arrives (a socket lingers to send its last frames) is not decoded.
      if (this.#closed) return;
      const decoded = this.#decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (this.#decoder.framing) this.#outFraming = this.#decoder.framing;
      for (const d of decoded) {
        if (this.#closed) return;
        if (this.#paused) this.#backlog.push(d);
        else this.onMessage(d);
      }
    });
    const end = (why: string) => () => this.#end(why);
    input.on('end', end('the peer closed its output'));
    input.on('close', end('the connection closed'));
    input.on('error', (err: Error) => this.#end(`read error: ${err.message}`));
    if (output !== (input as unknown)) {
      output.on('error', (err: Error) => this.#end(`write error: ${err.message}`));
      output.on('close', end('the peer closed its input'));
    }
  }

  get framing(): Framing | undefined {
    return this.#decoder.framing;
  }

  get bufferedBytes(): number {
    return this.#queue.length + (this.#output.writableLength ?? 0);
  }

  send(message: object): void {
    if (this.#closed) return;
    this.#enqueue(encodeFrame(message, this.#outFraming));
  }

  sendJson(json: string): void {
    if (this.#closed) return;
    this.#enqueue(frameJson(json, this.#outFraming));
  }

  #enqueue(frame: string): void {
    this.#queue += frame;
    if (!this.#flushing) {
      this.#flushing = true;
      process.nextTick(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushing = false;
    if (this.#closed || !this.#queue.length) return;
    const data = this.#queue;
    this.#queue = '';
    this.#output.write(data);
  }

  setFraming(framing: Framing): void {
    this.#outFraming = framing;
    for (const d of this.#decoder.setFraming(framing)) this.onMessage(d);
  }

  pause(): void {
    this.#paused = true;
    this.#input.pause();
  }

  resume(): void {
    this.#paused = false;
    while (this.#backlog.length && !this.#paused && !this.#closed) this.onMessage(this.#backlog.shift()!);
    if (!this.#paused) this.#input.resume();
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#backlog.length = 0;
    this.#output.end();
    if ((this.#input as unknown) === (this.#output as unknown)) {
      // A socket: let the final frames go out, then make sure it is gone; meanwhile read nothing.
      this.#input.pause();
      const input = this.#input;
      setTimeout(() => input.destroy?.(), 100).unref();
    } else {
      this.#input.destroy?.();
    }
    this.onClose('closed by this side');
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose(reason);
  }
}

/** Over a worker MessagePort: messages by structured clone, batched per tick as arrays. */
export class PortTransport implements MessageTransport {
  readonly #port: MessagePort;
  #queue: object[] = [];
  #flushing = false;
  #closed = false;
  onMessage: (decoded: Decoded) => void = () => {};
  onClose: (reason: string) => void = () => {};

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (batch: unknown) => {
      if (!Array.isArray(batch)) return this.onMessage({ kind: 'error', error: 'parse', detail: 'port message is not a batch' });
      for (const message of batch) {
        if (this.#closed) return;
        this.onMessage({ kind: 'message', message });
      }
    });
    port.on('close', () => this.#end('the port closed'));
    port.on('messageerror', (err: Error) => this.onMessage({ kind: 'error', error: 'parse', detail: `message could not be cloned: ${err.message}` }));
  }

  get bufferedBytes(): number {
    return 0;
  }

  send(message: object): void {
    if (this.#closed) return;
    this.#queue.push(message);
    if (!this.#flushing) {
      this.#flushing = true;
      process.nextTick(() => {
        this.#flushing = false;
        if (this.#closed || !this.#queue.length) return;
        const batch = this.#queue;
        this.#queue = [];
        try {
          this.#port.postMessage(batch);
        } catch (err) {
          // A value that cannot be cloned: answer what we can rather than lose the batch silently.
          for (const m of batch) {
            try {
              this.#port.postMessage([m]);
            } catch {
              const id = (m as { id?: unknown }).id;
              if (id !== undefined && 'result' in m) this.#port.postMessage([{ jsonrpc: '2.0', id, error: { code: -32603, message: `result could not be cloned: ${(err as Error).message}` } }]);
            }
          }
        }
      });
    }
  }

  pause(): void {}
  resume(): void {}

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#port.close();
    this.onClose('closed by this side');
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose(reason);
  }
}
