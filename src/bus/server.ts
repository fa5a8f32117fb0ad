import { chmod, mkdir, mkdtemp, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { PeerHost } from './peer-host.js';
import { StreamTransport } from './stream-transport.js';

/** A Unix-socket listener of the bus, in a private directory, with the operator's token beside it. */
export interface SocketServer {
  readonly path: string;
  /** The operator token's file (`<socket>.token`, mode 0600), when the bus wrote one. */
  readonly tokenFile: string | undefined;
  stop(): Promise<void>;
}

export interface ListenOptions {
  /** `auto` (a fresh private directory under the system temp dir) or a socket path. */
  path?: 'auto' | string;
  /** Writes this token to `<socket>.token` (mode 0600) for operators and tools. */
  operatorToken?: string;
}

/**
 * Listens on a Unix domain socket: the socket is mode 0600 in a directory only this user can
 * enter (0700), so other users cannot reach it. Every connection must say hello with a token.
 */
export async function listenUnix(bus: PeerHost, options: ListenOptions = {}): Promise<SocketServer> {
  let ownDir: string | undefined;
  let path: string;
  if (!options.path || options.path === 'auto') {
    ownDir = await mkdtemp(join(tmpdir(), 'symphony-')); // mode 0700
    path = join(ownDir, 'bus.sock');
  } else {
    path = options.path;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await removeStaleSocket(path);
  }
  // The token file first: a client that finds the socket (a peer reconnecting after a restart)
  // must find this run's token beside it, never the last run's or none.
  let tokenFile: string | undefined;
  if (options.operatorToken) {
    tokenFile = `${path}.token`;
    await rm(tokenFile, { force: true });
    await writeFile(tokenFile, `${options.operatorToken}\n`, { mode: 0o600, flag: 'wx' });
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay?.(true);
    bus.attach(new StreamTransport(socket, socket, { maxFrameBytes: bus.maxFrameBytes }), { label: 'socket peer', boundedHello: true });
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => {
      if (tokenFile) void rm(tokenFile, { force: true });
      reject(err);
    };
    server.once('error', failed);
    // Create the socket with no access for others from the first instant, then set it exactly.
    const mask = setUmask(0o177);
    server.listen(path, () => {
      if (mask !== undefined) setUmask(mask);
      server.off('error', failed);
      resolve();
    });
  });
  // Out of descriptors (EMFILE on accept) and the like: reported, never thrown (an 'error' nobody
  // listens to ends the process); the listener goes on accepting once descriptors are free.
  server.on('error', (err) => bus.listenerError(err));
  await chmod(path, 0o600);
  let closing: Promise<void> | undefined;
  return {
    path,
    tokenFile,
    stop() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
        await rm(path, { force: true });
        if (tokenFile) await rm(tokenFile, { force: true });
        if (ownDir) await rm(ownDir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** A socket file left by a dead process blocks listen(); remove it, but never one that answers. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!(await stat(path)).isSocket()) throw new Error(`${path} exists and is not a socket`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const alive = await new Promise<boolean>((resolve) => {
    const c = netConnect(path);
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another bus is listening on ${path}`);
  await unlink(path);
}

/** process.umask(mask), or undefined where it is not allowed (worker threads). */
function setUmask(mask: number): number | undefined {
  try {
    return process.umask(mask);
  } catch {
    return undefined;
  }
}
