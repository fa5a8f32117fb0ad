import { spawn, type ChildProcess } from 'node:child_process';
import { MessageChannel, Worker, type ResourceLimits } from 'node:worker_threads';
import { confine, type Confinement, type SandboxRequest } from '../sandbox/index.js';
import type { PeerConnection } from './connection.js';
import type { PeerHost } from './peer-host.js';
import type { Rights } from './rights.js';
import { PeerGoneError } from './errors.js';
import { PortTransport } from './port-transport.js';
import { StreamTransport } from './stream-transport.js';

/** Environment variables a spawned peer inherits; everything else is scrubbed (secrets stay home). */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TEMP', 'TMP', 'SYSTEMROOT', 'NODE_EXTRA_CA_CERTS'];

export interface SpawnPeerOptions {
  /** The identity the peer gets (its token says so, whatever name it claims). */
  name: string;
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** Added to the scrubbed environment. */
  env?: Record<string, string>;
  rights?: Rights;
  /** `stdio` (frames on the child's stdin/stdout; the default) or `socket` (it connects to `socketPath`). */
  transport?: 'stdio' | 'socket';
  socketPath?: string;
  /** Where the child's stderr goes: inherited (default), or piped for the caller to read. */
  stderr?: 'inherit' | 'pipe';
  /** Passed to child_process.spawn (e.g. a `signal`, or `detached`). */
  detached?: boolean;
  /**
   * Run it inside the operating-system sandbox with these grants (stdio transport only). Where the
   * sandbox is unavailable: `fallback` (or the command itself) runs, marked degraded, unless the
   * policy is strict, which throws instead.
   */
  sandbox?: SandboxRequest & { fallback?: { command: string; args: string[] } };
}

/** The descriptor a spawned peer reads its token from (named by `SYMPHONY_TOKEN_FD`). */
export const TOKEN_FD = 3;

/** A peer process the kernel started. Its exit is detected at once: pending calls to it fail with -32004. */
export class PeerProcess {
  #connection: PeerConnection | undefined;
  #connected: Promise<PeerConnection>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  #stopping = false;
  /** Why the program could not be run at all (ENOENT, EACCES): what ready() reports. */
  #spawnError: Error | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    connection: PeerConnection | Promise<PeerConnection>,
    options: { killOnDisconnect?: boolean } = {},
    /** How it is confined, when it was asked to be. */
    readonly confinement?: Confinement,
  ) {
    this.#connected = Promise.resolve(connection).then((c) => (this.#connection = c));
    if (options.killOnDisconnect) {
      // Over stdio there is no reconnecting: a process whose connection this side dropped (heartbeat
      // lost, slow consumer) but that lives on (hung, not reading its stdin's EOF) would hold its
      // methods forever. It is killed, so its exit tells its supervisor to restart it. Not at once:
      // a process that is exiting closes its output first, and its own exit code says more.
      void this.#connected.then((c) =>
        c.closed.then(() => {
          if (!this.running || this.#stopping) return;
          setTimeout(() => {
            if (this.running && !this.#stopping) this.child.kill('SIGKILL');
          }, 1000).unref();
        }),
      );
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
        this.#connection?.close(`the process ${why}`);
        resolve(this.#exit);
      });
      child.once('error', (err) => {
        this.#spawnError = err;
        this.#exit = { code: null, signal: null };
        this.#connection?.close(`the process could not run: ${err.message}`);
        resolve(this.#exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get connection(): PeerConnection | undefined {
    return this.#connection;
  }
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** `sandboxed` (the OS confines it), `degraded` (asked to be, but the sandbox is unavailable), `none` (not asked). */
  get isolation(): 'sandboxed' | 'degraded' | 'none' {
    return this.confinement?.isolation ?? 'none';
  }

  /** Resolves when the peer has said hello and sent `symphony.ready`; rejects if it exits first or `ms` passes. */
  async ready(ms = 10_000): Promise<void> {
    const exitedFirst = this.exited.then((e) => {
      throw new PeerGoneError(`'${this.name}' ${e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`} before it was ready`);
    });
    try {
      const connection = await Promise.race([this.#connected, exitedFirst]);
      await Promise.race([connection.ready(ms), exitedFirst]);
    } catch (err) {
      const e = this.#spawnError as (Error & { code?: string; path?: string }) | undefined;
      if (e) throw new PeerGoneError(`'${this.name}' could not be started: ${e.code === 'ENOENT' ? `no program '${e.path ?? this.child.spawnfile}' (ENOENT)` : e.message}`, { peer: this.name });
      throw err;
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.running) return;
    this.#stopping = true;
    this.#connection?.close('stopping');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Starts a peer process with its own token and a scrubbed environment. The token travels on an
 * inherited pipe (fd 3, read once by the peer and closed), never in the environment, where the
 * peer's own children and anyone reading /proc/PID/environ would find it.
 */
export function spawnPeer(bus: PeerHost, options: SpawnPeerOptions): PeerProcess {
  const transport = options.transport ?? 'stdio';
  if (transport === 'socket' && !options.socketPath) throw new TypeError(`peer '${options.name}': transport 'socket' needs the bus to listen on a socket`);
  if (transport === 'socket' && options.sandbox) throw new TypeError(`peer '${options.name}': a sandboxed peer joins the bus over its stdio (transport: stdio); its sandbox refuses Unix sockets`);
  const env: Record<string, string> = {};
  for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  Object.assign(env, options.env, { SYMPHONY_TOKEN_FD: String(TOKEN_FD), SYMPHONY_PEER: options.name, SYMPHONY_TRANSPORT: transport });
  // The kernel's socket path is only for peers that connect to it.
  if (transport === 'socket') env.SYMPHONY_BUS = options.socketPath!;
  const { fallback, ...request } = options.sandbox ?? {};
  const confinement = options.sandbox ? confine(options.name, options.command, options.args ?? [], options.cwd ?? process.cwd(), env, request as SandboxRequest, fallback) : undefined;
  const token = bus.issueToken(options.name, options.rights);
  const child = spawn(confinement?.command ?? options.command, confinement?.args ?? [...(options.args ?? [])], {
    cwd: options.cwd,
    env: confinement?.env ?? env,
    // stdin stays a pipe in both modes: its EOF tells the child the kernel is gone.
    stdio: ['pipe', transport === 'stdio' ? 'pipe' : 'ignore', options.stderr ?? 'inherit', 'pipe', ...(confinement?.extraStdio ?? [])],
    detached: options.detached,
  });
  if (!child.stdin) {
    // Out of descriptors (EMFILE, ENFILE): Node gives up before making the child's pipes and emits
    // 'error' on the next tick; with nobody listening that would end the kernel. Listened to here,
    // and the caller (a supervisor restarting the peer) gets a typed error to retry on.
    child.once('error', () => {});
    bus.revokeToken(token);
    confinement?.exited();
    throw new PeerGoneError(`peer '${options.name}' could not be started: the kernel is out of file descriptors (EMFILE); it is retried as any failed start`, { peer: options.name });
  }
  child.stdin.on('error', () => {}); // EPIPE when the child is gone: its exit is handled
  for (const s of child.stdio.slice(3)) (s as NodeJS.WritableStream | null)?.on?.('error', () => {});
  if (confinement && child.pid) {
    try {
      confinement.started(child);
    } catch (err) {
      // Not placed in its cgroup: it never gets its token, and dies before running anything.
      child.kill('SIGKILL');
      process.emitWarning(`peer '${options.name}' could not be confined: ${(err as Error).message}`);
    }
  }
  if (child.pid) (child.stdio[TOKEN_FD] as NodeJS.WritableStream | null)?.end(token);
  let connection: PeerConnection | Promise<PeerConnection>;
  if (transport === 'stdio') {
    connection = bus.attach(new StreamTransport(child.stdout!, child.stdin!, { maxFrameBytes: bus.maxFrameBytes, framing: 'ndjson' }), { label: options.name });
  } else {
    connection = bus.connectionFor(options.name);
  }
  const peer = new PeerProcess(options.name, child, connection, { killOnDisconnect: transport === 'stdio' }, confinement);
  void peer.exited.then(() => {
    bus.revokeToken(token);
    confinement?.exited();
  });
  return peer;
}

/** A worker thread peer: messages by structured clone over a MessagePort, no JSON. */
export function spawnWorker(bus: PeerHost, file: string | URL, options: { name: string; rights?: Rights; workerData?: unknown; resourceLimits?: ResourceLimits }): { worker: Worker; connection: PeerConnection; exited: Promise<number> } {
  const token = bus.issueToken(options.name, options.rights);
  const { port1, port2 } = new MessageChannel();
  const connection = bus.attach(new PortTransport(port1), { label: options.name });
  const worker = new Worker(file, {
    workerData: { symphony: { port: port2, token, name: options.name }, data: options.workerData },
    transferList: [port2],
    env: {},
    resourceLimits: options.resourceLimits,
  });
  const exited = new Promise<number>((resolve) => {
    worker.once('exit', (code) => {
      connection.close(`the worker exited with code ${code}`);
      bus.revokeToken(token);
      resolve(code);
    });
    worker.once('error', (err) => connection.close(`the worker failed: ${err.message}`));
  });
  return { worker, connection, exited };
}
