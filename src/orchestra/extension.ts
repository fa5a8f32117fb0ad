import { relayLog } from '../bus/index.js';
import { pathToFileURL } from 'node:url';
import type { AnyComponentDefinition, ComponentContext, Logger } from '../bootstrap/index.js';
import { BusError, ErrorCode, PeerGoneError, type Bus, type BusEndpoint, type PeerProcess, type Rights } from '../bus/index.js';
import type { ExtensionContext, ExtensionModule } from './api.js';
import { ISOLATION } from '../bootstrap/index.js';
import { probeSandbox, probeSandboxAsync, type IsolationLevel, type IsolationPolicy } from '../sandbox/index.js';
import { isolatedCommand, watchMemory } from './isolation.js';
import { monitorLimits } from './limits-monitor.js';
import type { ExtensionManifest } from './manifest.js';

export type ExtensionState = 'inactive' | 'activating' | 'active' | 'stopping' | 'stopped' | 'crashed';

/** Where the isolated host and the no-network preload are (Symphony's compiled code). */
export interface HostFiles {
  script: string;
  codeDir: string;
  noNetPreload: string;
}

export interface RuntimeOptions {
  bus: Bus;
  host: HostFiles;
  log: Logger;
  config: unknown;
  /** `strict`: an isolated extension the sandbox cannot confine is not started. Default `auto`. */
  isolation?: IsolationPolicy;
  /** Bumped by a reload: an in-process extension's module is imported afresh (ESM caches by URL). */
  generation?: number;
  /** Called once when the extension dies on its own (crash, memory limit): the supervisor restarts it. */
  onCrash(error: Error): void;
}

/** The manifest's declared rights, as the bus enforces them. */
export function rightsOf(m: ExtensionManifest): Rights {
  return { provides: m.provides, calls: m.calls, publishes: m.publishes, subscribes: m.subscribes };
}

/**
 * One extension, running: in-process (its module imported here, its bus an endpoint with its
 * manifest's rights) or isolated (its own process under the permission model, its bus the wire).
 */
export class ExtensionRuntime {
  state: ExtensionState = 'inactive';
  #process: PeerProcess | undefined;
  #module: ExtensionModule | undefined;
  #endpoint: BusEndpoint | undefined;
  #activation: Promise<void> | undefined;
  #unwatch: (() => void) | undefined;
  #unmonitor: (() => void) | undefined;
  #stopping = false;
  activatedAt: number | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null; reason: string } | undefined;

  constructor(
    readonly manifest: ExtensionManifest,
    readonly options: RuntimeOptions,
  ) {}

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** How it is confined: `none` in process, else its process's (`sandboxed`, or `degraded` without the OS sandbox). */
  get isolation(): IsolationLevel {
    if (this.manifest.execution !== 'isolated') return 'none';
    return this.#process?.isolation ?? this.#lastIsolation ?? 'none';
  }
  #lastIsolation: IsolationLevel | undefined;

  /** Its isolation, or for an isolated one not started yet, what it will be (the sandbox probed). */
  expectedIsolation(): IsolationLevel {
    if (this.manifest.execution !== 'isolated') return 'none';
    return this.#process?.isolation ?? this.#lastIsolation ?? expectedIsolation();
  }

  [ISOLATION](): IsolationLevel {
    return this.expectedIsolation();
  }

  /** Starts the extension (once; concurrent calls share it) and resolves when it is ready, within limits.activationMs. */
  activate(): Promise<void> {
    if (this.state === 'active') return Promise.resolve();
    this.#activation ??= this.#withDeadline(this.manifest.execution === 'isolated' ? this.#spawn() : this.#load()).then(
      () => {
        this.state = 'active';
        this.activatedAt = Date.now();
      },
      async (err: Error) => {
        this.#activation = undefined;
        this.state = 'crashed';
        await this.deactivate();
        throw err;
      },
    );
    return this.#activation;
  }

  /** Stops it: deactivate() in process; SIGTERM then SIGKILL after a short grace for a process. */
  async deactivate(graceMs = 2000): Promise<void> {
    this.#stopping = true;
    this.#unwatch?.();
    this.#unmonitor?.();
    if (this.#process) {
      this.state = 'stopping';
      await drained(this.#process, graceMs);
      await this.#process.stop(graceMs);
      this.#process = undefined;
    }
    if (this.#module) {
      this.state = 'stopping';
      try {
        await this.#module.deactivate?.();
      } finally {
        this.#endpoint?.stop('deactivated');
        this.#module = undefined;
      }
    }
    // An in-process activation that passed its deadline has no module yet, but its endpoint may
    // already serve what it registered: closed too (and a late registration on it fails).
    this.#endpoint?.stop('deactivated');
    this.#endpoint = undefined;
    this.state = 'stopped';
  }

  #withDeadline(work: Promise<void>): Promise<void> {
    const ms = this.manifest.limits.activationMs;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new BusError(ErrorCode.Timeout, `activation of extension '${this.manifest.name}' did not complete within ${ms}ms`, { extension: this.manifest.name })), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async #load(): Promise<void> {
    const m = this.manifest;
    this.state = 'activating';
    const url = pathToFileURL(m.main).href + (this.options.generation ? `?generation=${this.options.generation}` : '');
    const mod = (await import(url)) as { default?: ExtensionModule };
    if (!mod.default || typeof mod.default.activate !== 'function') {
      throw new BusError(ErrorCode.InternalError, `extension '${m.name}': ${m.main} has no default export with an activate(ctx) function`, { extension: m.name });
    }
    const endpoint = (this.#endpoint = this.options.bus.endpoint(m.name, rightsOf(m), { supersede: true }));
    const ctx: ExtensionContext = { name: m.name, version: m.version, dir: m.dir, bus: this.#endpoint, config: this.options.config, log: prefixed(this.options.log, m.name) };
    try {
      await mod.default.activate(ctx);
    } catch (err) {
      this.#endpoint.stop('activation failed');
      this.#endpoint = undefined;
      throw new BusError(ErrorCode.InternalError, `extension '${m.name}': activate failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { extension: m.name });
    }
    if (this.#endpoint !== endpoint) {
      // Deactivated while it activated (its deadline passed): it does not come alive late.
      await mod.default.deactivate?.();
      throw new BusError(ErrorCode.InternalError, `extension '${m.name}' finished activating after it was stopped`, { extension: m.name });
    }
    this.#module = mod.default;
  }

  async #spawn(): Promise<void> {
    const m = this.manifest;
    this.state = 'activating';
    // Probed without blocking (a boot asked for it early: usually answered by now); the command
    // and the spawn's confinement then read the same cached answer, in this one turn.
    await probeSandboxAsync();
    // Stopped while it waited (its deadline passed): no process is started for nobody.
    if (this.#stopping) throw new BusError(ErrorCode.InternalError, `extension '${m.name}' was stopped before its process started`, { extension: m.name });
    const cmd = isolatedCommand(m, this.options.host, probeSandbox().available);
    const p = this.options.bus.spawnPeer({
      name: m.name,
      command: process.execPath,
      args: cmd.nodeArgs,
      cwd: m.dir,
      rights: rightsOf(m),
      stderr: 'pipe',
      env: { SYMPHONY_EXTENSION_CONFIG: JSON.stringify(this.options.config ?? null) },
      // The OS sandbox, with the permission model inside it as a second layer; where the sandbox
      // is unavailable (and the policy allows), the permission model alone, with what it can add.
      sandbox: {
        fsRead: m.permissions.fsRead,
        fsWrite: m.permissions.fsWrite,
        net: m.permissions.net,
        childProcess: m.permissions.childProcess,
        limits: m.limits,
        policy: this.options.isolation,
        runtime: [this.options.host.codeDir, m.dir],
        fallback: { command: cmd.command, args: cmd.args },
      },
    });
    this.#process = p;
    this.#lastIsolation = p.isolation;
    for (const w of [...(p.confinement?.warnings ?? []), ...(p.isolation === 'degraded' ? cmd.warnings : [])]) this.options.log.warn(w);
    this.#relayStderr(p);
    const c = p.confinement;
    if (c) {
      const l = c.limits;
      this.options.log.info(`extension '${m.name}' runs ${c.isolation} with limits: memory ${l.memoryMb ? `${l.memoryMb} MB` : 'unbounded'}, CPU ${l.cpuPercent}% of a core, ${l.processes} processes${l.scratchMb ? `, scratch /tmp ${l.scratchMb} MB` : ''} (${c.limitsBy === 'cgroup' ? 'cgroup' : 'memory by RSS watchdog; CPU and processes not bounded'})`);
      if (c.limitsBy === 'cgroup') this.#unmonitor = monitorLimits(m.name, c, this.options.log);
    }
    if (m.limits.memoryMb && p.pid && p.confinement?.limitsBy !== 'cgroup') {
      const limit = m.limits.memoryMb * 1024 * 1024;
      this.#unwatch = watchMemory(p.pid, limit, (rss) => {
        this.exit = { code: null, signal: 'SIGKILL', reason: `killed: it used ${(rss / 1048576).toFixed(1)} MB, over its limit of ${m.limits.memoryMb} MB` };
        this.options.log.warn(`extension '${m.name}' ${this.exit.reason}`);
        p.kill('SIGKILL');
      });
    }
    void p.exited.then((e) => {
      this.#unwatch?.();
      this.#unmonitor?.();
      if (this.#stopping) return;
      if (!this.exit && p.confinement?.memoryKilled()) {
        this.exit = { code: e.code, signal: e.signal, reason: `killed: over its memory limit of ${m.limits.memoryMb} MB (cgroup)` };
        this.options.log.warn(`extension '${m.name}' ${this.exit.reason}`);
      }
      const reason = this.exit?.reason ?? (e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`);
      this.exit = { code: e.code, signal: e.signal, reason };
      const wasActive = this.state === 'active';
      this.state = 'crashed';
      if (wasActive) this.options.onCrash(new PeerGoneError(`extension '${m.name}' ${reason}`, { extension: m.name }));
    });
    try {
      await p.ready(m.limits.activationMs);
    } catch (err) {
      const e = await Promise.race([p.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
      const why = this.exit?.reason ?? (e ? (e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`) : (err as Error).message);
      throw new BusError(ErrorCode.InternalError, `extension '${m.name}' did not activate: ${why}${this.#lastError ? ` (${this.#lastError})` : ''}`, { extension: m.name });
    }
  }

  #lastError: string | undefined;

  /**
   * The host writes JSON lines (its ctx.log) and anything else the process prints: relay both,
   * named, through the bounded relay (fixed levels, lines cut at 8 KiB, messages escaped).
   */
  #relayStderr(p: PeerProcess): void {
    const stderr = p.child.stderr;
    if (!stderr) return;
    relayLog(stderr, this.options.log, {
      prefix: `extension '${this.manifest.name}': `,
      onLine: (level, message) => {
        if (level === 'error') this.#lastError = message.slice(0, 512);
      },
    });
  }
}

/**
 * Waits (at most `ms`) for the calls in flight to a process to be answered: when it was replaced
 * (a reload) it gets no new ones, and those it took are its to finish, not to fail.
 */
async function drained(p: PeerProcess, ms: number): Promise<void> {
  const calls = p.connection?.endpoint.calls;
  if (!calls || calls.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([calls.idle(), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** What an isolated extension started now would run as: confined where the sandbox works here, else degraded. */
export function expectedIsolation(): IsolationLevel {
  return probeSandbox().available ? 'sandboxed' : 'degraded';
}

function prefixed(log: Logger, name: string): Logger {
  return {
    debug: (m, d) => log.debug(`extension '${name}': ${m}`, d),
    info: (m, d) => log.info(`extension '${name}': ${m}`, d),
    warn: (m, d) => log.warn(`extension '${name}': ${m}`, d),
    error: (m, d) => log.error(`extension '${name}': ${m}`, d),
  };
}

/**
 * An extension as a component of the Orchestra's own kernel, so load order, supervision
 * (restart with backoff, restart intensity, then quarantine) and hot reload (swap) are the
 * kernel's. `onStartup` activates in start(); `onCall` only reserves the provided methods: the
 * first call to one of them activates the extension and then goes through.
 */
export function extensionComponent(manifest: ExtensionManifest, options: Omit<RuntimeOptions, 'onCrash'>, start: { eager?: boolean } = {}): AnyComponentDefinition {
  const reservations = new WeakMap<ExtensionRuntime, { dispose(): void }>();
  return {
    async start(ctx: ComponentContext) {
      const runtime = new ExtensionRuntime(manifest, { ...options, onCrash: (err) => ctx.fail(err) });
      // Eager also when it replaces a running instance (a reload): the new one's registration then
      // takes its methods over from the old one in one step, where a reservation could not (the
      // old one serves them), and no caller sees a gap between the two.
      if (manifest.activation.includes('onStartup') || start.eager) {
        await runtime.activate();
      } else {
        reservations.set(runtime, options.bus.reserve(manifest.provides, () => runtime.activate()));
      }
      return runtime;
    },
    health(runtime: ExtensionRuntime) {
      if (runtime.state === 'crashed') return { status: 'unhealthy', detail: runtime.exit?.reason ?? 'crashed' };
      return { status: 'healthy', detail: { state: runtime.state, pid: runtime.pid, isolation: runtime.isolation } };
    },
    async stop(runtime: ExtensionRuntime) {
      reservations.get(runtime)?.dispose();
      await runtime.deactivate();
    },
  };
}
