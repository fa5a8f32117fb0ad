import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kernel, type ComponentEvent, type Logger } from '../bootstrap/index.js';
import { BusError, ErrorCode, PeerGoneError, subjectMatches, type Bus, type Registration } from '../bus/index.js';
import { expectedIsolation, extensionComponent, type ExtensionRuntime, type HostFiles } from './extension.js';
import { grantOptions, grantsOf, patternsOverlap, reviewGrant, type GrantReview } from './grants.js';
import type { OrchestraSettings } from './settings/index.js';
import { symlinkOut } from './discover.js';
import { readManifest, type ExtensionManifest, type ExtensionProblem } from './manifest.js';
import { planExtensions, type ExtensionPlan } from './plan.js';
import { probeSandboxAsync } from '../sandbox/index.js';

export interface ExtensionStatus {
  name: string;
  version: string;
  execution: 'in-process' | 'isolated';
  activation: string[];
  state: string;
  restarts: number;
  pid: number | undefined;
  /** `sandboxed`, `degraded` (isolated without the OS sandbox) or `none` (in process). */
  isolation: 'sandboxed' | 'degraded' | 'none';
  error: string | null;
}

/** The extension that provides a method, from its manifest (the Conductor's registration step). */
export interface ExtensionProvider {
  extension: string;
  version: string;
  execution: string;
  activation: string[];
  state: string;
}

/**
 * The Orchestra's bus methods, declared once: the handlers it serves are checked against these
 * (name and result), and callers (the Conductor) type their requests with them.
 */
export interface OrchestraMethods {
  'orchestra.status': { params: Record<string, never>; result: { extensions: ExtensionStatus[]; problems: ExtensionProblem[] } };
  'orchestra.providers': { params: { methods: string[] }; result: Record<string, ExtensionProvider | null> };
  'orchestra.activate': { params: { extension: string }; result: { extension: string; state: string } };
  'orchestra.reload': { params: { extension: string }; result: { reloaded: unknown } };
}

// Isolated extensions always run the compiled host (dist/), also when this module runs from src/ under a test runner.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const codeDir = join(packageRoot, 'dist');
export const HOST: HostFiles = {
  script: join(codeDir, 'orchestra', 'host.js'),
  codeDir,
  noNetPreload: join(codeDir, 'orchestra', 'no-net.js'),
};

export function symphonyVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/**
 * The Orchestra Kit: discovers extensions, validates and resolves them, and runs them — each one a
 * component of the Orchestra's own kernel (so dependencies load first, starts are concurrent per
 * stage, a failure leaves the others running, crashes restart with backoff and, past the restart
 * limit, quarantine, and a changed folder is swapped in).
 */
export class Orchestra {
  #kernel: Kernel | undefined;
  #manifests = new Map<string, ExtensionManifest>();
  #problems: ExtensionProblem[] = [];
  #reviews: GrantReview[] = [];
  readonly #watchers: FSWatcher[] = [];
  readonly #quarantine = new Map<string, { dispose(): void }>();
  /** Isolated extensions' methods, held by the bus while a crashed extension restarts (Bus.hold). */
  readonly #holds = new Map<string, ReturnType<Bus['hold']>>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #registrations: Registration[] = [];
  #generation = 0;

  constructor(
    readonly bus: Bus,
    readonly settings: OrchestraSettings,
    readonly log: Logger,
    readonly baseDir: string,
    readonly host: HostFiles = HOST,
  ) {}

  get problems(): readonly ExtensionProblem[] {
    return this.#problems;
  }

  /** Asked against granted, for every extension found. */
  get reviews(): readonly GrantReview[] {
    return this.#reviews;
  }

  get kernel(): Kernel | undefined {
    return this.#kernel;
  }

  /** `planned`: this start's plan, made ahead (preparedOrchestra); otherwise it is made now. */
  async start(planned?: Promise<ExtensionPlan>): Promise<void> {
    const { reviews, load, problems } = await (planned ?? planExtensions(this.settings, this.baseDir, symphonyVersion()));
    // Isolated extensions need the sandbox's answer (to spawn, and for the report's isolation):
    // asked now without blocking, beside the in-process extensions' starts.
    const probing = load.some((m) => m.execution === 'isolated') ? probeSandboxAsync() : undefined;
    this.#problems = problems;
    this.#reviews = reviews;
    for (const p of this.#problems) this.log.warn(`${p.file}:${p.line}:${p.col}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`);
    for (const m of load) {
      this.#manifests.set(m.name, m);
      this.#hold(m);
    }
    await this.#applyArtifactQuotas(reviews);
    const restart = { strategy: 'one_for_one' as const, max: this.settings.restart?.max ?? 5, within: this.settings.restart?.within ?? '60s' };
    const backoff = { initial: this.settings.backoff?.initial ?? '100ms', max: this.settings.backoff?.max ?? '5s' };
    this.#kernel = new Kernel({
      components: Object.fromEntries(
        load.map((m) => [
          m.name,
          {
            use: this.#definition(m),
            needs: Object.keys(m.dependencies),
            optional: true,
            restart,
            backoff,
            timeout: m.limits.activationMs + 1000,
            stopTimeout: 5000,
          },
        ]),
      ),
    });
    this.#kernel.on('event', (e) => this.#onEvent(e));
    try {
      await this.#kernel.start();
    } catch (err) {
      // Every extension is optional, so a boot failure here is a bug or an interruption: report it.
      this.log.error(`the extensions did not start: ${(err as Error).message}`);
    }
    await probing;
    if (this.settings.watch) this.#watch();
    this.#serve();
  }

  /**
   * Each loaded extension's Artifact Store quota from its grant (limits.artifactsBytes), told to
   * the store over the bus (only the kernel may set one) before the extension starts.
   */
  async #applyArtifactQuotas(reviews: readonly GrantReview[]): Promise<void> {
    for (const r of reviews) {
      const bytes = r.effective ? r.grant?.limits?.artifactsBytes : undefined;
      if (bytes === undefined) continue;
      try {
        await this.bus.request('artifacts.quota', { caller: r.name, bytes }, { timeout: '5s' });
      } catch (err) {
        this.log.warn(`extension '${r.name}': its grant's limits.artifactsBytes (${bytes}) is not applied: ${(err as Error).message}; run the Pit before the Orchestra (needs: [pit])`);
      }
    }
  }

  /**
   * Which extension provides each method (from the manifests, activated or not): the Conductor's
   * registration step. Null for a method no extension declares.
   */
  providers(methods: readonly string[]): OrchestraMethods['orchestra.providers']['result'] {
    const status = new Map(this.status().map((s) => [s.name, s]));
    const out: OrchestraMethods['orchestra.providers']['result'] = {};
    for (const method of methods) {
      const m = [...this.#manifests.values()].find((x) => x.provides.some((p) => subjectMatches(p, method)));
      out[method] = m ? { extension: m.name, version: m.version, execution: m.execution, activation: m.activation, state: status.get(m.name)?.state ?? 'unknown' } : null;
    }
    return out;
  }

  /** Activates an extension now (an onCall one before its first call); resolves when it is ready. */
  async activate(name: string): Promise<OrchestraMethods['orchestra.activate']['result']> {
    if (!this.#manifests.has(name)) throw new BusError(ErrorCode.InvalidParams, `no extension named '${name}' is loaded`, { extension: name });
    await this.runtime(name).activate();
    return { extension: name, state: this.runtime(name).state };
  }

  /**
   * Restarts an extension at the operator's word, also one out of quarantine (supervision gave up
   * on it): its methods stop answering "quarantined" and wait for the fresh start instead.
   */
  async restart(name: string): Promise<{ extension: string; state: string }> {
    const m = this.#manifests.get(name);
    if (!m) throw new BusError(ErrorCode.InvalidParams, `no extension named '${name}' is loaded (loaded: ${[...this.#manifests.keys()].join(', ') || 'none'})`, { extension: name });
    this.#quarantine.get(name)?.dispose();
    this.#quarantine.delete(name);
    this.#hold(m);
    await this.#kernel!.restart(name);
    return { extension: name, state: this.runtime(name).state };
  }

  #serve(): void {
    type Served = keyof OrchestraMethods;
    const serve = <M extends Served>(method: M, fn: (p: any) => OrchestraMethods[M]['result'] | Promise<OrchestraMethods[M]['result']>) => this.#registrations.push(this.bus.handle(method, fn));
    serve('orchestra.status', () => ({ extensions: this.status(), problems: this.#problems }));
    serve('orchestra.providers', (p: { methods?: unknown }) => {
      if (!Array.isArray(p?.methods) || !p.methods.every((m) => typeof m === 'string')) throw new BusError(ErrorCode.InvalidParams, 'orchestra.providers needs { methods: [string, …] }');
      return this.providers(p.methods);
    });
    serve('orchestra.activate', (p: { extension?: unknown }) => this.activate(String(p?.extension)));
    serve('orchestra.reload', async (p: { extension?: unknown }) => (await this.reload(String(p?.extension)), { reloaded: p?.extension }));
  }

  async stop(): Promise<void> {
    for (const r of this.#registrations.splice(0)) r.unregister();
    for (const w of this.#watchers.splice(0)) w.close();
    for (const t of this.#timers.values()) clearTimeout(t);
    for (const q of this.#quarantine.values()) q.dispose();
    for (const [name, hold] of this.#holds) hold.release(new PeerGoneError(`extension '${name}' is stopping with the Orchestra`, { extension: name }));
    this.#holds.clear();
    await this.#kernel?.stop('the Orchestra is stopping');
  }

  /** Every extension found, loaded or not, with its state. */
  status(): ExtensionStatus[] {
    const k = this.#kernel;
    const states = new Map((k?.states() ?? []).map((s) => [s.name, s]));
    const report = new Map((k?.report?.components ?? []).map((c) => [c.name, c]));
    const out: ExtensionStatus[] = [];
    for (const m of this.#manifests.values()) {
      const s = states.get(m.name);
      let runtime: ExtensionRuntime | undefined;
      try {
        runtime = k?.get(m.name) as ExtensionRuntime;
      } catch {
        runtime = undefined;
      }
      out.push({
        name: m.name,
        version: m.version,
        execution: m.execution,
        activation: m.activation,
        state: this.#quarantine.has(m.name) ? 'quarantined' : s?.state === 'ready' ? (runtime?.state ?? 'ready') : (s?.state ?? 'pending'),
        restarts: s?.restarts ?? 0,
        pid: runtime?.pid,
        isolation: m.execution === 'isolated' ? (runtime?.expectedIsolation() ?? expectedIsolation()) : 'none',
        error: report.get(m.name)?.error ?? null,
      });
    }
    for (const p of this.#problems) {
      if (p.severity !== 'warning' && !this.#manifests.has(p.extension) && !out.some((o) => o.name === p.extension)) {
        out.push({ name: p.extension, version: '?', execution: 'isolated', activation: [], state: 'rejected', restarts: 0, pid: undefined, isolation: 'none', error: p.message });
      }
    }
    return out;
  }

  /** The running extension's runtime (activated or not). */
  runtime(name: string): ExtensionRuntime {
    return this.#kernel!.get(name) as ExtensionRuntime;
  }

  /** Re-reads an extension's manifest and swaps it in (the old one keeps running until the new one is up). */
  async reload(name: string): Promise<void> {
    const current = this.#manifests.get(name);
    if (!current) throw new BusError(ErrorCode.InvalidParams, `no extension named '${name}' is loaded`);
    // As at load: a symlink planted since (at any depth) that leads out of the folder refuses the reload.
    const escape = await symlinkOut(current.dir);
    if (escape) {
      const why = `${escape.link}:1:1: refused: the symlink ${escape.link} leads out of the extension folder (to ${escape.target})`;
      this.log.warn(`not reloading '${name}': ${why}`);
      throw new BusError(ErrorCode.InvalidParams, `not reloading '${name}': ${why}`, { extension: name });
    }
    const read = await readManifest(current.dir);
    // The changed manifest is held to its grant as at boot: a reload never gives itself more.
    const drafted = read.manifest ?? read.draft;
    const review = drafted ? reviewGrant(drafted, grantsOf(this.settings), grantOptions(this.settings, this.baseDir)) : undefined;
    const problems = [...read.problems, ...(review?.problems ?? [])];
    const manifest = read.manifest && review?.effective;
    if (manifest && drafted?.name !== name) problems.push({ extension: name, file: current.file, line: 1, col: 1, message: `its manifest now names it '${drafted?.name}': an extension keeps its name across a reload` });
    if (manifest) {
      for (const other of this.#manifests.values()) {
        if (other.name === name) continue;
        const clash = manifest.provides.find((p) => other.provides.some((q) => patternsOverlap(p, q)));
        if (clash) problems.push({ extension: name, file: current.file, line: 1, col: 1, message: `it now provides '${clash}', which '${other.name}' provides: two extensions cannot serve one method` });
      }
    }
    if (!manifest || problems.length) {
      const why = problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join('; ');
      this.log.warn(`not reloading '${name}': ${why}`);
      throw new BusError(ErrorCode.InvalidParams, `not reloading '${name}': ${why}`);
    }
    // Running: the new one starts at once and takes the methods over (an onCall one included).
    const running = this.runtime(name).state === 'active';
    await this.#kernel!.swap(name, this.#definition(manifest, ++this.#generation, running));
    this.#manifests.set(name, manifest);
    this.log.info(`reloaded extension '${name}' (${manifest.version})`);
  }

  #definition(m: ExtensionManifest, generation = 0, eager = false) {
    return extensionComponent(m, { bus: this.bus, host: this.host, log: this.log, config: this.settings.config?.[m.name], generation, isolation: this.settings.isolation }, { eager });
  }

  #onEvent(e: Parameters<Parameters<Kernel['on']>[1]>[0]): void {
    if (e.type === 'log') {
      if (e.component === 'kernel') this.log[e.level](`extensions: ${e.message}`);
      return;
    }
    if (e.type !== 'component') return;
    const c = e as ComponentEvent;
    if (c.state === 'failed') {
      this.log.warn(`extension '${c.component}' failed${c.error ? `: ${c.error.message}` : ''}${c.reason ? ` (${c.reason})` : ''}`);
      if (c.reason?.startsWith('escalated')) this.#quarantineExtension(c.component, c.error?.message ?? 'it kept failing');
    } else if (c.state === 'ready') {
      // An onCall extension is back reserved, not running: calls held through its restart go on
      // through that reservation, which activates it.
      this.#holds.get(c.component)?.resume();
      this.log.info(`extension '${c.component}' started${c.attempt > 1 ? ` (attempt ${c.attempt})` : ''}`);
    }
  }

  /**
   * Between a crash and the restarted instance, the bus holds an isolated extension's methods, so a
   * call in that gap waits for the new instance (within its own deadline) instead of finding no
   * responder (-32601, as if the method did not exist). A quarantine or a stop fails the waiting
   * calls with -32004 naming the extension.
   */
  #hold(m: ExtensionManifest): void {
    if (m.execution === 'isolated' && m.provides.length > 0 && !this.#holds.has(m.name)) this.#holds.set(m.name, this.bus.hold(m.name));
  }

  /** Past its restart limit: its methods answer -32004 naming the quarantine, until a reload. */
  #quarantineExtension(name: string, why: string): void {
    const m = this.#manifests.get(name);
    if (!m || this.#quarantine.has(name)) return;
    this.log.error(`extension '${name}' is quarantined: ${why}`);
    const quarantined = () => new PeerGoneError(`extension '${name}' is quarantined after repeated failures: ${why}`, { extension: name });
    this.#holds.get(name)?.release(quarantined());
    this.#holds.delete(name);
    this.#quarantine.set(
      name,
      this.bus.reserve(m.provides, () => Promise.reject(quarantined())),
    );
  }

  /** Debounced reload of a changed extension folder. */
  #watch(): void {
    for (const m of this.#manifests.values()) {
      try {
        const w = watch(m.dir, { recursive: true }, () => {
          clearTimeout(this.#timers.get(m.name));
          this.#timers.set(
            m.name,
            setTimeout(() => {
              this.#timers.delete(m.name);
              this.#quarantine.get(m.name)?.dispose();
              this.#quarantine.delete(m.name);
              this.#hold(m);
              this.reload(m.name).catch((err: Error) => this.log.warn(`reload of '${m.name}' failed: ${err.message}`));
            }, 200),
          );
        });
        w.unref();
        this.#watchers.push(w);
      } catch (err) {
        this.log.warn(`cannot watch ${m.dir}: ${(err as Error).message}`);
      }
    }
  }
}
