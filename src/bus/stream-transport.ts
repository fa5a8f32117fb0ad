import { encodeFrame, frameJson, FrameDecoder, type Decoded, type Framing } from './framing.js';
import type { MessageTransport } from './transport.js';

export interface StreamTransportOptions {
  maxFrameBytes?: number;
  /** Known framing, or undefined to detect from the first bytes (server side). */
  framing?: Framing;
}

type Input = NodeJS.ReadableStream & { pause(): unknown; resume(): unknown; destroy?(): void };
type Output = NodeJS.WritableStream & { writableLength?: number; writableHighWaterMark?: number; destroyed?: boolean; destroy?(): void };

/**
 * Pending output is written once it would pass this many characters, even within a tick. V8's
 * strings end at 2^29 - 24 characters (~512 MB): a tick's answers appended to one string threw
 * RangeError there, out of the flush, and the process died. Large enough that a tick of small
 * frames is still one write.
 */
export const BATCH_CHARS = 1024 * 1024;

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
  /** Paused (flow control by the session's owner): frames already read wait here, so at most one chunk is held. */
  #paused = false;
  /** Held back by our own output (limitOutput): the same, until the output drains. */
  #blocked = false;
  #backlog: Decoded[] = [];
  /** A batch is written once it would pass this (BATCH_CHARS, less under a small limitOutput). */
  #batchChars = BATCH_CHARS;
  /** limitOutput: hold reading past this much unsent output; past #maxOutput, #onOverflow. */
  #highWater = Infinity;
  #maxOutput = Infinity;
  #onOverflow: (bytes: number) => void = () => {};
  /** What was unsent at the previous outputStalled() while blocked; -1 when it was not blocked. */
  #stallMark = -1;
  readonly #drained = () => {
    this.#blocked = false;
    this.#stallMark = -1;
    this.#release();
  };
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
        if (this.#paused || this.#blocked) this.#backlog.push(d);
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

  limitOutput(maxBytes: number, onOverflow: (bytes: number) => void): void {
    // Held back past half of it, released on 'drain': which the stream emits only once it has been
    // over its own high-water mark (16 KiB for sockets), so the hold must start above that.
    maxBytes = Math.max(maxBytes, 2 * (this.#output.writableHighWaterMark ?? 16 * 1024));
    this.#maxOutput = maxBytes;
    this.#highWater = maxBytes / 2;
    // The batch is checked against the bounds when written: keep it small beside them.
    this.#batchChars = Math.min(BATCH_CHARS, Math.ceil(maxBytes / 4));
    this.#onOverflow = onOverflow;
  }

  outputStalled(): boolean {
    if (!this.#blocked) return false;
    const unsent = this.bufferedBytes;
    const stalled = this.#stallMark >= 0 && unsent >= this.#stallMark;
    this.#stallMark = unsent;
    return stalled;
  }

  #enqueue(frame: string): void {
    // One compare on this path; what the batch limit and the output bounds need is done past it.
    if (this.#queue.length + frame.length > this.#batchChars) return this.#spill(frame);
    this.#queue += frame;
    if (!this.#flushing) {
      this.#flushing = true;
      process.nextTick(() => this.#flush());
    }
  }

  /** The batch would pass its limit: write what waits now, within the tick. */
  #spill(frame: string): void {
    if (this.#queue.length) {
      const data = this.#queue;
      this.#queue = '';
      this.#write(data);
      if (this.#closed) return; // it overflowed, or the write failed
    }
    if (frame.length > this.#batchChars) return this.#write(frame);
    this.#queue = frame;
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
    this.#write(data);
  }

  /** Writes, then holds reading or reports an overflow if the output is backed up (once per write, not per frame). */
  #write(data: string): void {
    try {
      this.#output.write(data);
    } catch (err) {
      // This runs in process.nextTick, where a throw would end the process: end the connection instead.
      this.#output.destroy?.();
      return this.#end(`write error: ${err instanceof Error ? err.message : String(err)}`);
    }
    const unsent = this.#output.writableLength ?? 0;
    if (unsent <= this.#highWater) return;
    if (!this.#blocked) {
      // The other side is not keeping up: stop reading it (its requests would be answered on top
      // of this) until everything is out ('drain' comes once the writable buffer is empty).
      this.#blocked = true;
      this.#input.pause();
      this.#output.once('drain', this.#drained);
    }
    if (unsent > this.#maxOutput) this.#onOverflow(unsent);
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
    this.#release();
  }

  /** Delivers what was held back while neither pause nor output holds it, then reads again. */
  #release(): void {
    while (this.#backlog.length && !this.#paused && !this.#blocked && !this.#closed) this.onMessage(this.#backlog.shift()!);
    if (!this.#paused && !this.#blocked && !this.#closed) this.#input.resume();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#backlog.length = 0;
    const data = this.#queue;
    this.#queue = '';
    const socket = (this.#input as unknown) === (this.#output as unknown);
    if (this.#blocked) {
      // It is not reading: the last frames would not go out either. Free it all now.
      this.#output.destroy?.();
      if (!socket) this.#input.destroy?.();
    } else {
      try {
        if (data) this.#output.write(data);
        this.#output.end();
      } catch {
        this.#output.destroy?.();
      }
      if (socket) {
        // Let the final frames go out, then make sure it is gone; meanwhile read nothing.
        this.#input.pause();
        const input = this.#input;
        setTimeout(() => input.destroy?.(), 100).unref();
      } else {
        this.#input.destroy?.();
      }
    }
    this.onClose('closed by this side');
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose(reason);
  }
}
