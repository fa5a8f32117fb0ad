import { DEFAULT_BACKOFF, type BackoffPolicy } from '../util/backoff.js';
import { toMs } from '../util/duration.js';
import { EXECUTION_MODES, modeList, type AnyComponentDefinition, type ComponentOptions, type ExecutionMode, type RestartType } from './definition.js';
import { isStrategy, STRATEGY_NAMES, type StrategyName } from './strategies.js';
import type { GraphNode } from './graph.js';

/** Defaults (docs/configuration.md). */
export const DEFAULTS = {
  timeoutMs: 10_000,
  stopTimeoutMs: 5_000,
  retries: 0,
  health: { timeoutMs: 1_000, intervalMs: 5_000, threshold: 3 },
  restart: { strategy: 'one_for_one' as StrategyName, type: 'temporary' as RestartType, max: 3, withinMs: 30_000 },
};

export const RESTART_TYPES: readonly RestartType[] = Object.freeze(['permanent', 'transient', 'temporary']);
/** The words `stopTimeout` takes besides a duration. */
export const SHUTDOWN_KINDS = Object.freeze(['brutal_kill', 'infinity'] as const);
export type ShutdownKind = 'timeout' | (typeof SHUTDOWN_KINDS)[number];

/** A component's options with every default applied and every duration in milliseconds. */
export interface ComponentSpec extends GraphNode {
  readonly use: string | AnyComponentDefinition | undefined;
  readonly command: readonly string[] | undefined;
  readonly mode: ExecutionMode;
  readonly optional: boolean;
  readonly timeoutMs: number;
  /** The stop deadline (Infinity for `infinity`, 0 for `brutal_kill`). */
  readonly stopTimeoutMs: number;
  readonly shutdown: ShutdownKind;
  readonly retries: number;
  readonly backoff: BackoffPolicy;
  readonly health: { timeoutMs: number; intervalMs: number; threshold: number };
  readonly restart: { strategy: StrategyName; type: RestartType; max: number; withinMs: number };
  readonly config: unknown;
  readonly options: ComponentOptions;
}

const KNOWN = new Set(['use', 'command', 'needs', 'wants', 'late', 'mode', 'optional', 'timeout', 'stopTimeout', 'retries', 'backoff', 'health', 'restart', 'stage', 'with']);

/*
 * Most components set none of backoff, health and restart: their specs share these frozen
 * defaults instead of carrying three equal objects each (a 10,000-component graph made 30,000).
 */
const NO_NAMES: readonly string[] = Object.freeze([]);
const DEFAULT_BACKOFF_SPEC: BackoffPolicy = Object.freeze({ initialMs: DEFAULT_BACKOFF.initialMs, maxMs: DEFAULT_BACKOFF.maxMs });
const DEFAULT_HEALTH_SPEC: ComponentSpec['health'] = Object.freeze({ ...DEFAULTS.health, threshold: Math.max(1, DEFAULTS.health.threshold) });
const DEFAULT_RESTART_SPEC: ComponentSpec['restart'] = Object.freeze({ ...DEFAULTS.restart });

/** Applies defaults; throws a TypeError naming the component and the field for anything malformed. */
export function normalizeSpec(name: string, o: ComponentOptions): ComponentSpec {
  if (o === null || typeof o !== 'object') throw new TypeError(`${where(name, 'options')} must be an object`);
  // for...in, not Object.keys: no array per component (inherited keys were never checked, and are not).
  for (const key in o) if (!KNOWN.has(key) && Object.hasOwn(o, key)) throw new TypeError(`${where(name, key)} is not a component option (known: ${[...KNOWN].join(', ')})`);
  if (o.use === undefined && o.command === undefined) throw new TypeError(`${where(name, 'use')} is missing: give a definition, a module path, or a command`);
  const restartSpec = o.restart == null ? DEFAULT_RESTART_SPEC : restartOf(name, o.restart);
  const mode = o.mode ?? 'in-process';
  if (!EXECUTION_MODES.includes(mode)) throw new TypeError(`${where(name, 'mode')} must be ${modeList()}`);
  const health = o.health;
  // Validation order as before the defaults were shared: health.threshold is checked first.
  const threshold = count(name, health?.threshold, 'health.threshold', DEFAULTS.health.threshold);
  return {
    name,
    needs: names(name, o.needs, 'needs'),
    wants: names(name, o.wants, 'wants'),
    late: names(name, o.late, 'late'),
    stage: o.stage,
    use: o.use,
    command: o.command,
    mode,
    optional: o.optional === true,
    timeoutMs: ms(name, o.timeout, 'timeout', DEFAULTS.timeoutMs),
    stopTimeoutMs: o.stopTimeout === 'infinity' ? Infinity : o.stopTimeout === 'brutal_kill' ? 0 : ms(name, o.stopTimeout, 'stopTimeout', DEFAULTS.stopTimeoutMs),
    shutdown: o.stopTimeout === 'infinity' || o.stopTimeout === 'brutal_kill' ? o.stopTimeout : 'timeout',
    retries: count(name, o.retries, 'retries', DEFAULTS.retries),
    backoff:
      o.backoff == null
        ? DEFAULT_BACKOFF_SPEC
        : {
            initialMs: ms(name, o.backoff.initial, 'backoff.initial', DEFAULT_BACKOFF.initialMs),
            maxMs: ms(name, o.backoff.max, 'backoff.max', DEFAULT_BACKOFF.maxMs),
          },
    health:
      health == null
        ? DEFAULT_HEALTH_SPEC
        : {
            timeoutMs: ms(name, health.timeout, 'health.timeout', DEFAULTS.health.timeoutMs),
            intervalMs: ms(name, health.interval, 'health.interval', DEFAULTS.health.intervalMs),
            threshold: Math.max(1, threshold),
          },
    restart: restartSpec,
    config: o.with,
    options: o,
  };
}

/** `restart:` with its defaults: a strategy alone is permanent; `never` is one_for_one and temporary. */
function restartOf(name: string, r: NonNullable<ComponentOptions['restart']>): ComponentSpec['restart'] {
  if (r === null || typeof r !== 'object') throw new TypeError(`${where(name, 'restart')} must be a table { strategy, type, max, within }`);
  const given = r.strategy;
  if (given !== undefined && given !== 'never' && !isStrategy(given)) throw new TypeError(`${where(name, 'restart.strategy')} must be ${[...STRATEGY_NAMES, 'never'].join(', ')}`);
  if (r.type !== undefined && !RESTART_TYPES.includes(r.type)) throw new TypeError(`${where(name, 'restart.type')} must be ${RESTART_TYPES.join(', ')}`);
  if (given === 'never' && r.type !== undefined && r.type !== 'temporary') throw new TypeError(`${where(name, 'restart')}: strategy never means type temporary, but type is ${r.type} (give a strategy such as one_for_one)`);
  return {
    strategy: given === undefined || given === 'never' ? DEFAULTS.restart.strategy : given,
    type: r.type ?? (given === undefined || given === 'never' ? 'temporary' : 'permanent'),
    max: count(name, r.max, 'restart.max', DEFAULTS.restart.max),
    withinMs: ms(name, r.within, 'restart.within', DEFAULTS.restart.withinMs),
  };
}

function where(name: string, field: string): string {
  return `component '${name}': ${field}`;
}

/** A copy of a list of names (the caller may change theirs later); absent and empty lists share one frozen empty list. */
function names(name: string, v: readonly string[] | undefined, field: 'needs' | 'wants' | 'late'): readonly string[] {
  if (v === undefined) return NO_NAMES;
  if (!Array.isArray(v)) throw new TypeError(`${where(name, field)} must be a list of component names`);
  const n = v.length;
  if (n === 0) return NO_NAMES;
  // Checked and copied in one indexed pass (a spread walks the iterator protocol, and cold: run
  // once per component at boot, it cost more than the rest of the spec).
  const copy: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'string') throw new TypeError(`${where(name, field)} must be a list of component names`);
    copy[i] = x;
  }
  return copy;
}

function count(name: string, v: unknown, field: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new TypeError(`${where(name, field)} must be a whole number >= 0`);
  return v;
}

function ms(name: string, v: unknown, field: string, dflt: number): number {
  return v === undefined ? dflt : toMs(v as string, where(name, field));
}
