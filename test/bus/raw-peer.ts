/**
 * A raw peer for wire tests: a Unix socket that writes exactly the bytes it is given and keeps
 * every frame it receives as text (so an id can be compared as it was written), in NDJSON or in
 * Content-Length framing.
 */
import { connect, type Socket } from 'node:net';
import type { Framing } from '../../src/bus/index.js';
import { delay } from '../helpers.js';

export interface RawFrame {
  text: string;
  /** Parsed, or undefined when the text is not JSON. */
  json: any;
}

export class RawPeer {
  readonly frames: RawFrame[] = [];
  closed = false;
  #buf = Buffer.alloc(0);
  private constructor(
    readonly socket: Socket,
    readonly framing: Framing,
  ) {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#split();
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static open(path: string, framing: Framing = 'ndjson'): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => resolve(new RawPeer(socket, framing)));
      socket.once('error', reject);
    });
  }

  #split(): void {
    for (;;) {
      if (this.framing === 'ndjson') {
        const nl = this.#buf.indexOf(0x0a);
        if (nl === -1) return;
        const text = this.#buf.toString('utf8', 0, nl);
        this.#buf = this.#buf.subarray(nl + 1);
        if (text.trim()) this.#push(text);
      } else {
        const end = this.#buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const m = /content-length:\s*(\d+)/i.exec(this.#buf.toString('latin1', 0, end));
        const n = Number(m?.[1] ?? 0);
        if (this.#buf.length < end + 4 + n) return;
        this.#push(this.#buf.toString('utf8', end + 4, end + 4 + n));
        this.#buf = this.#buf.subarray(end + 4 + n);
      }
    }
  }

  #push(text: string): void {
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    this.frames.push({ text, json });
  }

  /** Writes bytes as they are. */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Writes one frame's text in this peer's framing. */
  send(text: string): void {
    this.socket.write(this.framing === 'ndjson' ? `${text}\n` : `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  }

  rpc(message: unknown): void {
    this.send(JSON.stringify(message));
  }

  /** The first frame received that matches (removed from the list), waiting up to `ms`. */
  async next(pred: (json: any, text: string) => boolean = () => true, ms = 3000): Promise<RawFrame> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex((f) => pred(f.json, f.text));
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (Date.now() > end) throw new Error(`no matching frame within ${ms}ms; got ${JSON.stringify(this.frames.map((f) => f.text.slice(0, 200)))}`);
      await delay(2);
    }
  }

  /**
   * Proves nothing else was sent: a ping, whose answer must be the very next frame. Anything the
   * kernel would have answered before it (frames are answered in order when served in process) is
   * there first.
   */
  async nothingBefore(tag: string): Promise<void> {
    this.rpc({ jsonrpc: '2.0', id: tag, method: 'symphony.ping' });
    const f = await this.next(() => true);
    if (f.json?.id !== tag) throw new Error(`expected nothing before the ping's answer, got ${f.text.slice(0, 300)}`);
  }

  async hello(token: string, peer = 'raw'): Promise<any> {
    this.rpc({ jsonrpc: '2.0', id: 'hello', method: 'symphony.hello', params: { protocol: 1, peer, token } });
    return (await this.next((j) => j?.id === 'hello')).json;
  }

  close(): void {
    this.socket.destroy();
  }
}
