import { readFileSync } from 'node:fs';
import type { Kernel, KernelEvent } from '../bootstrap/index.js';
import type { ComponentOptions } from '../bootstrap/index.js';
import { Bus, ForbiddenError, InvalidParamsError, type HandlerContext, type Registration } from '../bus/index.js';
import { Orchestra } from '../orchestra/index.js';

/**
 * What `symphony up` serves on its bus for the operator's console (`symphony ps`, `restart`,
 * `logs`): `system.ps`, `system.restart`, `system.logs`. Only the operator's token may call them
 * (a peer or extension granted `system.*` by mistake still cannot restart the system's parts).
 */

export interface PsEntry {
  name: string;
  kind: 'component' | 'extension' | 'peer';
  state: string;
  health: string | null;
  pid: number | null;
  restarts: number;
  uptimeMs: number | null;
  rssBytes: number | null;
  isolation: 'sandboxed' | 'degraded' | 'none';
  /** Why it last failed (a peer's exit code or signal and its last stderr lines), or null. */
  error: string | null;
}

export interface PsResult {
  system: { state: string; isolation: 'sandboxed' | 'degraded' | 'none'; pid: number; uptimeMs: number; rssBytes: number };
  components: PsEntry[];
}

export interface LogLine {
  seq: number;
  time: string;
  /** The component that wrote it (or `kernel`). */
  component: string;
  /** The extension or peer a line is about, when its writer names one (`extension 'files': …`). */
  about?: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** The proxy of a process-mode component or `command:` peer answers this symbol with its pid. */
const PROCESS_ID = Symbol.for('symphony.pid');

/** The system's recent log lines, kept in memory (bounded) so `symphony logs` can show them and follow. */
export class LogBook {
  readonly #lines: LogLine[] = [];
  #seq = 0;
  readonly #waiters = new Set<() => void>();
  constructor(readonly capacity = 5000) {}

  attach(k: Kernel): () => void {
    return k.on('event', (e) => this.#record(e));
  }

  #record(e: KernelEvent): void {
    let line: Omit<LogLine, 'seq' | 'time'> | undefined;
    if (e.type === 'log') {
      const about = /^(?:extension|peer) '([^']+)'/.exec(e.message)?.[1] ?? /^extensions: '([^']+)'/.exec(e.message)?.[1];
      line = { component: e.component, level: e.level, message: e.message, ...(about ? { about } : {}) };
    } else if (e.type === 'component') {
      const detail = `${e.reason ? ` (${e.reason})` : ''}${e.error ? `: ${e.error.name}: ${e.error.message}` : ''}`;
      line = { component: e.component, level: e.state === 'failed' ? 'error' : 'info', message: `${e.state}${detail}` };
    } else if (e.type === 'system') {
      line = { component: 'kernel', level: e.state === 'failed' ? 'error' : 'info', message: `system ${e.state}${e.reason ? ` (${e.reason})` : ''}` };
    }
    if (!line) return;
    this.#lines.push({ seq: ++this.#seq, time: new Date().toISOString(), ...line });
    if (this.#lines.length > this.capacity) this.#lines.splice(0, this.#lines.length - this.capacity);
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  /** Lines after `after` (a seq), of `name` (its own or about it), the last `limit`. */
  read(name: string | undefined, after: number, limit: number): LogLine[] {
    const of = this.#lines.filter((l) => l.seq > after && (name === undefined || l.component === name || l.about === name));
    return of.slice(Math.max(0, of.length - limit));
  }

  get last(): number {
    return this.#seq;
  }

  /** Resolves at the next line, or when `ms` passes or `signal` aborts. */
  next(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }
}

/** Resident memory of a process, from /proc (null where there is none: not Linux, or gone). */
function rssOf(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The operator's bus methods, declared once: the handlers below are checked against these (name
 * and result), and the console (console.ts) types its replies with them.
 */
export interface OperatorMethods {
  'system.ps': { params: Record<string, never>; result: PsResult };
  'system.restart': { params: { name: string }; result: { restarted: string; kind: 'peer' | 'component' | 'extension'; state: string | undefined } };
  'system.logs': { params: { name?: string | undefined; after?: number; limit?: number; waitMs?: number }; result: { lines: LogLine[]; last: number } };
}

export interface OperatorServiceOptions {
  kernel: Kernel;
  bus: Bus;
  components: Record<string, ComponentOptions>;
  logs: LogBook;
}

/** Serves the operator's methods on `bus`; returns what removes them. */
export function serveOperator(options: OperatorServiceOptions): () => void {
  const service = new OperatorService(options);
  return () => service.stop();
}

/**
 * The operator's methods over one kernel: what each part is (ps), restarting one, and the log book.
 * It watches the kernel (and each Orchestra's) for when each part last became ready and why it
 * last failed.
 */
class OperatorService {
  readonly #k: Kernel;
  readonly #components: Record<string, ComponentOptions>;
  readonly #logs: LogBook;
  readonly #startedAt = performance.now();
  /** When each part last became ready: the top kernel's components and each Orchestra's extensions. */
  readonly #since = new Map<string, number>();
  readonly #watched = new WeakSet<object>();
  /** Why each component last failed, kept after it is restarted (ps shows it until it fails otherwise). */
  readonly #lastError = new Map<string, string>();
  readonly #off: () => void;
  readonly #registrations: Registration[];

  constructor({ kernel: k, bus, components, logs }: OperatorServiceOptions) {
    this.#k = k;
    this.#components = components;
    this.#logs = logs;
    for (const s of k.states()) if (s.state === 'ready' || s.state === 'degraded') this.#since.set(s.name, this.#startedAt);
    this.#off = k.on('component', (e) => {
      if (e.type !== 'component') return;
      if (e.error) this.#lastError.set(e.component, `${e.error.message}`);
      if (e.state === 'ready') {
        this.#since.set(e.component, performance.now());
        this.#watchOrchestras();
      } else if (e.state === 'failed' || e.state === 'stopped') {
        this.#since.delete(e.component);
      }
    });
    this.#watchOrchestras();
    type Result<M extends keyof OperatorMethods> = OperatorMethods[M]['result'];
    const serve = <M extends keyof OperatorMethods>(method: M, fn: (p: any, hctx: HandlerContext) => Result<M> | Promise<Result<M>>) => bus.handle(method, fn);
    this.#registrations = [
      serve('system.ps', (_p: unknown, hctx: HandlerContext) => (operatorOnly(hctx), this.#ps())),
      serve('system.restart', (p: { name?: unknown }, hctx: HandlerContext) => (operatorOnly(hctx), this.#restart(p))),
      serve('system.logs', (p: { name?: unknown }, hctx: HandlerContext) => (operatorOnly(hctx), this.#readLogs(p, hctx))),
    ];
  }

  stop(): void {
    this.#off();
    for (const r of this.#registrations) r.unregister();
  }

  #watchOrchestras(): void {
    for (const s of this.#k.states()) {
      const o = this.#instance(s.name);
      if (o instanceof Orchestra && o.kernel && !this.#watched.has(o.kernel)) {
        this.#watched.add(o.kernel);
        for (const x of o.kernel.states()) if (x.state === 'ready') this.#since.set(`${s.name}/${x.name}`, performance.now());
        o.kernel.on('component', (e) => {
          if (e.type === 'component' && e.state === 'ready') this.#since.set(`${s.name}/${e.component}`, performance.now());
        });
      }
    }
  }

  #instance(name: string): unknown {
    try {
      return this.#k.get(name);
    } catch {
      return undefined;
    }
  }

  #orchestras(): { name: string; orchestra: Orchestra }[] {
    return this.#k.states().flatMap((s) => {
      const o = this.#instance(s.name);
      return o instanceof Orchestra ? [{ name: s.name, orchestra: o }] : [];
    });
  }

  #known(): string[] {
    return [...this.#k.states().map((s) => s.name), ...this.#orchestras().flatMap((o) => o.orchestra.status().map((x) => x.name))];
  }

  #ps(): PsResult {
    const k = this.#k;
    const now = performance.now();
    const out: PsEntry[] = [];
    for (const s of k.states()) {
      const inst = this.#instance(s.name) as Record<symbol, unknown> | undefined;
      const pidOf = inst && typeof inst === 'object' ? (inst[PROCESS_ID] as (() => number | undefined) | undefined) : undefined;
      const pid = typeof pidOf === 'function' ? (pidOf() ?? null) : null;
      const up = this.#since.get(s.name);
      out.push({
        name: s.name,
        kind: this.#components[s.name]?.command ? 'peer' : 'component',
        state: s.state,
        // A part that is not running has no health now (the last probe's answer would be stale).
        health: s.state === 'ready' || s.state === 'degraded' ? s.health : null,
        pid,
        restarts: s.restarts,
        uptimeMs: up === undefined || (s.state !== 'ready' && s.state !== 'degraded') ? null : Math.round(now - up),
        rssBytes: rssOf(pid),
        isolation: s.isolation,
        error: this.#lastError.get(s.name) ?? null,
      });
    }
    for (const { name: owner, orchestra } of this.#orchestras()) {
      for (const x of orchestra.status()) {
        const pid = x.pid ?? null;
        const up = this.#since.get(`${owner}/${x.name}`);
        const running = x.state === 'active' || x.state === 'ready' || x.state === 'inactive';
        out.push({
          name: x.name,
          kind: 'extension',
          state: x.state,
          health: null,
          pid,
          restarts: x.restarts,
          uptimeMs: up === undefined || !running ? null : Math.round(now - up),
          rssBytes: rssOf(pid),
          isolation: x.isolation,
          error: x.error,
        });
      }
    }
    return { system: { state: k.system ?? k.phase, isolation: k.isolation(), pid: process.pid, uptimeMs: Math.round(now - this.#startedAt), rssBytes: process.memoryUsage().rss }, components: out };
  }

  async #restart(p: { name?: unknown }): Promise<OperatorMethods['system.restart']['result']> {
    const k = this.#k;
    const name = p?.name;
    if (typeof name !== 'string' || !name) throw new InvalidParamsError('system.restart needs { name }: a component or extension');
    if (k.states().some((s) => s.name === name)) {
      await k.restart(name);
      return { restarted: name, kind: this.#components[name]?.command ? 'peer' : 'component', state: k.states().find((s) => s.name === name)?.state };
    }
    for (const { orchestra } of this.#orchestras()) {
      if (orchestra.status().some((x) => x.name === name)) {
        const r = await orchestra.restart(name);
        return { restarted: name, kind: 'extension', state: r.state };
      }
    }
    throw new InvalidParamsError(`no component or extension named '${name}' (known: ${this.#known().join(', ')})`, { name, known: this.#known() });
  }

  async #readLogs(p: { name?: unknown; after?: unknown; limit?: unknown; waitMs?: unknown }, hctx: HandlerContext): Promise<OperatorMethods['system.logs']['result']> {
    const logs = this.#logs;
    const name = p?.name === undefined || p.name === null ? undefined : String(p.name);
    if (name !== undefined && !this.#known().includes(name) && name !== 'kernel') throw new InvalidParamsError(`no component or extension named '${name}' (known: kernel, ${this.#known().join(', ')})`, { name, known: this.#known() });
    const after = typeof p?.after === 'number' && p.after >= 0 ? p.after : 0;
    const limit = typeof p?.limit === 'number' && p.limit > 0 ? Math.min(p.limit, logs.capacity) : 200;
    // Following: wait (within the caller's deadline) for a line to come, rather than answer empty at once.
    const waitMs = typeof p?.waitMs === 'number' && p.waitMs > 0 ? Math.min(p.waitMs, Math.max(0, hctx.remainingMs() - 500)) : 0;
    let lines = logs.read(name, after, limit);
    const deadline = performance.now() + waitMs;
    let cursor = Math.max(after, logs.last);
    while (!lines.length && waitMs > 0 && !hctx.signal.aborted && performance.now() < deadline) {
      await logs.next(deadline - performance.now(), hctx.signal);
      lines = logs.read(name, cursor, limit);
      cursor = logs.last;
    }
    return { lines, last: Math.max(cursor, lines.at(-1)?.seq ?? 0) };
  }
}

/**
 * The bus's rights check lets through whoever is granted system.*; these methods restart the
 * system's parts, so they also ask the bus whether the caller holds the operator's token (or is
 * one of the kernel's own parts calling for itself): a peer, an extension or a deputy's melody
 * granted system.* by mistake is still refused. The name a caller claims decides nothing.
 */
function operatorOnly(hctx: HandlerContext): void {
  if (hctx.operator !== true) throw new ForbiddenError(`'${hctx.method}' is the operator's: '${hctx.peer}' does not hold the operator's token`, { method: hctx.method, peer: hctx.peer });
}

export { Bus };
