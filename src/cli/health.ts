import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname, resolve } from 'node:path';
import type { ComponentOptions, Kernel } from '../bootstrap/index.js';
import { Bus } from '../bus/index.js';
import { parseListen } from '../config/index.js';
import { Dashboard, type DashboardOptions } from '../dashboard/index.js';
import { HealthEndpoints } from './health-endpoints.js';
import { HostAllowList } from './http-hosts.js';

/**
 * Health endpoints (Kubernetes conventions) on a loopback port: `/livez` (the kernel process is
 * alive and not stopped; `/healthz` is its alias), `/readyz` (the boot is done, the system is not
 * draining and no required component is down) and `/status` (JSON: system, components, and the
 * statistics of the bus: `busName`, the component running builtin:bus). GET and HEAD only; readable
 * without a token (they change nothing), but only under a Host that cannot be rebound (http-hosts.ts).
 * `?verbose` lists the checks as the Kubernetes API server does, `?exclude=NAME` skips one, and
 * `/readyz/NAME` (`/livez/NAME`) answers for one check. With a dashboard, `/` is its page and
 * `/dashboard/...` its files, event stream and (POST, behind the operator token) actions.
 */

/** What one client can hold of the server; the defaults suit probes and a dashboard. */
export interface HttpLimits {
  /** Request line and headers together (431 past it). */
  maxHeaderBytes: number;
  /** Time to send the whole head; a slowloris connection is dropped past it (408). */
  headersTimeoutMs: number;
  /** Time to send the whole request. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after it. */
  keepAliveTimeoutMs: number;
  /** A socket with no traffic at all (half-open, stalled) is destroyed after it. */
  idleTimeoutMs: number;
  /** Open connections; one more is closed as soon as it is accepted. */
  maxConnections: number;
  /** A declared request body larger than this, or a chunked one, gets 413 and the connection is closed. */
  maxBodyBytes: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5000,
  idleTimeoutMs: 15_000,
  maxConnections: 128,
  maxBodyBytes: 1024,
});

export interface HealthOptions {
  listen: string;
  /** `http.hosts`: names answered for besides the loopback names and IP literals. */
  hosts?: readonly string[];
  /** Components whose failure does not make the system unready. */
  optional: ReadonlySet<string>;
  /** The component running builtin:bus, for /status. */
  busName?: string;
  limits?: Partial<HttpLimits>;
  /** Serve the live dashboard too (what it shows of the config: dashboardSettings()). */
  dashboard?: Omit<DashboardOptions, 'kernel' | 'bus'>;
}

export interface HealthServer {
  url: string;
  /** The dashboard's page, when one is served. */
  dashboardUrl: string | undefined;
  /** From now on `/readyz` fails its `shutdown` check (503) while everything keeps serving. */
  drain(reason: string): void;
  /** Stops accepting, ends idle connections at once and busy ones within a second. */
  stop(): Promise<void>;
}

export async function serveHealth(k: Kernel, options: HealthOptions): Promise<HealthServer> {
  const { listen, optional, busName } = options;
  const limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const { host, port } = parseListen(listen)!; // checked with the config (FILE:LINE:COL)
  const busOf = (): Bus | undefined => {
    if (busName === undefined) return undefined;
    try {
      const b = k.get(busName);
      return b instanceof Bus ? b : undefined;
    } catch {
      return undefined; // not running (yet, or any more)
    }
  };
  const dashboard = options.dashboard ? new Dashboard({ ...options.dashboard, kernel: k, bus: busOf }) : undefined;
  const endpoints = new HealthEndpoints(k, { optional, busName, hosts: new HostAllowList(options.hosts), limits }, dashboard);
  const handle = (req: IncomingMessage, res: ServerResponse) => endpoints.handle(req, res);

  const server: Server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often the two timeouts above are enforced (Node's default, 30s, would let a slowloris
      // connection live long past them).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 4)),
      requireHostHeader: true,
    },
    (req, res) => {
      try {
        handle(req, res);
      } catch (err) {
        // A bug here answers 500; it never takes the kernel down.
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
          res.end('internal error\n');
        } else res.destroy();
        process.stderr.write(`symphony: health endpoint error: ${(err as Error).message}\n`);
      }
    },
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());

  await listenOn(server, listen, port, host);
  server.unref();
  const address = server.address() as { address: string; port: number };
  const url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  return {
    url,
    dashboardUrl: dashboard ? `${url}/` : undefined,
    drain(reason) {
      endpoints.drain(reason);
      dashboard?.drain(reason);
    },
    stop: () =>
      new Promise((r) => {
        dashboard?.stop();
        if (!server.listening) return r();
        server.close(() => r());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}

/** Listens, or rejects with the address at fault; once listening, an accept failure (EMFILE when
 * the process is out of descriptors) is said at most once a second, and the server goes on. */
async function listenOn(server: Server, listen: string, port: number, host: string | undefined): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(listen, err)));
    try {
      server.listen(port, host, () => resolve());
    } catch (err) {
      reject(new ListenError(listen, err as NodeJS.ErrnoException));
    }
  });
  server.removeAllListeners('error');
  let saidAt = 0;
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (Date.now() - saidAt < 1000) return;
    saidAt = Date.now();
    process.stderr.write(`symphony: health endpoints: ${err.code ?? err.message} (the listener goes on)\n`);
  });
}

/**
 * What the dashboard shows of a system's config: each extension's grant (from the Orchestras'
 * `grants`), which components are `command:` peers, and the Conductor's melody folders.
 */
export function dashboardSettings(components: Record<string, ComponentOptions>, configFile: string): Omit<DashboardOptions, 'kernel' | 'bus'> {
  const grants: Record<string, unknown> = {};
  const peers = new Set<string>();
  const melodyFolders: string[] = [];
  const base = dirname(configFile);
  for (const [name, c] of Object.entries(components)) {
    const settings = (c.with ?? {}) as { grants?: Record<string, unknown>; melodies?: unknown };
    if (c.command) peers.add(name);
    if (c.use === 'builtin:orchestra' && settings.grants && typeof settings.grants === 'object') Object.assign(grants, settings.grants);
    if (c.use === 'builtin:conductor') {
      const folders = Array.isArray(settings.melodies) ? settings.melodies.filter((f): f is string => typeof f === 'string') : ['melodies'];
      for (const f of folders) melodyFolders.push(resolve(base, f));
    }
  }
  return { grants, peers, melodyFolders };
}

/** `http.listen` could not be served (bad host, address in use, no permission): a config problem. */
export class ListenError extends Error {
  constructor(
    readonly listen: string,
    readonly reason: NodeJS.ErrnoException,
  ) {
    const why: Record<string, string> = {
      EADDRINUSE: 'address in use',
      EADDRNOTAVAIL: 'address not available on this machine',
      EACCES: 'permission denied',
      ENOTFOUND: 'unknown host',
      EAI_AGAIN: 'unknown host',
    };
    super(`http.listen '${listen}': cannot listen: ${(reason.code && why[reason.code]) || reason.message}${reason.code ? ` (${reason.code})` : ''}`);
  }
}
