import { closeSync, readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { BackoffPolicy } from '../../util/backoff.js';
import type { Duration } from '../../util/duration.js';
import type { Framing } from '../framing.js';
import { PortTransport } from '../port-transport.js';
import { StreamTransport } from '../stream-transport.js';
import type { MessageTransport } from '../transport.js';

export interface ConnectOptions {
  /** The name this peer claims (its identity still comes from the token). */
  name?: string;
  /** Unix socket path (default: `SYMPHONY_BUS`). */
  path?: string;
  /** Secret (default: read once from the descriptor `SYMPHONY_TOKEN_FD` the kernel gave a peer it spawned, else `SYMPHONY_TOKEN`, else the file `<socket>.token`). */
  token?: string;
  /** `socket`, `stdio`, or `port` (a worker's MessagePort). Default: from `SYMPHONY_TRANSPORT`, the worker's data, or the socket path. */
  transport?: 'socket' | 'stdio' | 'port';
  port?: MessagePort;
  framing?: Framing;
  /** Default request deadline (30s). */
  timeout?: Duration;
  /** Socket clients reconnect after a drop, with exponential backoff and jitter (default on). */
  reconnect?: boolean | Partial<BackoffPolicy>;
  /** Exit the process when the kernel is gone (stdin EOF or a new parent). Default: on for peers the kernel spawned. */
  exitWithParent?: boolean;
}

// A fact of the process: the kernel hands one descriptor to one process, read once.
let tokenFromFd: string | undefined;

/**
 * The token a kernel-spawned peer was handed on an inherited descriptor (`SYMPHONY_TOKEN_FD`):
 * read to its end once, then the descriptor is closed and the variable dropped, so nothing the
 * process runs later can read it again (reconnects reuse the copy kept here).
 */
function inheritedToken(): string | undefined {
  if (tokenFromFd !== undefined) return tokenFromFd;
  const fd = Number(process.env.SYMPHONY_TOKEN_FD);
  if (!process.env.SYMPHONY_TOKEN_FD || !Number.isInteger(fd) || fd < 3) return undefined;
  delete process.env.SYMPHONY_TOKEN_FD;
  try {
    tokenFromFd = readFileSync(fd, 'utf8').trim();
  } finally {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
  return tokenFromFd;
}

/** One way to (re)open the connection: a fresh transport and the token to say hello with. */
export interface Setup {
  transport: MessageTransport;
  token: string;
}

/** What a client connects with once the options are filled from the environment the kernel gave it. */
export interface Connection {
  options: ConnectOptions;
  setup: () => Promise<Setup>;
  /** Whether the process should exit when its kernel is gone. */
  exitWithParent: boolean;
}

/** Fills the options from the environment (token descriptor, worker data, variables) and picks the transport. */
export function resolveConnection(options: ConnectOptions): Connection {
  const inherited = inheritedToken();
  const spawnedByKernel = inherited !== undefined || process.env.SYMPHONY_TOKEN !== undefined;
  const fromWorker = (workerData as { symphony?: { port: MessagePort; token: string; name: string } } | null)?.symphony;
  const kind = options.transport ?? (options.port || fromWorker ? 'port' : (process.env.SYMPHONY_TRANSPORT as ConnectOptions['transport']) ?? (options.path ?? process.env.SYMPHONY_BUS ? 'socket' : 'stdio'));
  const name = options.name ?? fromWorker?.name ?? process.env.SYMPHONY_PEER ?? `node-${process.pid}`;
  let setup: () => Promise<Setup>;
  if (kind === 'port') {
    const port = options.port ?? fromWorker?.port;
    if (!port) throw new TypeError('transport "port" needs a MessagePort (or a worker started by the bus)');
    const token = options.token ?? fromWorker?.token ?? inherited ?? process.env.SYMPHONY_TOKEN ?? '';
    setup = async () => ({ transport: new PortTransport(port), token });
  } else if (kind === 'stdio') {
    const token = options.token ?? inherited ?? process.env.SYMPHONY_TOKEN ?? '';
    setup = async () => ({ transport: new StreamTransport(process.stdin, process.stdout, { framing: 'ndjson' }), token });
  } else {
    const path = options.path ?? process.env.SYMPHONY_BUS;
    if (!path) throw new TypeError('no bus socket: pass { path } or set SYMPHONY_BUS');
    const token = options.token ?? inherited ?? process.env.SYMPHONY_TOKEN ?? readFileSync(`${path}.token`, 'utf8').trim();
    setup = () =>
      new Promise((resolve, reject) => {
        const socket = netConnect(path);
        socket.once('connect', () => {
          socket.off('error', reject);
          socket.setNoDelay?.(true);
          resolve({ transport: new StreamTransport(socket, socket, { framing: 'ndjson' }), token });
        });
        socket.once('error', reject);
      });
  }
  return {
    options: { ...options, name, transport: kind, reconnect: kind === 'socket' ? (options.reconnect ?? true) : false },
    setup,
    exitWithParent: options.exitWithParent ?? (spawnedByKernel && kind !== 'port'),
  };
}
