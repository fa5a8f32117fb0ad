import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ISOLATION, type AnyComponentDefinition, type ComponentContext, type ComponentOptions, type KernelOptions, type ModeAdapter, type StopContext } from '../bootstrap/index.js';
import { accessSync, constants } from 'node:fs';
import type { IsolationPolicy, SandboxRequest } from '../sandbox/index.js';
import type { Registration } from './api.js';
import { Bus } from './bus.js';
import type { PeerConnection } from './connection.js';
import { BusError, ErrorCode, PeerGoneError } from './errors.js';
import { relayLog } from './log-relay.js';
import type { PeerProcess } from './spawn.js';

/**
 * Execution modes for components: the same definition in a worker thread or a child process
 * (`mode: worker | process`), and `command:` peers in any language. Each becomes an in-process
 * definition whose instance is a proxy: its methods return promises and travel over the bus.
 *
 * Hosted components (worker, process) serve their instance's methods as `component.<name>.<method>`
 * (arguments as an array); a `command:` peer serves whatever it registers, and its proxy maps
 * `peer.method(params)` to `<name>.<method>`.
 */

/** Marks a proxy of a remote instance (so it is not exposed on the bus a second time). */
export const REMOTE = Symbol.for('symphony.remote');
/** A proxy of a component in its own process answers this with a function giving its pid. */
export const PROCESS_ID = Symbol.for('symphony.pid');

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Methods of an object, as a remote caller may call them (own and inherited, functions only). */
function methodOf(instance: unknown, name: string): ((...args: unknown[]) => unknown) | undefined {
  if (instance === null || (typeof instance !== 'object' && typeof instance !== 'function')) return undefined;
  if (name === 'constructor' || name.startsWith('_')) return undefined;
  const fn = (instance as Record<string, unknown>)[name];
  return typeof fn === 'function' ? (fn as (...args: unknown[]) => unknown).bind(instance) : undefined;
}

/** A proxy whose every method is a bus request; `then` is undefined so it is not mistaken for a promise. */
export function remoteProxy(bus: Bus, prefix: string, spread: boolean, isolation?: () => 'sandboxed' | 'degraded' | 'none', pid?: () => number | undefined): object {
  return new Proxy(
    {},
    {
      get(_t, prop) {
        if (prop === REMOTE) return true;
        // How its process is confined, for the boot report and /status (read by the kernel, never sent).
        if (prop === ISOLATION) return isolation;
        // Its process id, for `symphony ps` (read in the kernel's process, never sent).
        if (prop === PROCESS_ID) return pid;
        if (typeof prop !== 'string' || prop === 'then' || prop === 'toJSON') return undefined;
        return (...args: unknown[]) => bus.request(`${prefix}.${prop}`, spread ? args : args[0]);
      },
    },
  );
}

/** In-process instances a hosted component needs, served once on the bus however many hosted components use them. */
const exposed = new WeakMap<Bus, Map<string, { registration: Registration; users: number }>>();

function expose(bus: Bus, name: string, instance: unknown): () => void {
  if (instance && (instance as Record<symbol, unknown>)[REMOTE]) return () => {};
  let byName = exposed.get(bus);
  if (!byName) exposed.set(bus, (byName = new Map()));
  const current = byName.get(name);
  if (current) {
    current.users++;
  } else {
    const prefix = `component.${name}.`;
    const registration = bus.handle(`component.${name}.*`, (args: unknown, ctx) => {
      const method = ctx.method.slice(prefix.length);
      const fn = methodOf(instance, method);
      if (!fn) throw new BusError(ErrorCode.MethodNotFound, `component '${name}' has no method '${method}'`, { method: ctx.method });
      return fn(...(Array.isArray(args) ? args : [args]));
    });
    byName.set(name, { registration, users: 1 });
  }
  return () => {
    const e = byName!.get(name);
    if (e && --e.users === 0) {
      e.registration.unregister();
      byName!.delete(name);
    }
  };
}

function busOf(ctx: ComponentContext, busName: string, component: string): Bus {
  const bus = ctx.deps[busName];
  if (!(bus instanceof Bus)) throw new BusError(ErrorCode.InternalError, `'${component}' runs outside the kernel process and needs the bus ('${busName}')`);
  return bus;
}

/**
 * While the kernel restarts a component that runs as a peer, the bus holds its methods (Bus.hold):
 * a call made between the crash and the new instance waits for it instead of failing -32601.
 * The hold ends when the system stops it (`shutdown`: also what an escalation does with a live
 * instance) and when a start fails (calls waiting for it fail now, not at their deadline; the
 * next attempt holds again). A restart or a swap keeps it; a rollback or an abandoned start
 * discards an instance that is not the one being served.
 */
function endHold(bus: Bus, component: string, why: string): void {
  bus.hold(component).release(new PeerGoneError(`'${component}' ${why}`, { peer: component }));
}

/** A start that failed: its calls held since a crash fail now, with the reason. */
function startFailed(bus: Bus, component: string, err: unknown): void {
  endHold(bus, component, `did not start: ${err instanceof Error ? err.message : String(err)}`);
}

interface Hosted {
  stop(): Promise<void>;
  unexpose: (() => void)[];
  bus: Bus;
  /**
   * This instance's own connection is up: only then is it asked to stop over the bus. A request
   * by method name to a host that is gone would wait in the restart hold, and then reach (and
   * stop) the next instance.
   */
  live(): boolean;
}

/** A component's `sandbox:` setting as the spawn takes it (undefined: not asked for). */
export interface SandboxSetting {
  fsRead?: string[];
  fsWrite?: string[];
  net?: boolean;
  childProcess?: boolean;
  limits?: { memoryMb?: number; cpuPercent?: number; processes?: number };
}

function sandboxRequest(options: ComponentOptions, baseDir: string, policy: IsolationPolicy, runtime: string[]): SandboxRequest | undefined {
  const setting = (options as { sandbox?: boolean | SandboxSetting }).sandbox;
  if (setting === undefined || setting === false) return undefined;
  const s: SandboxSetting = setting === true ? {} : setting;
  return {
    fsRead: (s.fsRead ?? []).map((p) => resolve(baseDir, p)),
    fsWrite: (s.fsWrite ?? []).map((p) => resolve(baseDir, p)),
    net: s.net ?? false,
    childProcess: s.childProcess ?? false,
    limits: s.limits,
    policy,
    runtime,
  };
}

/** A command's program as a path (the sandbox binds it and its libraries): as written if it has a slash, else found on PATH. */
function programPath(program: string, baseDir: string): string {
  if (program.includes('/')) return resolve(baseDir, program);
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = join(dir || '.', program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return program;
}

/** `mode: worker` and `mode: process`: the component's module runs in a host that joins the bus. */
function hostedMode(kind: 'worker' | 'process', busName: string, baseDir: string, policy: IsolationPolicy, hostScript: string): ModeAdapter {
  return (component: string, options: ComponentOptions): AnyComponentDefinition => {
    if (typeof options.use !== 'string') {
      throw new TypeError(`'${component}' runs as a ${kind}: its use: must be a module path or package (a definition object cannot cross into another ${kind === 'worker' ? 'thread' : 'process'})`);
    }
    const hosts = new WeakMap<object, Hosted>();
    return {
      async start(ctx: ComponentContext) {
        const bus = busOf(ctx, busName, component);
        const deps = Object.keys(ctx.deps);
        const unexpose = deps.filter((d) => d !== busName).map((d) => expose(bus, d, ctx.deps[d]));
        const spec = { name: component, use: options.use, baseDir, config: ctx.config ?? null, deps, busName };
        bus.hold(component);
        let stop: () => Promise<void> = async () => {};
        let level: (() => 'sandboxed' | 'degraded' | 'none') | undefined;
        let processId: (() => number | undefined) | undefined;
        let exited: Promise<string>;
        let connection: PeerConnection | undefined;
        try {
          if (kind === 'worker') {
            const w = bus.spawnWorker(hostScript, { name: component, workerData: spec });
            stop = async () => void (await w.worker.terminate());
            connection = w.connection;
            await w.connection.ready(ctx.remainingMs());
            exited = w.exited.then((code) => `the worker exited with code ${code}`);
          } else {
            // Sandboxed, its view holds Symphony's code and packages and the config's folder (where its module is), read-only.
            const sandbox = sandboxRequest(options, baseDir, policy, [join(packageRoot, 'dist'), join(packageRoot, 'node_modules'), baseDir]);
            const p = bus.spawnPeer({ name: component, command: process.execPath, args: [hostScript], cwd: baseDir, env: { SYMPHONY_COMPONENT: JSON.stringify(spec) }, sandbox });
            level = () => p.isolation;
            processId = () => p.pid;
            stop = () => p.stop(2000);
            await p.ready(ctx.remainingMs());
            connection = p.connection;
            exited = p.exited.then((e) => (e.signal ? `the process was killed by ${e.signal}` : `the process exited with code ${e.code}`));
          }
        } catch (err) {
          // Nothing of a start that failed stays behind: its host, the dependencies it was given, its hold.
          await stop().catch(() => {});
          for (const u of unexpose) u();
          startFailed(bus, component, err);
          throw err;
        }
        const proxy = remoteProxy(bus, `component.${component}`, true, level, processId);
        let stopping = false;
        const hosted: Hosted = {
          stop: async () => {
            stopping = true;
            await stop();
          },
          unexpose,
          bus,
          live: () => connection?.state === 'ready',
        };
        hosts.set(proxy, hosted);
        void exited.then((why) => {
          if (!stopping) ctx.fail(new PeerGoneError(`'${component}' (${kind}) is gone: ${why}`));
        });
        return proxy;
      },
      async health(proxy: object) {
        return (await (proxy as { __health(): Promise<unknown> }).__health()) as boolean;
      },
      async stop(proxy: object, ctx?: StopContext) {
        const h = hosts.get(proxy);
        if (!h) return;
        if (ctx?.reason === 'shutdown') endHold(h.bus, component, 'stopped with the system');
        if (h.live()) {
          try {
            await (proxy as { __stop(): Promise<unknown> }).__stop();
          } catch {
            // already gone: stopping the host below is what matters
          }
        }
        await h.stop();
        for (const u of h.unexpose) u();
      },
    };
  };
}

/** `command: [program, args…]`: an external process (any language) that joins the bus over stdio and is ready on `symphony.ready`. */
function commandMode(busName: string, baseDir: string, policy: IsolationPolicy = 'auto'): ModeAdapter {
  return (component: string, options: ComponentOptions): AnyComponentDefinition => {
    const command = options.command!;
    const procs = new WeakMap<object, (ctx: StopContext | undefined) => Promise<void>>();
    return {
      async start(ctx: ComponentContext) {
        const bus = busOf(ctx, busName, component);
        bus.hold(component);
        // Sandboxed, its view holds its program's runtime (a Python interpreter's standard library
        // too), Symphony's Python packages and the config's folder, read-only, plus its grants.
        const sandbox = sandboxRequest(options, baseDir, policy, [join(packageRoot, 'python'), baseDir]);
        const p = bus.spawnPeer({
          name: component,
          command: sandbox ? programPath(command[0]!, baseDir) : command[0]!,
          args: command.slice(1),
          sandbox,
          cwd: baseDir,
          // Symphony's own Python packages (symphony_peer, symphony_conductor) are importable by command peers.
          env: { SYMPHONY_CONFIG: JSON.stringify(ctx.config ?? null), PYTHONPATH: [join(packageRoot, 'python'), process.env.PYTHONPATH].filter(Boolean).join(':') },
          stderr: 'pipe',
        });
        // Its stderr goes to the kernel's log, named; the last lines are kept to say why it exited.
        const tail = stderrTail(p, component, ctx.log);
        let stopping = false;
        try {
          await p.ready(ctx.remainingMs());
        } catch (err) {
          // A program that is exiting closes its output first: its exit code says more than "closed".
          if (p.running) await Promise.race([p.exited, new Promise((r) => setTimeout(r, 300).unref())]);
          const exited = p.running ? undefined : await p.exited;
          await p.stop(1000);
          const said = await tail.lines();
          const how = exited && (exited.signal || exited.code !== null) && err instanceof BusError ? `'${component}' ${exited.signal ? `was killed by ${exited.signal}` : `exited with code ${exited.code}`} before it was ready` : undefined;
          const failed = (said || how) && err instanceof BusError ? new PeerGoneError(`${how ?? err.message}${said ? `; its last stderr lines: ${said}` : ''}`, err.data) : err;
          startFailed(bus, component, failed);
          throw failed;
        }
        void p.exited.then(async (e) => {
          if (stopping) return;
          const said = await tail.lines();
          ctx.fail(new PeerGoneError(`'${component}' (${command.join(' ')}) ${e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`}${said ? `; its last stderr lines: ${said}` : ''}`));
        });
        const proxy = remoteProxy(bus, component, false, () => p.isolation, () => p.pid);
        procs.set(proxy, async (stopCtx) => {
          stopping = true;
          if (stopCtx?.reason === 'shutdown') endHold(bus, component, 'stopped with the system');
          await p.stop(3000);
        });
        return proxy;
      },
      async stop(proxy: object, ctx?: StopContext) {
        await procs.get(proxy)?.(ctx);
      },
    };
  };
}

/**
 * Relays a command peer's stderr into the kernel's log (bounded and escaped: it is the peer's
 * bytes) and keeps its last few lines. `lines()` waits briefly for the pipe to drain after an
 * exit (the last lines often arrive just after it), then gives them joined, or '' if it said nothing.
 */
function stderrTail(p: PeerProcess, component: string, log: ComponentContext['log']): { lines(): Promise<string> } {
  const kept: string[] = [];
  const stream = p.child.stderr;
  if (!stream) return { lines: async () => '' };
  const ended = new Promise<void>((resolve) => (stream.once('end', resolve), stream.once('error', () => resolve())));
  relayLog(stream, log, {
    prefix: `peer '${component}': `,
    onLine: (_level, message) => {
      kept.push(message.length > 300 ? `${message.slice(0, 299)}…` : message);
      if (kept.length > 5) kept.shift();
    },
  });
  return {
    async lines() {
      await Promise.race([ended, new Promise((r) => setTimeout(r, 300).unref())]);
      return kept.join(' | ');
    },
  };
}

/**
 * The adapters for a kernel whose bus is the component `busName`. `hostScript` is the program that
 * runs a worker or process component (the system's: it loads the component's module).
 */
export function modeAdapters(busName: string, baseDir: string, policy: IsolationPolicy, hostScript: string): NonNullable<KernelOptions['modes']> {
  return { worker: hostedMode('worker', busName, baseDir, policy, hostScript), process: hostedMode('process', busName, baseDir, policy, hostScript), command: commandMode(busName, baseDir, policy) };
}

