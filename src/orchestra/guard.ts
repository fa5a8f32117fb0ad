/**
 * Installed by the isolated host before an extension's code runs: every attempt the permission
 * model (or the network namespace) denies is logged to stderr as a JSON line the kernel relays
 * (`denied: …`), whether or not the extension catches the error. Denials still throw as before.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import workerThreads from 'node:worker_threads';

const DENIED = new Set(['ERR_ACCESS_DENIED', 'ERR_DLOPEN_DISABLED', 'ENETUNREACH', 'EACCES', 'EPERM']);

function report(what: string, target: unknown, err: unknown): void {
  const code = (err as { code?: string })?.code;
  if (!code || !DENIED.has(code)) return;
  const resource = (err as { resource?: string }).resource ?? (typeof target === 'string' ? target : '');
  process.stderr.write(`${JSON.stringify({ level: 'warn', message: `denied: ${what}${resource ? ` ${resource}` : ''} (${code})` })}\n`);
}

type Fn = (...args: unknown[]) => unknown;

/** Nesting depth of guarded calls: readFileSync calls openSync inside; only the outer call reports. */
let depth = 0;

function wrap(obj: Record<string, unknown>, name: string, label: string): void {
  const original = obj[name];
  if (typeof original !== 'function') return;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    depth++;
    try {
      const r = (original as Fn).apply(this, args);
      if (r instanceof Promise) return r.catch((err: unknown) => (report(label, args[0], err), Promise.reject(err)));
      return r;
    } catch (err) {
      if (depth === 1) report(label, args[0], err);
      throw err;
    } finally {
      depth--;
    }
  };
  Object.defineProperty(wrapped, 'name', { value: name });
  obj[name] = wrapped;
}

export function installGuard(): void {
  const f = fs as unknown as Record<string, unknown>;
  for (const n of ['readFileSync', 'writeFileSync', 'appendFileSync', 'openSync', 'readdirSync', 'statSync', 'mkdirSync', 'rmSync', 'unlinkSync', 'renameSync', 'copyFileSync', 'createReadStream', 'createWriteStream']) {
    wrap(f, n, `fs.${n}`);
  }
  const p = fs.promises as unknown as Record<string, unknown>;
  for (const n of ['readFile', 'writeFile', 'appendFile', 'open', 'readdir', 'stat', 'mkdir', 'rm', 'unlink', 'rename', 'copyFile']) {
    wrap(p, n, `fs.promises.${n}`);
  }
  const c = childProcess as unknown as Record<string, unknown>;
  for (const n of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) wrap(c, n, 'child process');
  const w = workerThreads as unknown as Record<string, unknown>;
  const OriginalWorker = w.Worker as new (...args: unknown[]) => unknown;
  w.Worker = class GuardedWorker extends (OriginalWorker as unknown as new (...a: unknown[]) => object) {
    constructor(...args: unknown[]) {
      try {
        super(...args);
      } catch (err) {
        report('worker thread', '', err);
        throw err;
      }
    }
  };
  const dlopen = process.dlopen.bind(process);
  process.dlopen = ((module: unknown, filename: string, flags?: number) => {
    try {
      return dlopen(module as { exports: unknown }, filename, flags);
    } catch (err) {
      report('native addon', filename, err);
      throw err;
    }
  }) as typeof process.dlopen;
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    this.once('error', (err) => report('network connect', typeof args[0] === 'object' ? JSON.stringify(args[0]) : String(args[0]), err));
    return (connect as Fn).apply(this, args) as net.Socket;
  } as typeof connect;
  syncBuiltinESMExports();
}
