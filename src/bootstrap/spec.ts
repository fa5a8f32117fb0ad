import { DEFAULT_BACKOFF, type BackoffPolicy } from '../util/backoff.js';
import { toMs } from '../util/duration.js';
import type { AnyComponentDefinition, ComponentOptions, ExecutionMode, RestartStrategy } from './definition.js';
import type { GraphNode } from './graph.js';

/** Defaults (CONTRACT section 2). */
export const DEFAULTS = {
  timeoutMs: 10_000,
  stopTimeoutMs: 5_000,
  retries: 0,
  health: { timeoutMs: 1_000, intervalMs: 5_000, threshold: 3 },
  restart: { strategy: 'never' as RestartStrategy, max: 3, withinMs: 30_000 },
};

/** A component's options with every default applied and every duration in milliseconds. */
export interface ComponentSpec extends GraphNode {
  readonly use: string | AnyComponentDefinition | undefined;
  readonly command: readonly string[] | undefined;
  readonly mode: ExecutionMode;
  readonly optional: boolean;
  readonly timeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly retries: number;
  readonly backoff: BackoffPolicy;
  readonly health: { timeoutMs: number; intervalMs: number; threshold: number };
  readonly restart: { strategy: RestartStrategy; max: number; withinMs: number };
  readonly config: unknown;
  readonly options: ComponentOptions;
}

const KNOWN = new Set(['use', 'command', 'needs', 'wants', 'late', 'mode', 'optional', 'timeout', 'stopTimeout', 'retries', 'backoff', 'health', 'restart', 'stage', 'with']);

/** Applies defaults; throws a TypeError naming the component and the field for anything malformed. */
export function normalizeSpec(name: string, o: ComponentOptions): ComponentSpec {
  const where = (field: string) => `component '${name}': ${field}`;
  if (o === null || typeof o !== 'object') throw new TypeError(`${where('options')} must be an object`);
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) throw new TypeError(`${where(key)} is not a component option (known: ${[...KNOWN].join(', ')})`);
  if (o.use === undefined && o.command === undefined) throw new TypeError(`${where('use')} is missing: give a definition, a module path, or a command`);
  const list = (field: 'needs' | 'wants' | 'late'): string[] => {
    const v = o[field];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new TypeError(`${where(field)} must be a list of component names`);
    return [...v];
  };
  const count = (v: unknown, field: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new TypeError(`${where(field)} must be a whole number >= 0`);
    return v;
  };
  const ms = (v: unknown, field: string, dflt: number) => (v === undefined ? dflt : toMs(v as string, where(field)));
  const strategy = o.restart?.strategy ?? DEFAULTS.restart.strategy;
  if (!['one_for_one', 'rest_for_one', 'never'].includes(strategy)) throw new TypeError(`${where('restart.strategy')} must be one_for_one, rest_for_one or never`);
  const mode = o.mode ?? 'in-process';
  if (!['in-process', 'worker', 'process'].includes(mode)) throw new TypeError(`${where('mode')} must be in-process, worker or process`);
  const threshold = count(o.health?.threshold, 'health.threshold', DEFAULTS.health.threshold);
  return {
    name,
    needs: list('needs'),
    wants: list('wants'),
    late: list('late'),
    stage: o.stage,
    use: o.use,
    command: o.command,
    mode,
    optional: o.optional === true,
    timeoutMs: ms(o.timeout, 'timeout', DEFAULTS.timeoutMs),
    stopTimeoutMs: ms(o.stopTimeout, 'stopTimeout', DEFAULTS.stopTimeoutMs),
    retries: count(o.retries, 'retries', DEFAULTS.retries),
    backoff: {
      initialMs: ms(o.backoff?.initial, 'backoff.initial', DEFAULT_BACKOFF.initialMs),
      maxMs: ms(o.backoff?.max, 'backoff.max', DEFAULT_BACKOFF.maxMs),
    },
    health: {
      timeoutMs: ms(o.health?.timeout, 'health.timeout', DEFAULTS.health.timeoutMs),
      intervalMs: ms(o.health?.interval, 'health.interval', DEFAULTS.health.intervalMs),
      threshold: Math.max(1, threshold),
    },
    restart: {
      strategy,
      max: count(o.restart?.max, 'restart.max', DEFAULTS.restart.max),
      withinMs: ms(o.restart?.within, 'restart.within', DEFAULTS.restart.withinMs),
    },
    config: o.with,
    options: o,
  };
}
