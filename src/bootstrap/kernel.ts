/**
 * The kernel's face: a small class over its parts. The boot (boot.ts) plans nothing itself: the
 * graph is planned when the kernel is made (core.ts); attempts and deadlines (attempt.ts), a
 * stage under way (stage-run.ts), one start with its retries (start.ts), health (health.ts), the
 * supervisor and its strategies (supervisor.ts, strategies.ts), the swap (swap.ts), the teardown
 * (teardown.ts) and the report (report-build.ts) each have their file.
 *
 * Dependents get `ctx.deps.x`, x's instance itself. So that nobody keeps using a stopped instance,
 * a swap or restart of x restarts x's dependents against the new instance, in dependency order;
 * stable references (`ctx.handles.x`, late handles, `kernel.handle(x)`) simply follow the switch.
 */
import { anchorShapes } from '../util/shapes.js';
import { describeError } from '../util/errors.js';
import { Attempt, Operation } from './attempt.js';
import { Boot } from './boot.js';
import { KernelStopContext, StartContext } from './contexts.js';
import { KernelCore, type KernelExit, type Phase } from './core.js';
import { isComponentDefinition, type AnyComponentDefinition, type ComponentOptions, type ComponentState, type Handle, type HealthStatus, type KernelOptions } from './definition.js';
import { BootAbandonedError, DependencyFailedError, KernelError } from './errors.js';
import type { KernelEvent, KernelEventType } from './events.js';
import type { BootPlan } from './graph.js';
import { BootFacts, systemIsolation } from './report-build.js';
import { isolationOf, type BootReport, type IsolationLevel } from './report.js';
import { Slot } from './slot.js';
import { normalizeSpec } from './spec.js';
import { Delivery, StageRun } from './stage-run.js';
import { isStrategy, type StrategyName } from './strategies.js';
import { reportExit, reportFailure, restart, supervise } from './supervisor.js';
import { swap } from './swap.js';
import { stopSystem } from './teardown.js';

export type { KernelExit } from './core.js';

/**
 * The bootstrap manager. Plans stages from the dependency graph, starts each stage's components
 * concurrently, gates the next stage on readiness, gives every start a deadline, retries with
 * backoff, rolls back what started (in reverse dependency order) when a required component fails,
 * and after the boot supervises, restarts and swaps components.
 *
 * Released as any resource is: `await using k = createKernel(...)`, or `await k.stop()`, which is
 * the same release with a reason.
 */
export class Kernel<Instances extends Record<string, unknown> = Record<string, unknown>> implements AsyncDisposable {
  readonly #k: KernelCore;
  /** Resolves when the kernel has stopped, for whatever reason, with the exit code the CLI should use. */
  readonly done: Promise<KernelExit>;

  constructor(options: KernelOptions) {
    const k = (this.#k = new KernelCore(options));
    k.onFailure = (slot, generation, error) => reportFailure(k, slot, generation, error);
    k.onExit = (slot, generation, reason) => reportExit(k, slot, generation, reason);
    this.done = k.done;
  }

  /** The boot plan: stages of component names, in start order. */
  get plan(): BootPlan {
    return this.#k.plan;
  }
  get phase(): Phase {
    return this.#k.phase;
  }
  /** `ready`, `degraded` or `failed` once a boot has ended; undefined before. */
  get system(): 'ready' | 'degraded' | 'failed' | undefined {
    return this.#k.system;
  }
  /** The report of the last boot (undefined while booting). */
  get report(): BootReport | undefined {
    return this.#k.report;
  }
  /** Milliseconds since the kernel was created. */
  now(): number {
    return this.#k.now();
  }

  /** Subscribes to lifecycle events (`event` for all); returns the unsubscribe function. */
  on(type: KernelEventType | 'event', fn: (event: KernelEvent) => void): () => void {
    return this.#k.events.on(type, fn);
  }
  /** Lifecycle events as an async iterable, from now until `signal` aborts or the loop breaks. */
  events(signal?: AbortSignal): AsyncGenerator<KernelEvent> {
    return this.#k.events.iterate(signal);
  }

  /** The running instance of `name`. Throws while it is not ready. */
  get<K extends keyof Instances & string>(name: K): Instances[K] {
    const slot = this.#k.find(name);
    if (slot !== undefined && (slot.state === 'ready' || slot.state === 'degraded')) return slot.instance as Instances[K];
    throw new KernelError(slot ? `'${name}' is not running (state: ${slot.state})` : `no component named '${name}'`);
  }
  /** A stable reference to `name` that follows swaps and restarts. */
  handle<K extends keyof Instances & string>(name: K): Handle<Instances[K]> {
    return this.#k.require(name).handle as Handle<Instances[K]>;
  }
  /** The state of every component, in start order. */
  states(): { name: string; stage: number; state: ComponentState; health: HealthStatus | null; restarts: number; isolation: IsolationLevel; isolationParts?: Record<string, IsolationLevel> }[] {
    return this.#k.order.map((s) => {
      const iso = isolationOf(s.running ? s.instance : undefined);
      return { name: s.name, stage: s.stageIndex, state: s.state, health: s.healthStatus ?? null, restarts: s.restarts.length, isolation: iso.level, ...(iso.parts ? { isolationParts: iso.parts } : {}) };
    });
  }

  /** The system's isolation now: `degraded` if any running isolated code is not confined by the OS, `sandboxed` if all is, `none` if there is none. */
  isolation(): IsolationLevel {
    return systemIsolation(this.#k.order);
  }

  /**
   * Boots the system. Resolves with the boot report when every required component is ready
   * (`system: degraded` if an optional one failed); rejects with a BootError carrying the report
   * after rolling back what started. Aborting `signal` abandons the boot the same way.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<BootReport> {
    const k = this.#k;
    if (k.phase !== 'idle') throw new KernelError(`start() called while the kernel is ${k.phase}`);
    k.phase = 'booting';
    return new Boot(k).run(options.signal);
  }

  /**
   * Releases the kernel: stops every running component in reverse dependency order (independent
   * ones concurrently, each within its shutdown). During a boot, abandons it and waits for the
   * rollback. Rejects with an AggregateError naming every component whose stop threw or passed
   * its deadline. The one release every other verb is built on.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#release('disposed');
  }

  /** The release (see `[Symbol.asyncDispose]`), with the reason the events and the exit give. */
  stop(reason = 'stop requested'): Promise<void> {
    return this.#release(reason);
  }

  #release(reason: string): Promise<void> {
    const k = this.#k;
    if (k.stopping) return k.stopping;
    if (k.phase === 'idle' || k.phase === 'stopped') {
      k.phase = 'stopped';
      k.finish(k.exit ?? { code: 0, reason });
      return Promise.resolve();
    }
    if (k.phase === 'booting') {
      k.boot!.abort(new BootAbandonedError(`boot interrupted: ${reason}`));
      return (k.stopping = k.done.then(() => undefined));
    }
    return (k.stopping = stopSystem(k, reason, 0));
  }

  /** Restarts `name` per its restart strategy (or the one given), as the supervisor would. */
  restart(name: string, strategy?: StrategyName): Promise<void> {
    const k = this.#k;
    const slot = k.require(name);
    if (!slot.selected) return Promise.reject(new KernelError(`cannot restart '${name}': it is not part of this boot (--until)`));
    if (strategy !== undefined && !isStrategy(strategy)) return Promise.reject(new TypeError(`restart('${name}'): unknown strategy '${String(strategy)}'`));
    return k.serialize(async () => {
      const down = slot.needSlots.find((n) => !n.running);
      if (down) throw new DependencyFailedError(name, down.name);
      const failed = await restart(k, slot, strategy ?? slot.spec.restart.strategy, 'restart requested');
      if (failed) {
        supervise(k, failed.slot, failed.slot.generation, failed.error);
        throw new KernelError(`'${failed.slot.name}' did not restart: ${describeError(failed.error)}`, { cause: failed.error });
      }
    });
  }

  /**
   * Replaces `name`'s definition while the system runs (swap.ts): nothing ever sees a
   * half-started instance, and any failure rolls back to the old one.
   */
  swap(name: string, definition: AnyComponentDefinition, options: { with?: unknown } = {}): Promise<void> {
    const k = this.#k;
    const slot = k.require(name);
    if (!isComponentDefinition(definition)) return Promise.reject(new TypeError(`swap('${name}'): not a component definition (it needs a start() function)`));
    return k.serialize(() => swap(k, slot, definition, options));
  }
}

/** Creates a kernel from the config shape (docs/components.md). */
export function createKernel<Instances extends Record<string, unknown> = Record<string, unknown>>(options: KernelOptions): Kernel<Instances> {
  return new Kernel<Instances>(options);
}

export type { ComponentOptions };

// One instance of each class on the boot and stop paths, made as real ones are (see util/shapes.ts).
{
  const kernel = new Kernel({ components: {} });
  const core = new KernelCore({ components: {} });
  const slot = new Slot(0, 'specimen', normalizeSpec('specimen', { use: { start: () => undefined } }));
  const op = new Operation();
  const delivery = new Delivery({ settled: () => true, done: () => {} });
  const stage = new StageRun(op, delivery);
  stage.begin(0.5, 1, () => {});
  const attempt = new Attempt(slot, 1, 0.5, op);
  anchorShapes(
    kernel,
    core,
    slot,
    op,
    delivery,
    stage,
    attempt,
    new Boot(core),
    new StartContext(undefined, attempt, core, 1, undefined),
    new KernelStopContext('specimen', 'shutdown', { signal: () => new AbortController().signal }, 0, core),
    new BootFacts([slot]),
  );
}
