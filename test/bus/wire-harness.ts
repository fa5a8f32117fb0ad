/**
 * Test-side tooling for driving a REAL kernel over real sockets from outside: a kernel in a child
 * process (a crash is its death, seen by the test, not the test runner's), raw NDJSON /
 * Content-Length peers that say hello with a real token and read every byte the kernel sends back
 * (as raw text, so ids can be compared exactly as sent), and the kernel's resident memory.
 *
 * Two kernels:
 * - startBusKernel(): a Bus from src/bus listening on a Unix socket, with the operator's token
 *   (the smallest kernel; starts in about a second);
 * - startSystemKernel(): `symphony up` (src/cli/main.ts) with a system config written by
 *   wireSystemConfig(), for what needs the Orchestra Kit (isolated extensions, their stderr,
 *   restarts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { grantsFor } from '../helpers.js';
import { NURSERY_FLAG } from '../nursery.js';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const wireFixtures = join(root, 'test/fixtures/wire');

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** tsx's loader, by absolute path (for `node --import`, wherever the test runs from). */
export function tsxLoader(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('tsx/package.json');
  return join(dirname(pkg), (require('tsx/package.json') as { exports: { '.': string } }).exports['.']);
}

/** Resident memory of a process (Linux /proc) in bytes, or undefined once it is gone. */
export function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Open file descriptors of a process (Linux /proc/PID/fd), or undefined once it is gone. */
export function fdCount(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

export interface ChildKernel {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly path: string;
  readonly token: string;
  /** The kernel's stdout and stderr so far (the last few MB). */
  stdout(): string;
  stderr(): string;
  /** Still running (not exited, not killed). */
  alive(): boolean;
  /** Resolves with how it ended, once it has. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The kernel's RSS now (bytes). */
  rss(): number | undefined;
  /** Samples RSS every `everyMs` until the returned function is called; that returns the peak. */
  sampleRss(everyMs?: number): () => number;
  /** Kills it (SIGKILL) and removes what it left. */
  stop(): Promise<void>;
  /** Why it died, for a failure message: exit status and the end of its stderr. */
  obituary(): string;
}

export interface BusKernelOptions {
  /** Bus options (defaultTimeout, heartbeat, maxFrameBytes, ...). */
  bus?: Record<string, unknown>;
  /** Extra `node` arguments for the kernel (e.g. --max-old-space-size). */
  nodeArgs?: string[];
  /** Run it under `prlimit --nofile=N:N` (its file-descriptor limit). */
  nofile?: number;
  /** Extra environment for the kernel. */
  env?: Record<string, string>;
}

function keepTail(max: number): { add(d: Buffer | string): void; text(): string } {
  let s = '';
  return {
    add(d) {
      s += d.toString();
      if (s.length > 2 * max) s = s.slice(-max);
    },
    text: () => (s.length > max ? s.slice(-max) : s),
  };
}

function wrapChild(child: ChildProcess, path: string, token: string, cleanup: () => void, out: ReturnType<typeof keepTail>, err: ReturnType<typeof keepTail>): ChildKernel {
  let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r((ended = { code: child.exitCode, signal: child.signalCode }));
    child.once('exit', (code, signal) => r((ended = { code, signal })));
  });
  const k: ChildKernel = {
    child,
    pid: child.pid!,
    path,
    token,
    stdout: () => out.text(),
    stderr: () => err.text(),
    alive: () => ended === undefined && child.exitCode === null && child.signalCode === null,
    exited,
    rss: () => rssOf(child.pid),
    sampleRss(everyMs = 25) {
      let peak = rssOf(child.pid) ?? 0;
      const t = setInterval(() => (peak = Math.max(peak, rssOf(child.pid) ?? 0)), everyMs);
      return () => {
        clearInterval(t);
        return Math.max(peak, rssOf(child.pid) ?? 0);
      };
    },
    async stop() {
      if (k.alive()) {
        child.kill('SIGKILL');
        await exited;
      }
      cleanup();
    },
    obituary: () => `kernel ${ended ? `exited (code ${ended.code}, signal ${ended.signal})` : 'alive'}; stderr: ${err.text().slice(-3000)}`,
  };
  return k;
}

/** The child kernel's script: a Bus on a socket, the operator's token, a few in-process methods. */
const BUS_KERNEL = (busIndex: string) => `
  const { Bus } = await import(${JSON.stringify(busIndex)});
  const options = JSON.parse(process.env.WIRE_BUS_OPTIONS || '{}');
  const bus = new Bus(options);
  const token = bus.issueToken('operator', undefined, { operator: true });
  const server = await bus.listen({ path: process.env.WIRE_SOCKET });
  bus.handle('kernel.echo', (p) => p);
  bus.handle('kernel.pid', () => process.pid);
  process.send({ path: server.path, token });
`;

/** A Bus listening on a Unix socket, in a child process; resolves once it listens. */
export async function startBusKernel(options: BusKernelOptions = {}): Promise<ChildKernel> {
  const dir = mkdtempSync(join(tmpdir(), 'symphony-wire-'));
  const socket = join(dir, 'bus.sock');
  const busIndex = pathToFileURL(join(root, 'src/bus/index.ts')).href;
  const nodeArgs = [NURSERY_FLAG, ...(options.nodeArgs ?? []), '--import', tsxLoader(), '--input-type=module', '-e', BUS_KERNEL(busIndex)];
  const [cmd, args] = options.nofile ? ['prlimit', [`--nofile=${options.nofile}:${options.nofile}`, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const child = spawn(cmd as string, args as string[], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...options.env, WIRE_SOCKET: socket, WIRE_BUS_OPTIONS: JSON.stringify(options.bus ?? {}) },
  });
  const out = keepTail(1 << 20);
  const err = keepTail(1 << 20);
  child.stdout!.on('data', (d: Buffer) => out.add(d));
  child.stderr!.on('data', (d: Buffer) => err.add(d));
  const ready = await new Promise<{ path: string; token: string }>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the bus kernel did not listen within 30 s: ${err.text()}`)), 30_000);
    child.once('message', (m) => (clearTimeout(timer), res(m as { path: string; token: string })));
    child.once('exit', (c, s) => (clearTimeout(timer), rej(new Error(`the bus kernel exited (${c ?? s}) before listening: ${err.text()}`))));
  });
  return wrapChild(child, ready.path, ready.token, () => rmSync(dir, { recursive: true, force: true }), out, err);
}

/**
 * A system config for `symphony up`: the bus listening on `socket` (operator token beside it), the
 * Orchestra Kit loading the given extension folders. The one place an extension's load is
 * configured: when the operator's grants arrive, add each extension's grant here.
 */
export function wireSystemConfig(options: { socket: string; extensions: string[]; bus?: Record<string, unknown>; orchestra?: Record<string, unknown> }): string {
  const bus = { listen: options.socket, ...options.bus };
  // The operator grants each fixture what its manifest asks (a manifest alone gives no right).
  const orchestra = { paths: options.extensions, grants: grantsFor(options.extensions), backoff: { initial: '20ms', max: '100ms' }, restart: { max: 50, within: '60s' }, ...options.orchestra };
  return `${JSON.stringify({ components: { bus: { use: 'builtin:bus', with: bus }, orchestra: { use: 'builtin:orchestra', needs: ['bus'], with: orchestra } } }, null, 2)}\n`;
}

export interface SystemKernelOptions {
  extensions: string[];
  bus?: Record<string, unknown>;
  orchestra?: Record<string, unknown>;
  nofile?: number;
  /** Resolve once this text appears on its stdout (default: the system is up). */
  readyText?: RegExp;
}

/** `symphony up --log plain` in a child process with wireSystemConfig(); resolves once the system is up. */
export async function startSystemKernel(options: SystemKernelOptions): Promise<ChildKernel> {
  const dir = mkdtempSync(join(tmpdir(), 'symphony-wire-sys-'));
  const socket = join(dir, 'bus.sock');
  // YAML is a superset of JSON: the config is written as JSON into a .yaml file.
  const yaml = join(dir, 'symphony.yaml');
  writeFileSync(yaml, wireSystemConfig({ socket, extensions: options.extensions, bus: options.bus, orchestra: options.orchestra }));
  const nodeArgs = [NURSERY_FLAG, '--import', tsxLoader(), join(root, 'src/cli/main.ts'), 'up', '-c', yaml, '--log', 'plain'];
  const [cmd, args] = options.nofile ? ['prlimit', [`--nofile=${options.nofile}:${options.nofile}`, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const child = spawn(cmd as string, args as string[], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' }, cwd: dir });
  const out = keepTail(4 << 20);
  const err = keepTail(1 << 20);
  const readyText = options.readyText ?? /symphony: system (ready|degraded)/;
  const up = new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the system did not come up within 60 s: ${out.text().slice(-2000)} ${err.text().slice(-2000)}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out.add(d);
      if (readyText.test(out.text())) (clearTimeout(timer), res());
    });
    child.stderr!.on('data', (d: Buffer) => err.add(d));
    child.once('exit', (c, s) => (clearTimeout(timer), rej(new Error(`the system exited (${c ?? s}) before it was up: ${out.text().slice(-2000)} ${err.text().slice(-2000)}`))));
  });
  await up;
  const token = readFileSync(`${socket}.token`, 'utf8').trim();
  return wrapChild(child, socket, token, () => rmSync(dir, { recursive: true, force: true }), out, err);
}

// ---- raw peers -------------------------------------------------------------------------------------

export interface RawFrame {
  /** The frame's text as it arrived (a line without its newline, or a Content-Length body). */
  raw: string;
  /** Parsed, or undefined when it is not JSON. */
  json: any;
  at: number;
}

/**
 * A raw peer on the kernel's socket: writes whatever bytes it is told, reads every frame the kernel
 * sends (NDJSON lines, or Content-Length bodies once `framing` says so), answers the bus's pings
 * unless told not to. Frames are kept as raw text.
 */
export class RawPeer {
  readonly frames: RawFrame[] = [];
  #buf: Buffer = Buffer.alloc(0);
  #waiters: { test: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void }[] = [];
  closedAt: number | undefined;
  readonly closed: Promise<void>;
  answerPings = true;
  /** Called for each frame (after it is recorded). */
  onFrame: (f: RawFrame) => void = () => {};
  framing: 'ndjson' | 'content-length' = 'ndjson';
  /** Keep frames in `frames` (a long-lived peer that only uses onFrame and waiters turns it off). */
  keepFrames = true;

  private constructor(readonly socket: Socket) {
    socket.on('error', () => {});
    this.closed = new Promise((r) => socket.once('close', () => ((this.closedAt = performance.now()), r())));
    socket.on('data', (d: Buffer) => this.#data(d));
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = netConnect(path);
      s.once('connect', () => (s.off('error', reject), resolve(new RawPeer(s))));
      s.once('error', reject);
    });
  }

  /** Connects and says hello (NDJSON) with this token; resolves once the hello is answered. */
  static async hello(path: string, token: string, name = 'raw', params: Record<string, unknown> = {}): Promise<RawPeer> {
    const p = await RawPeer.connect(path);
    p.write(`${JSON.stringify({ jsonrpc: '2.0', id: 'hello', method: 'symphony.hello', params: { protocol: 1, peer: name, token, ...params } })}\n`);
    const f = await p.next((x) => x.json?.id === 'hello', 10_000, 'the hello answer');
    if (!f.json.result) throw new Error(`hello refused: ${f.raw}`);
    return p;
  }

  get open(): boolean {
    return this.closedAt === undefined;
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  send(message: unknown): void {
    this.write(`${JSON.stringify(message)}\n`);
  }

  /** Registers methods (symphony.register) and waits for the answer. */
  async register(...methods: string[]): Promise<void> {
    const id = `reg-${Math.random()}`;
    this.send({ jsonrpc: '2.0', id, method: 'symphony.register', params: { methods } });
    const f = await this.next((x) => x.json?.id === id, 10_000, 'the register answer');
    if (!f.json.result) throw new Error(`register refused: ${f.raw}`);
  }

  /** The first frame (already received or to come) that passes `test`, within `ms`. */
  next(test: (f: RawFrame) => boolean, ms = 5000, what = 'a frame'): Promise<RawFrame> {
    const seen = this.frames.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { test, resolve: (f: RawFrame) => (clearTimeout(timer), resolve(f)) };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(new Error(`no ${what} within ${ms} ms (connection ${this.open ? 'open' : 'closed'}; got ${this.frames.length} frames: ${this.frames.slice(-5).map((f) => f.raw.slice(0, 200)).join(' | ')})`));
      }, ms);
      this.#waiters.push(w);
    });
  }

  /** Like next(), but resolves undefined (instead of rejecting) if nothing matched in `ms`, or at close. */
  async maybe(test: (f: RawFrame) => boolean, ms: number): Promise<RawFrame | undefined> {
    return Promise.race([this.next(test, ms).catch(() => undefined), this.closed.then(() => this.frames.find(test))]);
  }

  close(): void {
    this.socket.destroy();
  }

  #data(d: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    for (;;) {
      let raw: string;
      if (this.framing === 'ndjson') {
        const nl = this.#buf.indexOf(10);
        if (nl < 0) return;
        raw = this.#buf.toString('utf8', 0, nl).replace(/\r$/, '');
        this.#buf = this.#buf.subarray(nl + 1);
        if (!raw.trim()) continue;
      } else {
        const end = this.#buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /content-length:\s*(\d+)/i.exec(this.#buf.toString('latin1', 0, end));
        if (!m) {
          this.#buf = this.#buf.subarray(end + 4);
          continue;
        }
        const n = Number(m[1]);
        if (this.#buf.length < end + 4 + n) return;
        raw = this.#buf.toString('utf8', end + 4, end + 4 + n);
        this.#buf = this.#buf.subarray(end + 4 + n);
      }
      let json: any;
      try {
        json = JSON.parse(raw);
      } catch {
        json = undefined;
      }
      const f: RawFrame = { raw, json, at: performance.now() };
      if (this.answerPings && json?.method === 'symphony.ping' && json.id !== undefined) {
        this.write(this.framing === 'ndjson' ? `${JSON.stringify({ jsonrpc: '2.0', id: json.id, result: {} })}\n` : lspFrame({ jsonrpc: '2.0', id: json.id, result: {} }));
        continue;
      }
      if (this.keepFrames) this.frames.push(f);
      this.onFrame(f);
      for (const w of [...this.#waiters]) {
        if (w.test(f)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    }
  }
}

/** A message (or raw JSON text) as a Content-Length frame. */
export function lspFrame(message: unknown): string {
  const body = typeof message === 'string' ? message : JSON.stringify(message);
  return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** `depth` arrays nested in one another: `[[[...]]]` (2 bytes a level). */
export const nestedArrays = (depth: number, inner = '') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

/** The kernel answers a ping on a fresh, authenticated connection within `ms`: it is alive and serving. */
export async function kernelServes(k: ChildKernel, ms = 5000): Promise<boolean> {
  if (!k.alive()) return false;
  let p: RawPeer | undefined;
  try {
    p = await Promise.race([RawPeer.hello(k.path, k.token, 'probe'), delay(ms).then(() => undefined)]);
    if (!p) return false;
    p.send({ jsonrpc: '2.0', id: 'probe-ping', method: 'symphony.ping' });
    const f = await p.maybe((x) => x.json?.id === 'probe-ping', ms);
    return f?.json?.result !== undefined;
  } catch {
    return false;
  } finally {
    p?.close();
  }
}

/** JSON-RPC error codes of the protocol: the standard ones and Symphony's -32001..-32006 (and -32800). */
export const TYPED_CODES = [-32700, -32600, -32601, -32602, -32603, -32001, -32002, -32003, -32004, -32005, -32006, -32800];
export const isTypedError = (m: any): boolean => m && typeof m === 'object' && m.error && typeof m.error.code === 'number' && TYPED_CODES.includes(m.error.code) && typeof m.error.message === 'string';
