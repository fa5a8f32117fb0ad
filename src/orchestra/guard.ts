/**
 * Installed by the isolated host before an extension's code runs: every attempt a layer refuses
 * (the permission model, the sandbox's view, its seccomp filter, its cgroup) is logged to stderr
 * as a JSON line the kernel relays (`denied: …`, or `limit reached: …`), whether or not the
 * extension catches the error. Denials still throw, or are emitted, exactly as before: the guard
 * only watches (an `error` event it saw is still unhandled if the extension does not handle it).
 */
import childProcess from 'node:child_process';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import workerThreads from 'node:worker_threads';

/** Refusals: the permission model, a read-only bind, the filter, a missing network. */
const DENIED = new Set(['ERR_ACCESS_DENIED', 'ERR_DLOPEN_DISABLED', 'ENETUNREACH', 'EACCES', 'EPERM', 'EROFS']);
/** A bound reached: the scratch tmpfs full, the process limit, descriptors. */
const LIMITS = new Set(['ENOSPC', 'EDQUOT', 'EAGAIN', 'EMFILE', 'ENFILE']);

// The guard's own look-ups use the originals: they must not report themselves.
const lstat = fs.lstatSync;
const readlink = fs.readlinkSync;

export interface GuardOptions {
  /** The extension was granted the network: a failed connection or query is then just a failure. */
  net: boolean;
}
let options: GuardOptions = { net: false };

function write(level: string, message: string): void {
  process.stderr.write(`${JSON.stringify({ level, message })}\n`);
}

function report(what: string, target: unknown, err: unknown): void {
  const code = (err as { code?: string })?.code;
  if (!code) return;
  const resource = (err as { resource?: string }).resource ?? (typeof target === 'string' ? target : '');
  const on = resource ? ` ${resource}` : '';
  if (DENIED.has(code)) return write('warn', `denied: ${what}${on} (${code})`);
  if (LIMITS.has(code)) return write('warn', `limit reached: ${what}${on} (${code})`);
  if (code === 'ENOENT' && typeof target === 'string' && outsideLink(target)) return write('warn', `denied: ${what}${on}: a symlink to ${outsideLink(target)}, outside its view (ENOENT)`);
}

/** The target of `path` when it is a symlink that leads nowhere here (outside the sandbox's view). */
function outsideLink(path: string): string | undefined {
  try {
    if (!lstat(path).isSymbolicLink()) return undefined;
    return readlink(path);
  } catch {
    return undefined;
  }
}

/** Reports the `error` events of one emitter (a socket, a server, a child) without handling them. */
function watchErrors(emitter: EventEmitter, what: string, target: () => string, also?: (err: unknown) => void): void {
  const emit = emitter.emit;
  emitter.emit = function guardedEmit(this: EventEmitter, event: string | symbol, ...args: unknown[]) {
    if (event === 'error') {
      report(what, target(), args[0]);
      also?.(args[0]);
    }
    return emit.call(this, event, ...args);
  } as typeof emit;
}

type Fn = (...args: unknown[]) => unknown;

/** Nesting depth of guarded calls: readFileSync calls openSync inside; only the outer call reports. */
let depth = 0;

function wrap(obj: Record<string, unknown>, name: string, label: string, onResult?: (result: unknown, args: unknown[]) => void): void {
  const original = obj[name];
  if (typeof original !== 'function') return;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    depth++;
    try {
      const r = (original as Fn).apply(this, args);
      if (r instanceof Promise) return r.catch((err: unknown) => (report(label, args[0], err), Promise.reject(err)));
      if (depth === 1) onResult?.(r, args);
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

const DNS_METHODS = ['lookup', 'lookupService', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCaa', 'resolveCname', 'resolveMx', 'resolveNaptr', 'resolveNs', 'resolvePtr', 'resolveSoa', 'resolveSrv', 'resolveTxt', 'reverse'];

/** Without the network every query fails, whatever the resolver says (c-ares answers ECONNREFUSED): reported as denied. */
function reportQuery(name: string, args: unknown[], err: unknown): void {
  if (options.net) return;
  const code = (err as { code?: string })?.code ?? 'error';
  write('warn', `denied: dns ${name} ${typeof args[0] === 'string' ? args[0] : ''}: no network granted (${code})`);
}

function guardDns(target: Record<string, unknown>): void {
  for (const name of DNS_METHODS) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    target[name] = function guardedQuery(this: unknown, ...args: unknown[]) {
      const last = args.at(-1);
      if (typeof last === 'function') {
        args[args.length - 1] = (err: unknown, ...rest: unknown[]) => {
          if (err) reportQuery(name, args, err);
          return (last as Fn)(err, ...rest);
        };
      }
      const r = (original as Fn).apply(this, args);
      if (r instanceof Promise) return r.catch((err: unknown) => (reportQuery(name, args, err), Promise.reject(err)));
      return r;
    };
  }
}

export function installGuard(o: GuardOptions = { net: false }): void {
  options = o;
  guardFiles();
  guardChildren();
  guardWorkers();
  guardAddons();
  guardSignals();
  guardSockets();
  guardDns(dns as unknown as Record<string, unknown>);
  guardDns(dns.promises as unknown as Record<string, unknown>);
  guardDns(dns.Resolver.prototype as unknown as Record<string, unknown>);
  guardDns(dns.promises.Resolver.prototype as unknown as Record<string, unknown>);
  syncBuiltinESMExports();
}

function guardFiles(): void {
  const f = fs as unknown as Record<string, unknown>;
  for (const n of ['readFileSync', 'writeFileSync', 'appendFileSync', 'openSync', 'readdirSync', 'statSync', 'mkdirSync', 'rmSync', 'unlinkSync', 'renameSync', 'copyFileSync', 'createReadStream', 'createWriteStream', 'symlinkSync', 'linkSync']) {
    wrap(f, n, `fs.${n}`);
  }
  const p = fs.promises as unknown as Record<string, unknown>;
  for (const n of ['readFile', 'writeFile', 'appendFile', 'open', 'readdir', 'stat', 'mkdir', 'rm', 'unlink', 'rename', 'copyFile', 'symlink', 'link']) {
    wrap(p, n, `fs.promises.${n}`);
  }
}

/** A child that cannot start says so on its `error` event (EAGAIN past the process limit) or in spawnSync's result. */
function guardChildren(): void {
  const c = childProcess as unknown as Record<string, unknown>;
  const program = (args: unknown[]) => (typeof args[0] === 'string' ? args[0] : '');
  for (const n of ['spawn', 'exec', 'execFile', 'fork']) {
    wrap(c, n, 'child process', (child, args) => {
      if (child instanceof EventEmitter) watchErrors(child, 'child process', () => program(args));
    });
  }
  for (const n of ['spawnSync', 'execSync', 'execFileSync']) {
    wrap(c, n, 'child process', (r, args) => {
      const error = (r as { error?: unknown } | undefined)?.error;
      if (error) report('child process', program(args), error);
    });
  }
}

function guardWorkers(): void {
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
}

function guardAddons(): void {
  const dlopen = process.dlopen.bind(process);
  process.dlopen = ((module: unknown, filename: string, flags?: number) => {
    try {
      return dlopen(module as { exports: unknown }, filename, flags);
    } catch (err) {
      report('native addon', filename, err);
      throw err;
    }
  }) as typeof process.dlopen;
}

/** Outside its pid namespace there is nothing to signal (ESRCH); 0 (a liveness probe) is not reported. */
function guardSignals(): void {
  const kill = process.kill.bind(process);
  process.kill = ((pid: number, signal?: string | number) => {
    try {
      return kill(pid, signal);
    } catch (err) {
      if (signal !== 0) {
        const code = (err as { code?: string }).code;
        if (code === 'ESRCH' || DENIED.has(code ?? '')) write('warn', `denied: signal ${String(signal ?? 'SIGTERM')} to pid ${pid} (${code}${code === 'ESRCH' ? ': no such process in its sandbox' : ''})`);
      }
      throw err;
    }
  }) as typeof process.kill;
}

function guardSockets(): void {
  const endpoint = (x: unknown) => (typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x));
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    if (!(this as { guarded?: boolean }).guarded) {
      (this as { guarded?: boolean }).guarded = true;
      watchErrors(this, 'network connect', () => endpoint(args[0]));
    }
    return (connect as Fn).apply(this, args) as net.Socket;
  } as typeof connect;
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function guardedListen(this: net.Server, ...args: unknown[]) {
    watchErrors(this, 'listen', () => endpoint(args[0]));
    return (listen as Fn).apply(this, args) as net.Server;
  } as typeof listen;
  const createSocket = dgram.createSocket;
  dgram.createSocket = function guardedDgram(this: unknown, ...args: unknown[]) {
    const s = (createSocket as Fn).apply(this, args) as dgram.Socket;
    watchErrors(s, 'udp socket', () => '');
    return s;
  } as typeof dgram.createSocket;
}
