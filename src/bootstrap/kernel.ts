import { teardownIndexed, type StopSignals } from '../container/index.js';
import { backoffDelay, sleep } from '../util/backoff.js';
import { describeError, quiet, toError } from '../util/errors.js';
import { anchorShapes } from '../util/shapes.js';
import type {
  AnyComponentDefinition,
  ComponentContext,
  ComponentOptions,
  ComponentState,
  Handle,
  HealthStatus,
  KernelOptions,
  LateHandle,
  Logger,
  StopContext,
} from './definition.js';
import { isComponentDefinition } from './definition.js';
import {
  BootAbandonedError,
  BootError,
  DependencyFailedError,
  GraphError,
  HealthCheckError,
  KernelError,
  LateBindingError,
  StartTimeoutError,
  SwapError,
} from './errors.js';
import { EventStream, type EventError, type KernelEvent, type KernelEventType, type SystemEvent } from './events.js';
import { dependentsClosure, needsClosure, planGraph, type BootPlan } from './graph.js';
import { criticalPathOf, isolationOf, onPathState, overallIsolation, type BootFailure, type BootReport, type ComponentReport, type IsolationLevel, type PathFacts } from './report.js';
import { normalizeSpec, type ComponentSpec } from './spec.js';

type Phase = 'idle' | 'booting' | 'running' | 'stopping' | 'stopped';
type FailPhase = 'start' | 'health' | 'timeout' | 'aborted';
type Outcome =
  | { ok: true; instance: unknown; status: HealthStatus; detail: unknown; generation: number }
  | { ok: false; error: Error; phase: FailPhase };

/** How the kernel ended: 0 after a clean stop, 1 after a failed boot, a failed stop, or an escalation. */
export interface KernelExit {
  code: 0 | 1;
  reason: string;
}

const EMPTY: Readonly<Record<string, never>> = Object.freeze({});
const NO_SLOTS: readonly Slot[] = Object.freeze([]);
const NO_RESTARTS: readonly number[] = Object.freeze([]);
/** What #emitComponent adds to an event when the caller adds nothing (so no object is made per call). */
const NO_EXTRA: { attempt?: number; reason?: string; error?: Error } = Object.freeze({});
/** The dependency lists of a teardown of one node: none (never written to). */
const ONE_NODE_DEP_START = new Int32Array(2);
const NO_DEPS: readonly number[] = Object.freeze([]);
/** In a deps snapshot: a wanted component that was not running, so `ctx.deps` leaves it out. */
const ABSENT: unique symbol = Symbol('absent');

/**
 * One unit of abortable work (a boot, a restart, a swap): the attempts under way, so abandoning
 * it aborts exactly those, without a listener per component on a shared signal.
 */
class Operation {
  /** Attempts with their own deadline timer (retries, restarts, swaps). */
  readonly attempts = new Set<Attempt>();
  /** During a boot, the first attempts of the stage under way, in start order. */
  stage: Attempt[] | undefined;
  reason: Error | undefined;
  #wake = new Set<() => void>();
  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    // A stage's first attempts began before any retry: expiring them first keeps start order.
    if (this.stage) for (const a of this.stage) a.expire(reason, 'aborted');
    for (const a of this.attempts) a.expire(reason, 'aborted');
    for (const w of this.#wake) w();
  }
  /** A backoff pause that ends early when the operation is abandoned. */
  pause(ms: number): Promise<void> {
    if (this.reason) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake.add(done);
    });
  }
}

/**
 * One start attempt. Its AbortSignal is made only if the component asks for it (most never do),
 * and its deadline timer may be shared by every first attempt of a stage. It settles once, with
 * its outcome: a boot's first attempt tells its stage (see `deliver`), any other attempt resolves
 * the promise its caller awaits.
 */
class Attempt {
  done = false;
  /** This attempt's instance's generation (unique per slot): a `ctx.fail()` counts only from the instance being served. */
  generation = 0;
  phase: 'start' | 'health' = 'start';
  reason: Error | undefined;
  outcome: Outcome | undefined;
  /** Outside a boot's stages: resolves the promise of the outcome. */
  resolve: ((outcome: Outcome) => void) | undefined;
  /** During a boot: the stage this is the first attempt of. */
  stage: StageRun | undefined;
  /** Its own deadline timer, and the operation that tracks it, when it has them. */
  timer: NodeJS.Timeout | undefined;
  tracker: Operation | undefined;
  #controller: AbortController | undefined;
  constructor(
    readonly slot: Slot,
    readonly n: number,
    readonly deadline: number,
    readonly op: Operation,
  ) {}
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.reason) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }
  settle(outcome: Outcome): void {
    if (this.done) return;
    this.done = true;
    this.outcome = outcome;
    this.tracker?.attempts.delete(this);
    if (this.timer) clearTimeout(this.timer);
    if (this.stage) deliver(this);
    else this.resolve?.(outcome);
  }
  expire(reason: Error, phase: FailPhase): void {
    if (this.done) return;
    this.reason = reason;
    this.#controller?.abort(reason);
    this.settle({ ok: false, error: reason, phase });
  }
  timeout(): void {
    if (this.done) return;
    const s = this.slot;
    this.expire(new StartTimeoutError(s.name, s.spec.timeoutMs, this.phase), 'timeout');
  }
}

/*
 * The outcomes of a boot's first attempts are acted on in two steps, one microtask after the
 * other, as the promise chain they replace did: one microtask after an attempt settles, whether it
 * is retried; one more, the component's new state. The timing decides which starts have settled
 * when a failure abandons the boot (a sibling that settled is ready, then rolled back; one still
 * under way is abandoned), so it is kept exactly. Each step is one microtask for every attempt that
 * settled before it ran, where the chain cost three promises per attempt.
 */
let settled: Attempt[] = [];
let stepScheduled = false;
function deliver(a: Attempt): void {
  settled.push(a);
  if (!stepScheduled) {
    stepScheduled = true;
    queueMicrotask(decideRetries);
  }
}
function decideRetries(): void {
  stepScheduled = false;
  const batch = settled;
  settled = [];
  const done: Attempt[] = [];
  for (const a of batch) if (guard(a, a.stage!.hooks.settled)) done.push(a);
  if (done.length) queueMicrotask(() => { for (const a of done) guard(a, a.stage!.hooks.done); });
}
/** Runs a kernel step for one attempt; a throw is a kernel bug, reported without holding up the other attempts. */
function guard(a: Attempt, step: (a: Attempt) => boolean | void): boolean {
  try {
    return step(a) === true;
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
    return false;
  }
}

/** The kernel's two steps for a boot's first attempts (see `deliver`). */
interface BootSteps {
  /** One microtask after the attempt settled: starts the retries, or returns true when the outcome is final. */
  settled(a: Attempt): boolean;
  /** One microtask later, for a final outcome: the component's new state. */
  done(a: Attempt): void;
}

/**
 * The first attempts of one stage of a boot: one deadline timer per distinct timeout, and a count
 * of the components still to settle.
 */
class StageRun {
  readonly attempts: Attempt[] = [];
  readonly #groups = new Map<number, Attempt[]>();
  readonly #timers: NodeJS.Timeout[] = [];
  #left: number;
  constructor(
    readonly at: number,
    readonly op: Operation,
    readonly hooks: BootSteps,
    count: number,
    readonly resolve: () => void,
  ) {
    this.#left = count;
    op.stage = this.attempts;
  }
  firstAttempt(slot: Slot): Attempt {
    const ms = slot.spec.timeoutMs;
    let group = this.#groups.get(ms);
    if (!group) {
      const g: Attempt[] = (group = []);
      this.#groups.set(ms, g);
      this.#timers.push(setTimeout(() => { for (const a of g) a.timeout(); }, ms));
    }
    const a = new Attempt(slot, 1, this.at + ms, this.op);
    a.stage = this;
    group.push(a);
    this.attempts.push(a);
    return a;
  }
  /** One component of the stage is done (ready, failed, skipped or abandoned). */
  settled(): void {
    if (--this.#left !== 0) return;
    for (const t of this.#timers) clearTimeout(t);
    if (this.op.stage === this.attempts) this.op.stage = undefined;
    // The stage ends a microtask after its last component, as it did when each was a promise.
    queueMicrotask(this.resolve);
  }
}

/** A component's place in the kernel: its spec, its state, its current instance and its timings. */
class Slot {
  state: ComponentState = 'pending';
  /** Named parts of its start (ctx.part), for the report. */
  parts: { name: string; startMs: number; readyMs: number | null }[] | undefined;
  definition: AnyComponentDefinition | undefined;
  instance: unknown = undefined;
  /** True from a successful start until its stop: there is an instance to stop. */
  hasInstance = false;
  failPhase: FailPhase | undefined;
  /** Which start produced `instance`, so a stale `ctx.fail()` from an old instance is ignored. */
  generation = 0;
  /** The last generation handed to an attempt (every attempt gets a new one). */
  serial = 0;
  /** A `ctx.fail()` heard while the boot was still under way: acted on when it is over. */
  pendingFailure: { generation: number; error: Error } | undefined = undefined;
  attempts = 0;
  queuedAt: number | null = null;
  startAt: number | null = null;
  readyAt: number | null = null;
  firstReadyAt: number | null = null;
  error: Error | null = null;
  /** For a component skipped because a need failed: the component at the root of it. */
  cause: string | undefined;
  /** The last health verdict (undefined before the first start); the report shows it as `{ status, detail }`. */
  healthStatus: HealthStatus | undefined;
  healthDetail: unknown;
  selected = true;
  stageIndex = 0;
  needSlots: readonly Slot[] = NO_SLOTS;
  wantSlots: readonly Slot[] = NO_SLOTS;
  liveTimer: NodeJS.Timeout | undefined;
  liveFailures = 0;
  /** When the supervisor restarted it, within the restart window (shared empty list until the first restart). */
  restarts: readonly number[] = NO_RESTARTS;
  #handle: StableHandle | undefined;
  #ready: { promise: Promise<unknown>; resolve(v: unknown): void; reject(e: unknown): void } | undefined;

  constructor(
    /** Declaration index: the slot's place in the kernel's list of all slots. */
    readonly index: number,
    readonly name: string,
    readonly spec: ComponentSpec,
  ) {}

  get running(): boolean {
    return this.state === 'ready' || this.state === 'degraded';
  }
  get handle(): StableHandle {
    return (this.#handle ??= new StableHandle(this));
  }
  /** Resolves when the component is first ready; rejects when it fails or is left out. */
  get readyPromise(): Promise<unknown> {
    if (!this.#ready) {
      let resolve!: (v: unknown) => void;
      let reject!: (e: unknown) => void;
      const promise = quiet(new Promise<unknown>((res, rej) => ((resolve = res), (reject = rej))));
      this.#ready = { promise, resolve, reject };
      if (this.firstReadyAt !== null) resolve(this.instance);
      else if (this.state === 'failed' || this.state === 'skipped') reject(this.error ?? new KernelError(`'${this.name}' did not start`));
    }
    return this.#ready.promise;
  }
  markReady(): void {
    if (this.firstReadyAt === null) this.firstReadyAt = this.readyAt;
    this.#ready?.resolve(this.instance);
  }
  markNeverReady(error: Error): void {
    if (this.firstReadyAt === null) this.#ready?.reject(error);
  }
  /**
   * What `ctx.deps` holds for a start beginning now: the instances of its needs, then of its wants
   * (ABSENT for a want that is not running). Undefined when it has neither.
   */
  depsSnapshot(): unknown[] | undefined {
    const needs = this.needSlots;
    const wants = this.wantSlots;
    if (needs.length === 0 && wants.length === 0) return undefined;
    const values: unknown[] = new Array(needs.length + wants.length);
    // Indexed loops here and below: these lists are often the shared frozen empty list, which
    // for...of walks through the generic (allocating) iterator path.
    for (let i = 0; i < needs.length; i++) values[i] = needs[i]!.instance;
    for (let i = 0; i < wants.length; i++) values[needs.length + i] = wants[i]!.running ? wants[i]!.instance : ABSENT;
    return values;
  }
}

class StableHandle implements Handle<unknown> {
  constructor(readonly slot: Slot) {}
  get name(): string {
    return this.slot.name;
  }
  get ready(): boolean {
    return this.slot.running;
  }
  get current(): unknown {
    const s = this.slot;
    if (s.running) return s.instance;
    throw new KernelError(`'${s.name}' is not running (state: ${s.state})`);
  }
}

class LateRef implements LateHandle<unknown> {
  constructor(
    readonly target: Slot,
    readonly user: string,
  ) {}
  get name(): string {
    return this.target.name;
  }
  get bound(): boolean {
    return this.target.running;
  }
  get ready(): Promise<unknown> {
    return this.target.readyPromise;
  }
  get(): unknown {
    const t = this.target;
    if (t.running) return t.instance;
    throw new LateBindingError(t.name, t.stageIndex, this.user, t.state);
  }
}

/**
 * `ctx` for one start attempt. Members a component rarely uses (deps, signal, handles, log) are
 * made on first use; `deps` from the instances as they were when the attempt began.
 */
class StartContext implements ComponentContext {
  readonly name: string;
  readonly config: unknown;
  #deps: Record<string, unknown> | undefined;
  #snapshot: unknown[] | undefined;
  #handles: Record<string, Handle<unknown>> | undefined;
  #late: Record<string, LateHandle<unknown>> | undefined;
  #log: Logger | undefined;
  constructor(
    snapshot: unknown[] | undefined,
    readonly attemptState: Attempt,
    readonly kernel: KernelInternals,
    readonly generation: number,
    config: unknown,
  ) {
    this.#snapshot = snapshot;
    this.name = attemptState.slot.name;
    this.config = config;
  }
  get deps(): Record<string, unknown> {
    if (!this.#deps) {
      const values = this.#snapshot;
      if (!values) {
        this.#deps = EMPTY;
      } else {
        // A plain object, as components keep it and read it on every call (a null-prototype
        // object would be cheaper to build but slower to read).
        const deps: Record<string, unknown> = {};
        const { needSlots, wantSlots } = this.attemptState.slot;
        for (let i = 0; i < needSlots.length; i++) deps[needSlots[i]!.name] = values[i];
        for (let i = 0; i < wantSlots.length; i++) {
          const v = values[needSlots.length + i];
          if (v !== ABSENT) deps[wantSlots[i]!.name] = v;
        }
        this.#deps = deps;
        this.#snapshot = undefined;
      }
    }
    return this.#deps;
  }
  get signal(): AbortSignal {
    return this.attemptState.signal;
  }
  get baseDir(): string {
    return this.kernel.baseDir;
  }
  get deadline(): number {
    return this.attemptState.deadline;
  }
  get attempt(): number {
    return this.attemptState.n;
  }
  remainingMs(): number {
    return Math.max(0, this.attemptState.deadline - performance.now());
  }
  get handles(): Record<string, Handle<unknown>> {
    if (!this.#handles) {
      const slot = this.attemptState.slot;
      this.#handles = {};
      for (const d of [...slot.needSlots, ...slot.wantSlots]) this.#handles[d.name] = d.handle;
    }
    return this.#handles;
  }
  get late(): Record<string, LateHandle<unknown>> {
    if (!this.#late) {
      const slot = this.attemptState.slot;
      this.#late = {};
      for (const t of slot.spec.late) this.#late[t] = new LateRef(this.kernel.slot(t), slot.name);
    }
    return this.#late;
  }
  get log(): Logger {
    return (this.#log ??= this.kernel.logger(this.name));
  }
  fail(error: unknown): void {
    this.kernel.reportFailure(this.attemptState.slot, this.generation, error);
  }
  part(name: string): () => void {
    const slot = this.attemptState.slot;
    const entry = { name, startMs: this.kernel.now(), readyMs: null as number | null };
    (slot.parts ??= []).push(entry);
    return () => {
      entry.readyMs ??= this.kernel.now();
    };
  }
}

/** `ctx` for one stop. Its signal and logger are made only if the stop uses them (most never do). */
class KernelStopContext implements StopContext {
  readonly name: string;
  readonly reason: StopContext['reason'];
  readonly #signals: StopSignals;
  readonly #node: number;
  readonly #kernel: KernelInternals;
  #log: Logger | undefined;
  constructor(name: string, reason: StopContext['reason'], signals: StopSignals, node: number, kernel: KernelInternals) {
    this.name = name;
    this.reason = reason;
    this.#signals = signals;
    this.#node = node;
    this.#kernel = kernel;
  }
  get signal(): AbortSignal {
    return this.#signals.signal(this.#node);
  }
  get log(): Logger {
    return (this.#log ??= this.#kernel.logger(this.name));
  }
}

/** What contexts need from the kernel (kept narrow so they hold no reference to its private state). */
interface KernelInternals {
  readonly baseDir: string;
  now(): number;
  slot(name: string): Slot;
  logger(component: string): Logger;
  reportFailure(slot: Slot, generation: number, error: unknown): void;
}

/**
 * The bootstrap manager. Plans stages from the dependency graph, starts each stage's components
 * concurrently, gates the next stage on readiness, gives every start a deadline, retries with
 * backoff, rolls back what started (in reverse dependency order) when a required component fails,
 * and after the boot supervises, restarts and swaps components.
 *
 * Dependents get `ctx.deps.x`, x's instance itself. So that nobody keeps using a stopped instance,
 * a swap or restart of x restarts x's dependents against the new instance, in dependency order;
 * stable references (`ctx.handles.x`, late handles, `kernel.handle(x)`) simply follow the switch.
 */
export class Kernel<Instances extends Record<string, unknown> = Record<string, unknown>> implements AsyncDisposable {
  readonly #origin: number;
  readonly #events = new EventStream();
  /** Every slot, in declaration order (a slot's `index`). */
  readonly #slots: Slot[];
  /** Name to declaration index. */
  readonly #index: ReadonlyMap<string, number>;
  /** Slots in start order, and per stage. */
  readonly #order: Slot[];
  readonly #stages: Slot[][];
  readonly #plan: BootPlan;
  readonly #options: KernelOptions;
  readonly #random: () => number;
  readonly #internals: KernelInternals;
  #phase: Phase = 'idle';
  // Fractional from the start (NaN until the boot sets them): whole numbers would give kernels a
  // different layout before and after their boot (see util/shapes.ts).
  #bootStart = Number.NaN;
  #loadMs = Number.NaN;
  #boot: Operation | undefined;
  #report: BootReport | undefined;
  #system: 'ready' | 'degraded' | 'failed' | undefined;
  #ops: Promise<unknown> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  #exit: KernelExit | undefined;
  #resolveDone!: (exit: KernelExit) => void;
  /** Resolves when the kernel has stopped, for whatever reason, with the exit code the CLI should use. */
  readonly done: Promise<KernelExit>;

  constructor(options: KernelOptions) {
    this.#origin = options.origin ?? performance.now();
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.done = new Promise((r) => (this.#resolveDone = r));
    const components = options.components ?? {};
    const names = Object.keys(components);
    const specs: ComponentSpec[] = new Array(names.length);
    for (let i = 0; i < names.length; i++) specs[i] = normalizeSpec(names[i]!, components[names[i]!]!);
    const analysis = planGraph(specs, options.stages);
    if (!analysis.plan) throw new GraphError(analysis.problems);
    this.#plan = analysis.plan;
    const { index, order, stageOf, stageCount } = analysis.indexed!;
    this.#index = index;
    const slots = (this.#slots = specs.map((spec, i) => new Slot(i, spec.name, spec)));
    this.#order = new Array(order.length);
    this.#stages = [];
    for (let s = 0; s < stageCount; s++) this.#stages.push([]);
    for (let k = 0; k < order.length; k++) {
      const slot = slots[order[k]!]!;
      this.#order[k] = slot;
      const spec = slot.spec;
      slot.stageIndex = stageOf[slot.index]!;
      this.#stages[slot.stageIndex]!.push(slot);
      if (spec.needs.length) slot.needSlots = spec.needs.map((n) => slots[index.get(n)!]!);
      if (spec.wants.length) {
        const wanted: Slot[] = [];
        for (const n of spec.wants) {
          const i = index.get(n);
          if (i !== undefined) wanted.push(slots[i]!);
        }
        if (wanted.length) slot.wantSlots = wanted;
      }
      const use = spec.use;
      if (typeof use === 'object' || typeof use === 'function') {
        if (!isComponentDefinition(use)) throw new TypeError(`component '${slot.name}': use is not a component definition (it needs a start() function)`);
        slot.definition = use;
      }
    }
    if (options.until !== undefined) {
      if (!index.has(options.until)) throw new GraphError([{ message: `--until names '${options.until}', which is not a component` }]);
      const keep = needsClosure(specs, options.until);
      for (const slot of this.#order) slot.selected = keep.has(slot.name);
    }
    this.#internals = {
      baseDir: options.baseDir ?? process.cwd(),
      now: () => this.now(),
      slot: (name) => this.#find(name)!,
      logger: (component) => this.#logger(component),
      reportFailure: (slot, generation, error) => this.#reportFailure(slot, generation, error),
    };
  }

  /** The boot plan: stages of component names, in start order. */
  get plan(): BootPlan {
    return this.#plan;
  }
  get phase(): Phase {
    return this.#phase;
  }
  /** `ready`, `degraded` or `failed` once a boot has ended; undefined before. */
  get system(): 'ready' | 'degraded' | 'failed' | undefined {
    return this.#system;
  }
  /** The report of the last boot (undefined while booting). */
  get report(): BootReport | undefined {
    return this.#report;
  }
  /** Milliseconds since the kernel was created. */
  now(): number {
    return performance.now() - this.#origin;
  }

  /** Subscribes to lifecycle events (`event` for all); returns the unsubscribe function. */
  on(type: KernelEventType | 'event', fn: (event: KernelEvent) => void): () => void {
    return this.#events.on(type, fn);
  }
  /** Lifecycle events as an async iterable, from now until `signal` aborts or the loop breaks. */
  events(signal?: AbortSignal): AsyncGenerator<KernelEvent> {
    return this.#events.iterate(signal);
  }

  /** The running instance of `name`. Throws while it is not ready. */
  get<K extends keyof Instances & string>(name: K): Instances[K] {
    const slot = this.#find(name);
    if (slot !== undefined && (slot.state === 'ready' || slot.state === 'degraded')) return slot.instance as Instances[K];
    throw new KernelError(slot ? `'${name}' is not running (state: ${slot.state})` : `no component named '${name}'`);
  }
  /** A stable reference to `name` that follows swaps and restarts. */
  handle<K extends keyof Instances & string>(name: K): Handle<Instances[K]> {
    return this.#slot(name).handle as Handle<Instances[K]>;
  }
  /** The state of every component, in start order. */
  states(): { name: string; stage: number; state: ComponentState; health: HealthStatus | null; restarts: number; isolation: IsolationLevel; isolationParts?: Record<string, IsolationLevel> }[] {
    return this.#order.map((s) => {
      const iso = isolationOf(s.running ? s.instance : undefined);
      return { name: s.name, stage: s.stageIndex, state: s.state, health: s.healthStatus ?? null, restarts: s.restarts.length, isolation: iso.level, ...(iso.parts ? { isolationParts: iso.parts } : {}) };
    });
  }

  /** The system's isolation now: `degraded` if any running isolated code is not confined by the OS, `sandboxed` if all is, `none` if there is none. */
  isolation(): IsolationLevel {
    return overallIsolation(this.#order.map((s) => isolationOf(s.running ? s.instance : undefined).level));
  }

  /**
   * Boots the system. Resolves with the boot report when every required component is ready
   * (`system: degraded` if an optional one failed); rejects with a BootError carrying the report
   * after rolling back what started. Aborting `signal` abandons the boot the same way.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<BootReport> {
    if (this.#phase !== 'idle') throw new KernelError(`start() called while the kernel is ${this.#phase}`);
    this.#phase = 'booting';
    const op = (this.#boot = new Operation());
    let abortedBy: 'signal' | 'aborted' | undefined;
    // An abort reason carrying a `signal` name (the CLI passes { signal: 'SIGINT' }) reports phase "signal".
    const onAbort = () => {
      const by = (options.signal?.reason as { signal?: unknown } | undefined)?.signal;
      abortedBy = typeof by === 'string' ? 'signal' : 'aborted';
      op.abort(new BootAbandonedError(`boot interrupted${typeof by === 'string' ? ` by ${by}` : ''}`));
    };
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.#emitSystem('booting');

    // Modules load first, all at once, and are reported as loadMs: a component's start time is its own.
    const loadStart = this.now();
    let failure = await this.#loadAll();
    this.#loadMs = this.now() - loadStart;
    const bootStart = (this.#bootStart = this.now());
    for (const slot of this.#order) {
      if (!slot.selected) slot.state = 'skipped';
      else slot.queuedAt ??= bootStart;
    }
    if (!failure && op.reason) failure = this.#interruptedFailure(abortedBy, this.#order);

    try {
      for (let i = 0; i < this.#stages.length && !failure; i++) {
        const stage = this.#stages[i]!;
        const members = this.#options.until === undefined ? stage : stage.filter((s) => s.selected);
        if (!members.length) continue;
        if (op.reason) {
          failure = this.#interruptedFailure(abortedBy, members);
          break;
        }
        this.#emitStage(i, 'starting', members);
        await this.#runStage(members, op);
        failure = this.#stageFailure(members, abortedBy, op);
        this.#emitStage(i, failure ? 'failed' : 'ready', members);
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }

    if (failure) {
      if (!op.reason) op.abort(new BootAbandonedError(`boot abandoned: '${failure.component}' failed`));
      for (const slot of this.#order) if (slot.state === 'pending' && slot.selected) slot.markNeverReady(op.reason!);
      await this.#teardown(this.#order.filter((s) => s.hasInstance), 'rollback');
      this.#system = 'failed';
      this.#report = this.#buildReport(failure);
      this.#phase = 'stopped';
      this.#emitSystem('failed', failure.message);
      this.#finish({ code: 1, reason: failure.message });
      throw new BootError(`boot failed: ${failure.message}`, this.#report);
    }

    for (const slot of this.#order) if (slot.state === 'skipped' || slot.state === 'pending') slot.markNeverReady(new KernelError(`'${slot.name}' is not part of this boot`));
    this.#system = this.#order.some((s) => s.selected && s.state !== 'ready') ? 'degraded' : 'ready';
    this.#report = this.#buildReport(null);
    this.#phase = 'running';
    this.#emitSystem(this.#system);
    for (const slot of this.#order) if (slot.running) this.#watch(slot);
    for (const slot of this.#order) {
      const pending = slot.pendingFailure;
      slot.pendingFailure = undefined;
      if (pending) this.#reportFailure(slot, pending.generation, pending.error);
    }
    return this.#report;
  }

  /**
   * Stops every running component in reverse dependency order (independent ones concurrently,
   * each within its `stopTimeout`). During a boot, abandons it and waits for the rollback. Rejects
   * with an AggregateError naming every component whose stop threw or passed its deadline.
   */
  stop(reason = 'stop requested'): Promise<void> {
    if (this.#stopping) return this.#stopping;
    if (this.#phase === 'idle' || this.#phase === 'stopped') {
      this.#phase = 'stopped';
      this.#finish(this.#exit ?? { code: 0, reason });
      return Promise.resolve();
    }
    if (this.#phase === 'booting') {
      this.#boot!.abort(new BootAbandonedError(`boot interrupted: ${reason}`));
      return (this.#stopping = this.done.then(() => undefined));
    }
    return (this.#stopping = this.#stopRunning(reason, 0));
  }

  async #stopRunning(reason: string, code: 0 | 1): Promise<void> {
    this.#phase = 'stopping';
    this.#emitSystem('stopping', reason);
    for (const slot of this.#order) this.#unwatch(slot);
    await this.#ops.catch(() => {}); // let a restart or swap under way finish first
    const errors = await this.#teardown(this.#order.filter((s) => s.hasInstance), 'shutdown');
    this.#phase = 'stopped';
    this.#emitSystem('stopped', reason);
    const failed = errors.length > 0;
    this.#finish({ code: failed ? 1 : code, reason: failed ? `${errors.length} component(s) failed to stop` : reason });
    if (failed) throw new AggregateError(errors, `${errors.length} component(s) failed to stop: ${errors.map((e) => e.message).join('; ')}`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop('disposed');
  }

  /** Restarts `name` per its restart strategy (or the one given), as the supervisor would. */
  restart(name: string, strategy?: 'one_for_one' | 'rest_for_one'): Promise<void> {
    const slot = this.#slot(name);
    if (!slot.selected) return Promise.reject(new KernelError(`cannot restart '${name}': it is not part of this boot (--until)`));
    return this.#serialize(async () => {
      const down = slot.needSlots.find((n) => !n.running);
      if (down) throw new DependencyFailedError(name, down.name);
      const failed = await this.#restart(slot, strategy ?? (slot.spec.restart.strategy === 'rest_for_one' ? 'rest_for_one' : 'one_for_one'), 'restart requested');
      if (failed) {
        this.#supervise(failed.slot, failed.slot.generation, failed.error);
        throw new KernelError(`'${failed.slot.name}' did not restart: ${describeError(failed.error)}`, { cause: failed.error });
      }
    });
  }

  /**
   * Replaces `name`'s definition while the system runs: starts the new instance and gates it on
   * health; then stops x's dependents, switches every stable handle, restarts the dependents
   * against the new instance and stops the old one. Any failure rolls back to the old instance,
   * which keeps running until the new one has taken over. Nothing ever sees a half-started instance.
   */
  swap(name: string, definition: AnyComponentDefinition, options: { with?: unknown } = {}): Promise<void> {
    const slot = this.#slot(name);
    if (!isComponentDefinition(definition)) return Promise.reject(new TypeError(`swap('${name}'): not a component definition (it needs a start() function)`));
    return this.#serialize(() => this.#swap(slot, definition, options));
  }

  // ---- boot ------------------------------------------------------------------------------------

  async #load(slot: Slot, loader: KernelOptions['loader']): Promise<AnyComponentDefinition> {
    const spec = slot.spec;
    const adapters = this.#options.modes ?? {};
    if (spec.command) {
      if (!adapters.command) throw new KernelError(`'${slot.name}' is a command: peer, but no bus is configured to run it`);
      return adapters.command(slot.name, spec.options, undefined);
    }
    let def: AnyComponentDefinition;
    if (typeof spec.use === 'string') {
      if (!loader) throw new KernelError(`'${slot.name}' uses '${spec.use}', but the kernel has no loader for module paths`);
      def = await loader(spec.use, slot.name);
      if (!isComponentDefinition(def)) throw new TypeError(`'${spec.use}' (used by '${slot.name}') does not export a component: its default export needs a start() function`);
    } else {
      def = spec.use!;
    }
    if (spec.mode !== 'in-process') {
      const adapter = adapters[spec.mode];
      if (!adapter) throw new KernelError(`'${slot.name}' asks for mode '${spec.mode}', which needs the bus (builtin:bus) to run it`);
      return adapter(slot.name, spec.options, def);
    }
    return def;
  }

  /** Starts a stage's components concurrently; first attempts share one deadline timer per timeout. */
  #runStage(members: Slot[], op: Operation): Promise<void> {
    return new Promise<void>((resolve) => this.#launchStage(members, new StageRun(performance.now(), op, this.#bootSteps, members.length, resolve)));
  }

  #launchStage(members: Slot[], stage: StageRun): void {
    for (let i = 0; i < members.length; i++) {
      const slot = members[i]!;
      try {
        this.#bootSlot(slot, stage);
      } catch (err) {
        // #bootSlot never throws by design; if it does, it is a kernel bug: fail the component loudly.
        this.#kernelBug(slot, stage, err);
      }
    }
  }

  #kernelBug(slot: Slot, stage: StageRun, err: unknown): void {
    slot.error = toError(err, 'kernel');
    slot.state = 'failed';
    stage.settled();
  }

  /** Resolves every selected component's definition concurrently; a required one that fails to load fails the boot before anything starts. */
  async #loadAll(): Promise<BootFailure | null> {
    const loader = this.#options.loader;
    const pending = this.#order.filter((s) => s.selected && !s.definition);
    if (!pending.length) return null;
    const results = await Promise.allSettled(pending.map((s) => this.#load(s, loader)));
    let failure: BootFailure | null = null;
    results.forEach((r, i) => {
      const slot = pending[i]!;
      if (r.status === 'fulfilled') {
        slot.definition = r.value;
        return;
      }
      slot.queuedAt = slot.startAt = this.now();
      slot.attempts = 0;
      this.#failed(slot, toError(r.reason, `loading '${slot.name}'`));
      if (!slot.spec.optional && !failure) failure = { component: slot.name, phase: 'start', message: describeError(slot.error) };
    });
    return failure;
  }

  /**
   * Starts one component of a boot stage: its first attempt, then (rarely) the retries. Tells the
   * stage when the component is done with. Without retries, no promise of the kernel's own is made.
   */
  #bootSlot(slot: Slot, stage: StageRun): void {
    if (slot.state === 'failed') return stage.settled(); // its module did not load (optional, or the boot would have stopped)
    const needs = slot.needSlots;
    for (let i = 0; i < needs.length; i++) {
      const need = needs[i]!;
      if (!need.running) {
        slot.cause = need.cause ?? need.name;
        slot.error = new DependencyFailedError(slot.name, need.name);
        slot.state = 'skipped';
        slot.markNeverReady(slot.error);
        this.#emitComponent(slot, 'skipped', { error: slot.error });
        return stage.settled();
      }
    }
    slot.startAt = this.now();
    const a = stage.firstAttempt(slot);
    this.#beginAttempt(slot, 1, undefined, false);
    this.#attempt(slot, slot.definition!, a, stage.op, false, slot.spec.config);
  }

  /** What the stages call back with their first attempts' outcomes (see `deliver`). */
  readonly #bootSteps: BootSteps = {
    settled: (a) => {
      const { slot, stage, outcome } = a;
      try {
        if (outcome!.ok || slot.spec.retries === 0 || a.op.reason) return true;
        this.#startWithRetries(slot, slot.definition!, a.op, { after: outcome }).then(
          (o) => this.#bootOutcome(slot, stage!, o),
          (err: unknown) => this.#kernelBug(slot, stage!, err),
        );
      } catch (err) {
        this.#kernelBug(slot, stage!, err);
      }
      return false;
    },
    done: (a) => {
      try {
        this.#bootOutcome(a.slot, a.stage!, a.outcome!);
      } catch (err) {
        this.#kernelBug(a.slot, a.stage!, err);
      }
    },
  };

  #bootOutcome(slot: Slot, stage: StageRun, outcome: Outcome): void {
    const op = stage.op;
    if (outcome.ok) {
      this.#becomeRunning(slot, outcome);
    } else if (outcome.phase === 'aborted') {
      slot.readyAt = this.now();
      slot.error = outcome.error;
      slot.state = 'stopped';
      slot.markNeverReady(outcome.error);
      this.#emitComponent(slot, 'stopped', { error: outcome.error, reason: 'boot abandoned' });
    } else {
      this.#failed(slot, outcome.error, outcome.phase);
      if (!slot.spec.optional) op.abort(new BootAbandonedError(`boot abandoned: '${slot.name}' failed`));
    }
    stage.settled();
  }

  #failed(slot: Slot, error: Error, phase: FailPhase = 'start'): void {
    slot.readyAt = this.now();
    slot.error = error;
    slot.state = 'failed';
    slot.failPhase = phase;
    slot.markNeverReady(error);
    this.#emitComponent(slot, 'failed', { error });
  }

  #becomeRunning(slot: Slot, outcome: Extract<Outcome, { ok: true }>): void {
    slot.instance = outcome.instance;
    slot.hasInstance = true;
    slot.generation = outcome.generation;
    slot.healthStatus = outcome.status;
    slot.healthDetail = outcome.detail;
    slot.readyAt = this.now();
    slot.error = null;
    slot.liveFailures = 0;
    slot.state = outcome.status === 'degraded' ? 'degraded' : 'ready';
    slot.markReady();
    this.#emitComponent(slot, slot.state);
  }

  #stageFailure(members: Slot[], abortedBy: 'signal' | 'aborted' | undefined, op: Operation): BootFailure | null {
    for (const s of members) {
      if (s.state === 'failed' && !s.spec.optional) {
        const phase = s.failPhase ?? 'start';
        return { component: s.name, phase: phase === 'aborted' ? 'aborted' : phase, message: describeError(s.error) };
      }
    }
    for (const s of members) {
      if (s.state === 'skipped' && !s.spec.optional) {
        return { component: s.cause ?? s.name, phase: 'dependency', message: describeError(s.error) };
      }
    }
    if (op.reason) return this.#interruptedFailure(abortedBy, members);
    return null;
  }

  #interruptedFailure(abortedBy: 'signal' | 'aborted' | undefined, members: Slot[]): BootFailure {
    const at = members.find((s) => s.state === 'stopped' || s.state === 'starting') ?? members[0]!;
    return { component: at.name, phase: abortedBy ?? 'aborted', message: describeError(this.#boot!.reason) };
  }

  /**
   * All attempts for one start (retries with exponential backoff and jitter). Never rejects.
   * `after`: attempt 1 already ran (a boot's first attempt) and failed with this outcome.
   */
  async #startWithRetries(
    slot: Slot,
    def: AnyComponentDefinition,
    op: Operation,
    how: { reason?: string; shadow?: { config: unknown }; after?: Outcome } = {},
  ): Promise<Outcome> {
    const max = slot.spec.retries + 1;
    let n = 1;
    let outcome = how.after ?? (await this.#attemptWithTimer(slot, def, op, n, how));
    for (;;) {
      if (outcome.ok || n >= max || op.reason) return outcome;
      const delay = backoffDelay(slot.spec.backoff, n, this.#random);
      this.#emitComponent(slot, 'starting', {
        attempt: n,
        error: outcome.error,
        reason: `attempt ${n} of ${max} failed; retry in ${Math.round(delay)}ms`,
      });
      await op.pause(delay);
      if (op.reason) return { ok: false, error: op.reason, phase: 'aborted' };
      outcome = await this.#attemptWithTimer(slot, def, op, ++n, how);
    }
  }

  /** Attempt `n`, with a deadline timer of its own, as a promise of its outcome. */
  #attemptWithTimer(slot: Slot, def: AnyComponentDefinition, op: Operation, n: number, how: { reason?: string; shadow?: { config: unknown } }): Promise<Outcome> {
    const a = new Attempt(slot, n, performance.now() + slot.spec.timeoutMs, op);
    const shadow = how.shadow;
    this.#beginAttempt(slot, n, how.reason, shadow !== undefined);
    return new Promise<Outcome>((resolve) => {
      a.resolve = resolve;
      this.#attempt(slot, def, a, op, true, shadow ? shadow.config : slot.spec.config);
    });
  }

  /** Counts and announces an attempt. A shadow start (swap) leaves the slot as it is: the old instance stays current until the switch. */
  #beginAttempt(slot: Slot, n: number, reason: string | undefined, shadow: boolean): void {
    if (!shadow) {
      slot.attempts++;
      slot.state = 'starting';
    }
    if (this.#events.active) this.#emitComponent(slot, shadow ? slot.state : 'starting', { attempt: n, reason: shadow ? 'swap: new instance starting' : reason });
  }

  /** One attempt: start, then the readiness gate, within the attempt's deadline. Settles `a`, exactly once. */
  #attempt(slot: Slot, def: AnyComponentDefinition, a: Attempt, op: Operation, ownTimer: boolean, config: unknown): void {
    if (op.reason) return a.expire(op.reason, 'aborted');
    if (ownTimer) {
      a.tracker = op;
      op.attempts.add(a);
      a.timer = setTimeout(() => a.timeout(), Math.max(0, a.deadline - performance.now()));
    }
    a.generation = ++slot.serial;
    const ctx = new StartContext(slot.depsSnapshot(), a, this.#internals, a.generation, config);
    let result: unknown;
    try {
      result = def.start(ctx);
    } catch (err) {
      return a.settle({ ok: false, error: toError(err, `start of '${slot.name}'`), phase: 'start' });
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(
        (instance) => this.#started(slot, def, a, instance),
        (err: unknown) => a.settle({ ok: false, error: toError(err, `start of '${slot.name}'`), phase: 'start' }),
      );
    } else {
      this.#started(slot, def, a, result);
    }
  }

  /** The start returned an instance: gate it on health if it has a probe. */
  #started(slot: Slot, def: AnyComponentDefinition, a: Attempt, instance: unknown): void {
    if (a.done) return this.#discard(slot, def, instance, 'abandoned');
    if (!def.health) return a.settle({ ok: true, instance, status: 'healthy', detail: undefined, generation: a.generation });
    a.phase = 'health';
    this.#readiness(slot, def, instance, a).then(
      (h) => (a.done ? this.#discard(slot, def, instance, 'abandoned') : a.settle({ ok: true, instance, status: h.status, detail: h.detail, generation: a.generation })),
      (err: unknown) => {
        a.settle({ ok: false, error: toError(err, `health of '${slot.name}'`), phase: 'health' });
        this.#discard(slot, def, instance, 'rollback');
      },
    );
  }

  /** Probes until healthy or degraded; `threshold` failures in a row fail the gate. Short pauses in between. */
  async #readiness(slot: Slot, def: AnyComponentDefinition, instance: unknown, a: Attempt): Promise<{ status: HealthStatus; detail: unknown }> {
    const { threshold, intervalMs } = slot.spec.health;
    for (let fails = 0; ; ) {
      const r = await this.#probe(slot, def, instance);
      if (a.done) throw a.reason;
      if (r.status !== 'unhealthy') return r;
      if (++fails >= threshold) {
        throw new HealthCheckError(slot.name, `'${slot.name}' failed its readiness probe ${fails} time(s) in a row: ${detailText(r.detail)}`, r.detail);
      }
      await sleep(Math.min(intervalMs, 10 * 2 ** fails), a.signal);
    }
  }

  /** One health probe within `health.timeout`; a throw or a timeout counts as unhealthy. */
  async #probe(slot: Slot, def: AnyComponentDefinition, instance: unknown): Promise<{ status: HealthStatus; detail: unknown }> {
    const ms = slot.spec.health.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      const r = await Promise.race([
        Promise.resolve().then(() => def.health!(instance)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HealthCheckError(slot.name, `health probe did not answer within ${ms}ms`)), ms);
        }),
      ]);
      if (r === true) return { status: 'healthy', detail: undefined };
      if (r === false) return { status: 'unhealthy', detail: 'probe returned false' };
      if (r && typeof r === 'object' && ['healthy', 'degraded', 'unhealthy'].includes((r as { status: string }).status)) {
        return { status: r.status, detail: r.detail };
      }
      return { status: 'unhealthy', detail: `probe returned ${JSON.stringify(r)} (expected a boolean or { status })` };
    } catch (err) {
      return { status: 'unhealthy', detail: describeError(toError(err, `health probe of '${slot.name}'`)) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops an instance nobody will use (a start that finished after its deadline, a failed gate). Errors are logged, not thrown. */
  #discard(slot: Slot, def: AnyComponentDefinition, instance: unknown, reason: StopContext['reason']): void {
    if (!def.stop) return;
    void this.#stopInstance(slot, def, instance, reason).then((err) => {
      if (err) this.#log('kernel', 'warn', `stopping a discarded instance of '${slot.name}' failed: ${err.message}`);
    });
  }

  /** Calls `stop` within the stop deadline; resolves with the error, if any. */
  async #stopInstance(slot: Slot, def: AnyComponentDefinition, instance: unknown, reason: StopContext['reason']): Promise<Error | undefined> {
    const errors = await teardownIndexed({
      size: 1,
      depStart: ONE_NODE_DEP_START,
      depList: NO_DEPS,
      stop: (i, signals) => {
        const stop = def.stop;
        return stop ? stop.call(def, instance, new KernelStopContext(slot.name, reason, signals, i, this.#internals)) : undefined;
      },
      timeoutMs: () => slot.spec.stopTimeoutMs,
      describe: () => slot.name,
    });
    return errors[0];
  }

  /** Stops running slots in reverse dependency order; each ends `stopped` (with its error if the stop failed). */
  #teardown(slots: Slot[], reason: StopContext['reason']): Promise<Error[]> {
    const n = slots.length;
    // Each member's dependencies (needs, then wants) among the members, by position in `slots`.
    const position = new Int32Array(this.#slots.length).fill(-1);
    for (let i = 0; i < n; i++) position[slots[i]!.index] = i;
    const depStart = new Int32Array(n + 1);
    const depList: number[] = [];
    const lastFrom = new Int32Array(n).fill(-1); // lastFrom[j] === i: j is listed for i already
    const add = (i: number, deps: readonly Slot[]) => {
      for (let k = 0; k < deps.length; k++) {
        const j = position[deps[k]!.index]!;
        if (j < 0 || j === i || lastFrom[j] === i) continue;
        lastFrom[j] = i;
        depList.push(j);
      }
    };
    for (let i = 0; i < n; i++) {
      depStart[i] = depList.length;
      add(i, slots[i]!.needSlots);
      add(i, slots[i]!.wantSlots);
    }
    depStart[n] = depList.length;
    return teardownIndexed({
      size: n,
      depStart,
      depList,
      stop: (i, signals) => {
        const s = slots[i]!;
        const def = s.definition;
        const stop = def?.stop;
        return stop ? stop.call(def, s.instance, new KernelStopContext(s.name, reason, signals, i, this.#internals)) : undefined;
      },
      timeoutMs: (i) => slots[i]!.spec.stopTimeoutMs,
      describe: (i) => slots[i]!.name,
      onStopping: (i) => {
        const s = slots[i]!;
        this.#unwatch(s);
        s.state = 'stopping';
        if (this.#events.active) this.#emitComponent(s, 'stopping', { reason });
      },
      onStopped: (i, error) => {
        const s = slots[i]!;
        s.hasInstance = false;
        s.state = 'stopped';
        if (error) s.error = error;
        if (this.#events.active) this.#emitComponent(s, 'stopped', { reason, error });
      },
    });
  }

  // ---- supervision -------------------------------------------------------------------------------

  /** Liveness probes every `health.interval`; `threshold` failures in a row count as a crash. */
  #watch(slot: Slot): void {
    const def = slot.definition;
    if (!def?.health || slot.spec.health.intervalMs <= 0 || this.#phase !== 'running') return;
    const generation = slot.generation;
    const tick = async () => {
      slot.liveTimer = undefined;
      const r = await this.#probe(slot, def, slot.instance);
      if (this.#phase !== 'running' || slot.generation !== generation || !slot.running) return;
      slot.healthStatus = r.status;
      slot.healthDetail = r.detail;
      if (r.status === 'unhealthy') {
        slot.liveFailures++;
        this.#log(slot.name, 'warn', `liveness probe failed (${slot.liveFailures}/${slot.spec.health.threshold}): ${detailText(r.detail)}`);
        if (slot.liveFailures >= slot.spec.health.threshold) {
          this.#reportFailure(slot, generation, new HealthCheckError(slot.name, `'${slot.name}' failed its liveness probe ${slot.liveFailures} times in a row: ${detailText(r.detail)}`, r.detail));
          return;
        }
      } else {
        slot.liveFailures = 0;
        const next = r.status === 'degraded' ? 'degraded' : 'ready';
        if (slot.state !== next) {
          slot.state = next;
          this.#emitComponent(slot, next, { reason: 'liveness probe' });
          this.#updateSystem();
        }
      }
      slot.liveTimer = setTimeout(tick, slot.spec.health.intervalMs).unref();
    };
    slot.liveTimer = setTimeout(tick, slot.spec.health.intervalMs).unref();
  }

  #unwatch(slot: Slot): void {
    if (slot.liveTimer) clearTimeout(slot.liveTimer);
    slot.liveTimer = undefined;
  }

  #reportFailure(slot: Slot, generation: number, error: unknown): void {
    if (slot.generation !== generation || !slot.running) return;
    if (this.#phase === 'booting') {
      // Heard while later stages still start: acted on once the boot is over, not dropped.
      slot.pendingFailure ??= { generation, error: toError(error, `'${slot.name}'`) };
      return;
    }
    if (this.#phase !== 'running') return;
    const err = toError(error, `'${slot.name}'`);
    this.#unwatch(slot);
    slot.error = err;
    slot.state = 'failed';
    this.#emitComponent(slot, 'failed', { error: err });
    this.#updateSystem();
    this.#supervise(slot, generation, err);
  }

  /**
   * Restarts a failed component per its strategy, within its restart intensity. A restart that
   * fails is one more failure (counted, then retried after the backoff) until the intensity is
   * exceeded; then it escalates. Another member of a rest_for_one group that does not come back
   * is supervised in turn, by its own policy.
   */
  #supervise(slot: Slot, generation: number, first: Error): void {
    void this.#serialize(async () => {
      let error = first;
      for (;;) {
        if (this.#phase !== 'running' || slot.generation !== generation || slot.state !== 'failed') return;
        const strategy = slot.spec.restart.strategy;
        if (strategy === 'never') return this.#escalate(slot, error, 'its restart strategy is never');
        const now = this.now();
        const { max, withinMs } = slot.spec.restart;
        const recent = slot.restarts.filter((t) => now - t < withinMs);
        slot.restarts = recent;
        if (recent.length >= max) return this.#escalate(slot, error, `it failed more than ${max} times within ${withinMs}ms`);
        recent.push(now);
        await this.#pauseBeforeRestart(slot);
        if (this.#phase !== 'running') return; // stopped meanwhile: the stop takes it from here
        const failed = await this.#restart(slot, strategy, describeError(error));
        if (!failed) return;
        if (failed.slot !== slot) return this.#supervise(failed.slot, failed.slot.generation, failed.error);
        error = failed.error;
      }
    });
  }

  #pauseBeforeRestart(slot: Slot): Promise<void> {
    const n = slot.restarts.length;
    return n <= 1 ? Promise.resolve() : sleep(backoffDelay(slot.spec.backoff, n - 1, this.#random));
  }

  /**
   * Restarts the slot, plus (rest_for_one) everything that depends on it, in dependency order; a
   * one_for_one restart also brings back the dependents that are down because it was. Returns the
   * member that did not come back, if one did not.
   */
  async #restart(slot: Slot, strategy: 'one_for_one' | 'rest_for_one', why: string): Promise<{ slot: Slot; error: Error } | undefined> {
    if (this.#phase !== 'running') throw new KernelError(`cannot restart '${slot.name}' while the kernel is ${this.#phase}`);
    const dependents = this.#withDependents(slot);
    const group = strategy === 'rest_for_one' ? dependents : dependents.filter((s) => s === slot || (!s.running && s.error instanceof DependencyFailedError));
    const reason = strategy === 'rest_for_one' && group.length > 1 ? `${strategy} after '${slot.name}' failed: ${why}` : `${strategy}: ${why}`;
    this.#log('kernel', 'warn', `restarting ${group.map((s) => `'${s.name}'`).join(', ')} (${reason})`);
    await this.#teardown(group.filter((s) => s.hasInstance), 'restart');
    const failed = await this.#startGroup(group, reason, slot);
    this.#updateSystem();
    return failed;
  }

  /**
   * Starts slots in dependency order (concurrently within a stage). Strict (a swap): returns the
   * first failure. For the restart of `restarted`: a member whose needs are not running is not
   * started (failed with DependencyFailedError; it comes back with them); another optional member
   * that fails is supervised on its own; the first required one that fails is returned.
   */
  async #startGroup(group: Slot[], reason: string, restarted?: Slot): Promise<{ slot: Slot; error: Error } | undefined> {
    const supervised = restarted !== undefined;
    const byStage = new Map<number, Slot[]>();
    for (const s of group) (byStage.get(s.stageIndex) ?? byStage.set(s.stageIndex, []).get(s.stageIndex)!).push(s);
    const op = new Operation();
    let firstRequired: { slot: Slot; error: Error } | undefined;
    for (const stage of [...byStage.keys()].sort((a, b) => a - b)) {
      const results = await Promise.all(
        byStage.get(stage)!.map(async (s): Promise<{ slot: Slot; error: Error } | undefined> => {
          if (supervised) {
            const down = s.needSlots.find((n) => !n.running);
            if (down) {
              this.#failed(s, new DependencyFailedError(s.name, down.name), 'start');
              return s.spec.optional ? undefined : { slot: s, error: s.error! };
            }
          }
          const outcome = await this.#startWithRetries(s, s.definition!, op, { reason });
          if (outcome.ok) {
            this.#becomeRunning(s, outcome);
            this.#watch(s);
            return undefined;
          }
          this.#failed(s, outcome.error, outcome.phase);
          if (supervised && s.spec.optional && s !== restarted) {
            this.#supervise(s, s.generation, outcome.error);
            return undefined;
          }
          return { slot: s, error: outcome.error };
        }),
      );
      const failure = results.find((e) => e);
      if (failure && !supervised) return failure;
      if (failure && !firstRequired) firstRequired = failure;
    }
    return firstRequired;
  }

  /**
   * Escalation. A required component stops the system with exit 1 (everything in reverse
   * dependency order, it included). An optional one stays down with everything that needs it
   * (stopped in reverse order; the system is degraded), unless one of those is required: then
   * the system stops.
   */
  async #escalate(slot: Slot, error: Error, why: string): Promise<void> {
    if (this.#phase !== 'running' || this.#stopping) return; // a stop under way takes it from here
    if (!slot.spec.optional) {
      slot.state = 'failed';
      slot.error = error;
      this.#emitComponent(slot, 'failed', { error, reason: `escalated: ${why}` });
      const reason = `'${slot.name}' failed and ${why}: ${describeError(error)}`;
      this.#log('kernel', 'error', `${reason}; stopping the system`);
      this.#stopping = this.#stopRunning(reason, 1).catch(() => {});
      return;
    }
    const needers = this.#neededBy(slot);
    await this.#teardown([...needers, slot].filter((s) => s.hasInstance), 'shutdown');
    slot.state = 'failed';
    slot.error = error;
    this.#emitComponent(slot, 'failed', { error, reason: `escalated: ${why}` });
    for (const d of needers) {
      d.state = 'failed';
      d.error = new DependencyFailedError(d.name, slot.name);
      this.#emitComponent(d, 'failed', { error: d.error, reason: `escalated: it needs '${slot.name}', which is down for good` });
    }
    const required = needers.find((d) => !d.spec.optional);
    if (required) {
      const reason = `'${required.name}' needs '${slot.name}', which failed and ${why}: ${describeError(error)}`;
      this.#log('kernel', 'error', `${reason}; stopping the system`);
      this.#stopping = this.#stopRunning(reason, 1).catch(() => {});
      return;
    }
    this.#log('kernel', 'error', `'${slot.name}' is down for good (${why})${needers.length ? `, and with it ${needers.map((d) => `'${d.name}'`).join(', ')}, which need it` : ''}; it is optional, so the system carries on degraded`);
    this.#updateSystem();
  }

  /** The running components that need `slot`, directly or through others (`needs` edges only), in start order. */
  #neededBy(slot: Slot): Slot[] {
    const out = new Set<Slot>();
    for (const s of this.#order) {
      if (s === slot || !s.running) continue;
      if (s.needSlots.some((n) => n === slot || out.has(n))) out.add(s);
    }
    return [...out];
  }

  #withDependents(slot: Slot): Slot[] {
    const deps = dependentsClosure(this.#order.map((s) => s.spec), slot.name);
    return this.#order.filter((s) => s === slot || (deps.has(s.name) && s.selected && s.state !== 'skipped'));
  }

  #updateSystem(): void {
    if (this.#phase !== 'running') return;
    const next = this.#order.some((s) => s.selected && s.state !== 'ready') ? 'degraded' : 'ready';
    if (next !== this.#system) {
      this.#system = next;
      this.#emitSystem(next);
    }
  }

  /** Supervisor actions (restarts, swaps) run one at a time, so two never tear at the same components. */
  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(fn, fn);
    this.#ops = run.catch(() => {});
    return run;
  }

  // ---- swap ----------------------------------------------------------------------------------

  async #swap(slot: Slot, def: AnyComponentDefinition, options: { with?: unknown }): Promise<void> {
    if (this.#phase !== 'running' || !slot.running) {
      throw new SwapError(`cannot swap '${slot.name}': ${this.#phase !== 'running' ? `the kernel is ${this.#phase}` : `it is ${slot.state}`}`, slot.name, false);
    }
    const oldDef = slot.definition!;
    const oldInstance = slot.instance;
    const oldSpec = slot.spec;
    const oldGeneration = slot.generation;
    const config = options.with === undefined ? oldSpec.config : options.with;
    this.#log('kernel', 'info', `swapping '${slot.name}': starting the new instance`);

    // 1. The new instance, started beside the old one and gated on health.
    const outcome = await this.#startWithRetries(slot, def, new Operation(), { shadow: { config } });
    if (!outcome.ok) {
      this.#emitComponent(slot, slot.state, { reason: 'swap rolled back: the new instance did not start', error: outcome.error });
      throw new SwapError(`swap of '${slot.name}' rolled back: the new instance did not start: ${describeError(outcome.error)}`, slot.name, true, { cause: outcome.error });
    }

    // 2. Dependents hold the old instance: stop them, switch, restart them against the new one.
    const dependents = this.#withDependents(slot).filter((s) => s !== slot && s.running);
    this.#unwatch(slot);
    await this.#teardown(dependents, 'swap');
    slot.definition = def;
    (slot as { spec: ComponentSpec }).spec = { ...oldSpec, config };
    this.#becomeRunning(slot, outcome);
    const failed = await this.#startGroup(dependents, `swap of '${slot.name}'`);
    if (failed) {
      // 3. Roll back: the old instance never stopped; put it back and restart the dependents against it.
      await this.#teardown(dependents.filter((s) => s.running), 'rollback');
      slot.definition = oldDef;
      slot.instance = oldInstance;
      slot.generation = oldGeneration; // the old instance's ctx.fail() counts again; the discarded new one's does not
      (slot as { spec: ComponentSpec }).spec = oldSpec;
      this.#emitComponent(slot, slot.state, { reason: 'swap rolled back' });
      const newDef = def;
      void this.#stopInstance(slot, newDef, outcome.instance, 'rollback');
      const again = await this.#startGroup(dependents, `swap of '${slot.name}' rolled back`);
      this.#watch(slot);
      this.#updateSystem();
      if (again) this.#log('kernel', 'error', `after the swap rollback, dependents of '${slot.name}' did not restart: '${again.slot.name}': ${describeError(again.error)}`);
      throw new SwapError(`swap of '${slot.name}' rolled back: '${failed.slot.name}' did not restart: ${describeError(failed.error)}`, slot.name, true, { cause: failed.error });
    }
    // 4. Drain and stop the old instance.
    const err = await this.#stopInstance(slot, oldDef, oldInstance, 'swap');
    if (err) this.#log('kernel', 'warn', `the old instance of '${slot.name}' did not stop cleanly: ${err.message}`);
    this.#watch(slot);
    this.#updateSystem();
    this.#log('kernel', 'info', `swapped '${slot.name}'`);
  }

  // ---- events and report -------------------------------------------------------------------------

  #find(name: string): Slot | undefined {
    const i = this.#index.get(name);
    return i === undefined ? undefined : this.#slots[i];
  }

  #slot(name: string): Slot {
    const s = this.#find(name);
    if (!s) throw new KernelError(`no component named '${name}'`);
    return s;
  }

  #finish(exit: KernelExit): void {
    if (this.#exit) return;
    this.#exit = exit;
    this.#resolveDone(exit);
  }

  #emitComponent(slot: Slot, state: ComponentState, extra: { attempt?: number; reason?: string; error?: Error | undefined } = NO_EXTRA): void {
    if (!this.#events.active) return;
    this.#events.emit({
      type: 'component',
      component: slot.name,
      stage: slot.stageIndex,
      state,
      attempt: extra.attempt ?? slot.attempts,
      elapsedMs: this.now(),
      ...(extra.reason ? { reason: extra.reason } : {}),
      ...(extra.error ? { error: eventError(extra.error) } : {}),
    });
  }

  #emitStage(stage: number, state: 'starting' | 'ready' | 'failed', members: Slot[]): void {
    if (!this.#events.active) return;
    this.#events.emit({ type: 'stage', stage, state, components: members.map((s) => s.name), elapsedMs: this.now() });
  }

  #emitSystem(state: SystemEvent['state'], reason?: string): void {
    if (!this.#events.active) return;
    this.#events.emit({ type: 'system', state, elapsedMs: this.now(), ...(reason ? { reason } : {}) });
  }

  #log(component: string, level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void {
    if (!this.#events.active) return;
    this.#events.emit({ type: 'log', component, level, message, elapsedMs: this.now(), ...(data ? { data } : {}) });
  }

  #logger(component: string): Logger {
    return {
      debug: (m, d) => this.#log(component, 'debug', m, d),
      info: (m, d) => this.#log(component, 'info', m, d),
      warn: (m, d) => this.#log(component, 'warn', m, d),
      error: (m, d) => this.#log(component, 'error', m, d),
    };
  }

  #buildReport(failure: BootFailure | null): BootReport {
    const order = this.#order;
    const facts = new BootFacts(order);
    const readyMs = this.now();
    const path = criticalPathOf(facts);
    let own = 0;
    for (const i of path) own += facts.ownMs(i) ?? 0;
    const mem = process.memoryUsage();
    const stages = this.#plan.stages.map((names, index) => {
      // Counts and plain numbers rather than number | null, which would box every value.
      let starts = 0;
      let readies = 0;
      let startMin = 0;
      let readyMax = 0;
      const members = this.#stages[index]!;
      for (let k = 0; k < members.length; k++) {
        const s = members[k]!;
        if (s.startAt !== null) startMin = starts++ === 0 ? s.startAt : Math.min(startMin, s.startAt);
        if (s.readyAt !== null) readyMax = readies++ === 0 ? s.readyAt : Math.max(readyMax, s.readyAt);
      }
      return {
        index,
        components: [...names],
        startMs: starts ? round(startMin) : null,
        readyMs: readies === names.length ? round(readyMax) : null,
      };
    });
    const late: BootReport['late'] = [];
    for (let k = 0; k < order.length; k++) {
      const s = order[k]!;
      const targets = s.spec.late;
      for (let t = 0; t < targets.length; t++) late.push({ from: s.name, to: targets[t]!, boundMs: round(this.#find(targets[t]!)!.firstReadyAt) });
    }
    let components: ComponentReport[] | undefined;
    return {
      isolation: this.isolation(),
      ok: failure === null,
      system: failure ? 'failed' : order.some((s) => s.selected && s.state !== 'ready') ? 'degraded' : 'ready',
      readyMs: round(readyMs)!,
      processMs: round(this.#origin)!,
      stages,
      // The per-component entries (an object and three lists each) are made when first read, from
      // what the boot left in `facts`; until then the report costs a few arrays, not 10,000 objects.
      // Read, written, spread or serialized, it behaves as a plain property.
      get components(): ComponentReport[] {
        return (components ??= facts.reports());
      },
      set components(value: ComponentReport[]) {
        Object.defineProperty(this, 'components', { value, writable: true, enumerable: true, configurable: true });
      },
      criticalPath: path.map((i) => order[i]!.name),
      late,
      failure,
      until: this.#options.until ?? null,
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      loadMs: round(this.#loadMs)!,
      kernelOverheadMs: round(Math.max(0, readyMs - this.#bootStart - own))!,
    };
  }
}

function isolationEntries(instance: unknown): Pick<ComponentReport, 'isolation' | 'isolationParts'> {
  const iso = isolationOf(instance);
  return iso.parts ? { isolation: iso.level, isolationParts: iso.parts } : { isolation: iso.level };
}

/** Milliseconds as the report gives them: to the microsecond. */
function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 1000) / 1000;
}

/**
 * What a report says of each component, recorded when the boot ends (the slots change after it)
 * in flat arrays. The ComponentReport objects are made from it on demand.
 */
class BootFacts implements PathFacts {
  readonly count: number;
  readonly stage: Int32Array;
  readonly ready: Float64Array;
  readonly eligible: Uint8Array;
  readonly slots: readonly Slot[];
  readonly state: ComponentState[];
  readonly attempts: Int32Array;
  /** queuedAt, startAt, readyAt of component i at [3i], [3i + 1], [3i + 2]; null where `known` says so. */
  readonly times: Float64Array;
  /** Bit 1: queuedAt, 2: startAt, 4: readyAt is not null. */
  readonly known: Uint8Array;
  readonly healthStatus: (HealthStatus | undefined)[];
  readonly healthDetail: unknown[];
  /** The parts (ctx.part) as the report gives them, for the few components that have any. */
  readonly parts: (ComponentReport['parts'] | undefined)[];
  readonly error: (string | null)[];

  constructor(slots: readonly Slot[]) {
    const n = slots.length;
    this.count = n;
    this.slots = slots;
    this.stage = new Int32Array(n);
    this.ready = new Float64Array(n);
    this.eligible = new Uint8Array(n);
    this.state = new Array(n);
    this.attempts = new Int32Array(n);
    this.times = new Float64Array(3 * n);
    this.known = new Uint8Array(n);
    this.healthStatus = new Array(n);
    this.healthDetail = new Array(n);
    this.parts = new Array(n);
    this.error = new Array(n);
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      this.stage[i] = s.stageIndex;
      this.state[i] = s.state;
      this.attempts[i] = s.attempts;
      let known = 0;
      if (s.queuedAt !== null) ((known |= 1), (this.times[3 * i] = s.queuedAt));
      if (s.startAt !== null) ((known |= 2), (this.times[3 * i + 1] = s.startAt));
      if (s.readyAt !== null) {
        known |= 4;
        this.times[3 * i + 2] = s.readyAt;
        this.ready[i] = Math.round(s.readyAt * 1000) / 1000;
        if (onPathState(s.state)) this.eligible[i] = 1;
      }
      this.known[i] = known;
      this.healthStatus[i] = s.healthStatus;
      this.healthDetail[i] = s.healthDetail;
      if (s.parts) this.parts[i] = s.parts.map((p) => ({ name: p.name, startMs: round(p.startMs)!, readyMs: round(p.readyMs) }));
      this.error[i] = s.error ? describeError(s.error) : null;
    }
  }

  time(i: number, which: 0 | 1 | 2): number | null {
    return this.known[i]! & (1 << which) ? this.times[3 * i + which]! : null;
  }
  name(i: number): string {
    return this.slots[i]!.name;
  }
  dependsOn(i: number, name: string): boolean {
    const spec = this.slots[i]!.spec;
    return spec.needs.includes(name) || spec.wants.includes(name);
  }
  /** readyMs - startMs, rounded. */
  ownMs(i: number): number | null {
    const start = this.time(i, 1);
    const ready = this.time(i, 2);
    return start !== null && ready !== null ? round(ready - start) : null;
  }

  reports(): ComponentReport[] {
    const out: ComponentReport[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[i]!;
      const spec = s.spec;
      const queued = this.time(i, 0);
      const start = this.time(i, 1);
      const status = this.healthStatus[i];
      const parts = this.parts[i];
      out[i] = {
        name: s.name,
        stage: s.stageIndex,
        mode: spec.command ? 'command' : spec.mode,
        state: this.state[i]!,
        optional: spec.optional,
        attempts: this.attempts[i]!,
        queuedMs: round(queued),
        startMs: round(start),
        readyMs: round(this.time(i, 2)),
        ownMs: this.ownMs(i),
        waitMs: start !== null && queued !== null ? round(start - queued) : null,
        needs: [...spec.needs],
        wants: [...spec.wants],
        late: [...spec.late],
        health: status === undefined ? null : { status, detail: this.healthDetail[i] },
        ...isolationEntries(s.running ? s.instance : undefined),
        ...(parts ? { parts } : {}),
        error: this.error[i]!,
      };
    }
    return out;
  }
}

const NO_LOGGER: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function eventError(err: Error): EventError {
  return { name: err.name, message: err.message };
}

function detailText(detail: unknown): string {
  if (detail === undefined) return 'unhealthy';
  return typeof detail === 'string' ? detail : JSON.stringify(detail);
}

/** Creates a kernel from the config shape (CONTRACT section 4). */
export function createKernel<Instances extends Record<string, unknown> = Record<string, unknown>>(options: KernelOptions): Kernel<Instances> {
  return new Kernel<Instances>(options);
}

export type { ComponentOptions };

// One instance of each class on the boot and stop paths, made as real ones are (see util/shapes.ts).
{
  const kernel = new Kernel({ components: {} });
  const slot = new Slot(0, 'specimen', normalizeSpec('specimen', { use: { start: () => undefined } }));
  const op = new Operation();
  const stage = new StageRun(0.5, op, { settled: () => true, done: () => {} }, 1, () => {});
  const attempt = new Attempt(slot, 1, 0.5, op);
  const internals: KernelInternals = { baseDir: '', now: () => 0.5, slot: () => slot, logger: () => NO_LOGGER, reportFailure: () => {} };
  anchorShapes(
    kernel,
    slot,
    op,
    stage,
    attempt,
    new StartContext(undefined, attempt, internals, 1, undefined),
    new KernelStopContext('specimen', 'shutdown', { signal: () => new AbortController().signal }, 0, internals),
    new BootFacts([slot]),
  );
}
