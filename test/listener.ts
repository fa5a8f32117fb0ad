/**
 * A real TCP listener on the host that counts what reaches it: a denial is proven by what it did
 * NOT receive, and a control run from an unconfined process proves the listener was reachable.
 * An error code alone proves nothing (an unconfined process gets ECONNREFUSED or ENETUNREACH too).
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Connections accepted and bytes received so far. */
  readonly seen: { connections: number; bytes: number };
  close(): Promise<void>;
}

export function tcpListener(host = '127.0.0.1'): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const seen = { connections: 0, bytes: 0 };
    const server: Server = createServer((c) => {
      seen.connections++;
      c.on('data', (d) => (seen.bytes += d.length));
      c.on('error', () => {});
    });
    server.on('error', reject);
    server.listen({ port: 0, host }, () => {
      const a = server.address();
      const port = a && typeof a === 'object' ? a.port : 0;
      resolve({ host, port, seen, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

/**
 * The same connect-and-write an extension attempts, from an unconfined process: 'connected' or its
 * error code. Asynchronous: the listener lives in this process and must keep accepting meanwhile.
 */
export function reachFromHost(host: string, port: number): Promise<string> {
  const code = `const s = require('net').connect(${port}, ${JSON.stringify(host)}); s.on('connect', () => s.end('CONTROL\\n', () => { console.log('connected'); s.destroy(); })); s.on('error', (e) => console.log(e.code))`;
  return new Promise((resolve) => execFile(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => resolve(stdout.trim() || `no answer (${err?.message ?? ''} ${stderr.trim()})`)));
}
