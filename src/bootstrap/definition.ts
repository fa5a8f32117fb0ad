import type { Duration } from '../util/duration.js';
import type { StrategyName } from './strategies.js';

export type ComponentState = 'pending' | 'starting' | 'ready' | 'degraded' | 'failed' | 'stopping' | 'stopped' | 'skipped';
/** Where a component runs: the one list (the spec, the config schema and the report take it from here). */
export const EXECUTION_MODES = Object.freeze(['in-process', 'worker', 'process'] as const);
export type ExecutionMode = (typeof EXECUTION_MODES)[number];
/** 'in-process, worker or process': the modes as an error message lists them. */
export const modeList = (): string => `${EXECUTION_MODES.slice(0, -1).join(', ')} or ${EXECUTION_MODES.at(-1)}`;
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';
/** What a health probe returns: `true`/`false`, or a status with a detail for the report. */
export type HealthResult = boolean | { status: HealthStatus; detail?: unknown };

export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

/** A stable reference to a component: `current` is whatever instance is running now (it changes on swap and restart). */
export interface Handle<T> {
  readonly name: string;
  /** The running instance; throws a KernelError while the component is not ready. */
  readonly current: T;
  readonly ready: boolean;
}

/** A deferred reference to a component that starts later: the only legal way to close a cycle. */
export interface LateHandle<T> {
  readonly name: string;
  /** The target's instance; throws LateBindingError (naming target, stage and user) until it is ready. */
  get(): T;
  /** Resolves with the instance when the target is ready; rejects if it fails or is not part of this boot. */
  readonly ready: Promise<T>;
  readonly bound: boolean;
}

/** What `start` receives. `deps.x` is x's instance itself: using it costs what a direct call costs. */
export interface ComponentContext<Deps = Record<string, any>, Late = Record<string, any>, Config = any> {
  readonly name: string;
  readonly deps: Readonly<Deps>;
  /** Stable references to the same dependencies; they follow swaps and restarts. */
  readonly handles: { readonly [K in keyof Deps]: Handle<Deps[K]> };
  readonly late: { readonly [K in keyof Late]: LateHandle<Late[K]> };
  /** The component's `with:` settings. */
  readonly config: Config;
  /** The folder relative paths in `config` are relative to: the config file's, or the kernel's `baseDir`. */
  readonly baseDir: string;
  /** Aborts when the start deadline passes or the boot is abandoned; pass it to nested work. */
  readonly signal: AbortSignal;
  /** `performance.now()` value at which this start attempt's deadline passes. */
  readonly deadline: number;
  /** Milliseconds left before the deadline: the budget to hand to nested work. */
  remainingMs(): number;
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number;
  readonly log: Logger;
  /** Tells the supervisor this component has failed at run time (it is restarted per its `restart` policy). */
  fail(error: unknown): void;
  /**
   * Tells the supervisor this component has ended normally: a transient or temporary one is
   * stopped and stays down (with what needs it), a permanent one is restarted. Optional for
   * contexts made outside the kernel (peers in another process).
   */
  exit?(reason?: string): void;
  /**
   * Marks the start of a named part of this start (e.g. one of several things started
   * concurrently); call the function it returns when the part is done. Parts appear in the boot
   * report under the component, with their times.
   */
  part(name: string): () => void;
}

export interface StopContext {
  readonly name: string;
  /** Aborts when the stop deadline passes. */
  readonly signal: AbortSignal;
  /** Why it stops: the system stops, a failed boot rolls back, a supervisor restart, or a swap drains it. */
  readonly reason: 'shutdown' | 'rollback' | 'restart' | 'swap' | 'abandoned';
  readonly log: Logger;
}

/** A component: what `use:` points at. Only `start` is required. */
export interface ComponentDefinition<Instance = unknown, Deps = any, Late = any, Config = any> {
  start(ctx: ComponentContext<Deps, Late, Config>): Instance | Promise<Instance>;
  health?(instance: Instance): HealthResult | Promise<HealthResult>;
  stop?(instance: Instance, ctx: StopContext): unknown;
}

/** Any component definition, whatever its types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyComponentDefinition = ComponentDefinition<any, any, any, any>;

/** Adds types to a component definition; at run time it returns the object as it is. */
export function defineComponent<Instance, Deps = {}, Late = {}, Config = any>(
  definition: ComponentDefinition<Instance, Deps, Late, Config>,
): ComponentDefinition<Instance, Deps, Late, Config> {
  return definition;
}

/** True when `value` has the members of a component definition. */
export function isComponentDefinition(value: unknown): value is AnyComponentDefinition {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.start === 'function' &&
    (v.health === undefined || typeof v.health === 'function') &&
    (v.stop === undefined || typeof v.stop === 'function')
  );
}

/** Which components a restart takes (strategies.ts); `never` is the old spelling of restart type temporary. */
export type RestartStrategy = StrategyName | 'never';
/** As in OTP: permanent is always restarted, transient only after a failure (not after ctx.exit()), temporary never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';
/** As OTP's shutdown: a stop deadline, brutal_kill (told at once, not waited for) or infinity (no deadline). */
export type Shutdown = Duration | 'brutal_kill' | 'infinity';

/** One component as configured: the same shape as a config file entry, with `use` allowed to be a definition. */
export interface ComponentOptions {
  use?: string | AnyComponentDefinition;
  command?: readonly string[];
  needs?: readonly string[];
  wants?: readonly string[];
  late?: readonly string[];
  mode?: ExecutionMode;
  optional?: boolean;
  /** Start deadline (default 10s). */
  timeout?: Duration;
  /** Shutdown: the stop deadline (default 5s), `brutal_kill` or `infinity`. */
  stopTimeout?: Shutdown;
  /** Start attempts after the first (default 0). */
  retries?: number;
  backoff?: { initial?: Duration; max?: Duration };
  health?: { timeout?: Duration; interval?: Duration; threshold?: number };
  restart?: { strategy?: RestartStrategy; type?: RestartType; max?: number; within?: Duration };
  /** Explicit stage: an index, or a label from the kernel's `stages` list. */
  stage?: number | string;
  with?: unknown;
}

/** Resolves a string `use:` (module path, package, `builtin:NAME`) to a definition. Supplied by the layer that reads config. */
export type DefinitionLoader = (use: string, component: string) => Promise<AnyComponentDefinition>;

/**
 * Runs a definition in another execution mode (`worker`, `process`) or a `command:` peer. Supplied by
 * the layers built on the kernel (the bus provides them); the kernel core only knows in-process.
 */
export type ModeAdapter = (component: string, options: ComponentOptions, definition: AnyComponentDefinition | undefined) => AnyComponentDefinition | Promise<AnyComponentDefinition>;

export interface KernelOptions {
  components: Record<string, ComponentOptions>;
  /** Order of stage labels that components may name in `stage:`. */
  stages?: readonly string[];
  loader?: DefinitionLoader;
  /** Adapters per execution mode; `command` is used for `command:` components. */
  modes?: Partial<Record<Exclude<ExecutionMode, 'in-process'> | 'command', ModeAdapter>>;
  /** Boot only this component and what it needs (transitively). */
  until?: string;
  /** Source of randomness for backoff jitter (seed it for reproducible runs). */
  random?: () => number;
  /** Time origin for report times (default: when the kernel is created). */
  origin?: number;
  /** What relative paths in components' settings are relative to (`ctx.baseDir`); default the working directory. */
  baseDir?: string;
}
