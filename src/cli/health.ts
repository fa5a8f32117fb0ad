import { createServer, type Server } from 'node:http';
import type { Kernel } from '../bootstrap/index.js';
import { parseListen } from '../config/index.js';

/**
 * Health endpoints (Kubernetes conventions) on a loopback port: `/livez` (the kernel process is
 * alive and not stopped), `/readyz` (the boot is done and no required component is down) and
 * `/status` (JSON: system, components, and the statistics of the bus: `busName`, the component
 * running builtin:bus).
 */
export async function serveHealth(k: Kernel, listen: string, optional: ReadonlySet<string>, busName?: string): Promise<{ url: string; close(): Promise<void> }> {
  const { host, port } = parseListen(listen)!; // checked with the config (FILE:LINE:COL)
  const server: Server = createServer((req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'cache-control': 'no-store' });
      res.end(typeof body === 'string' ? `${body}\n` : `${JSON.stringify(body, null, 2)}\n`);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    if (path === '/livez') return k.phase === 'stopped' ? send(503, 'stopped') : send(200, 'ok');
    if (path === '/readyz') {
      const down = k.states().filter((c) => !optional.has(c.name) && c.state !== 'ready' && c.state !== 'degraded' && c.state !== 'skipped');
      if (k.phase !== 'running') return send(503, { ready: false, reason: `the system is ${k.phase}` });
      if (down.length) return send(503, { ready: false, reason: 'required components are down', components: down.map((c) => `${c.name}: ${c.state}`) });
      return send(200, { ready: true, system: k.system });
    }
    if (path === '/status') {
      // The bus is the component running builtin:bus, whatever its name.
      let bus: unknown;
      if (busName !== undefined) {
        try {
          const instance = k.get(busName) as { stats?: () => unknown };
          if (typeof instance?.stats === 'function') bus = instance.stats();
        } catch {
          // not running
        }
      }
      return send(200, { isolation: k.isolation(), phase: k.phase, system: k.system ?? null, uptimeMs: Math.round(k.now()), components: k.states(), bus: bus ?? null });
    }
    send(404, 'not found: try /livez, /readyz or /status');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(listen, err)));
    try {
      server.listen(port, host, () => resolve());
    } catch (err) {
      reject(new ListenError(listen, err as NodeJS.ErrnoException));
    }
  });
  server.unref();
  const address = server.address() as { address: string; port: number };
  return {
    url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
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

