import type { ComponentState, ExecutionMode } from './definition.js';

/** How code runs: confined by the OS sandbox, isolated without it (weaker), or trusted in the kernel's process. */
export type IsolationLevel = 'sandboxed' | 'degraded' | 'none';

/**
 * The key under which a component's instance says how it is isolated: a function returning a
 * level, or `{ level, parts }` (parts: the level of each thing it runs, e.g. an Orchestra's
 * extensions). Read generically, so the kernel knows nothing of sandboxes.
 */
export const ISOLATION: unique symbol = Symbol.for('symphony.isolation') as never;

export interface IsolationFacts {
  level: IsolationLevel;
  parts?: Record<string, IsolationLevel>;
}

/** The facts of an instance that says only its level: one frozen object per level, not one per instance. */
const LEVEL: Readonly<Record<IsolationLevel, IsolationFacts>> = Object.freeze({
  sandboxed: Object.freeze({ level: 'sandboxed' }),
  degraded: Object.freeze({ level: 'degraded' }),
  none: Object.freeze({ level: 'none' }),
});

/** What an instance says of its isolation (`none` when it says nothing: it runs in the kernel). */
export function isolationOf(instance: unknown): IsolationFacts {
  if (instance === null || (typeof instance !== 'object' && typeof instance !== 'function')) return LEVEL.none;
  let said: unknown;
  try {
    const f = (instance as Record<symbol, unknown>)[ISOLATION];
    said = typeof f === 'function' ? (f as () => unknown).call(instance) : f;
  } catch {
    return LEVEL.none;
  }
  if (said === 'sandboxed' || said === 'degraded' || said === 'none') return LEVEL[said];
  const facts = said as IsolationFacts | undefined;
  if (facts && (facts.level === 'sandboxed' || facts.level === 'degraded' || facts.level === 'none')) return facts;
  return LEVEL.none;
}

/** The system's level: degraded if any isolated code is not confined, sandboxed if some is and all is, else none. */
export function overallIsolation(levels: Iterable<IsolationLevel>): IsolationLevel {
  let out: IsolationLevel = 'none';
  for (const l of levels) if ((out = joinIsolation(out, l)) === 'degraded') return out;
  return out;
}

/** Two levels as one: degraded wins, then sandboxed. */
export function joinIsolation(a: IsolationLevel, b: IsolationLevel): IsolationLevel {
  return a === 'degraded' || b === 'degraded' ? 'degraded' : a === 'sandboxed' || b === 'sandboxed' ? 'sandboxed' : 'none';
}

/** The boot report (docs/components.md). Times are milliseconds since the kernel was created. */
export interface BootReport {
  /** `sandboxed` when every isolated process is confined by the OS, `degraded` when any is not, `none` when no isolated code runs. */
  isolation: IsolationLevel;
  ok: boolean;
  system: 'ready' | 'degraded' | 'failed';
  /** From the kernel's creation to the end of the boot (ready, degraded, or failed after rollback). */
  readyMs: number;
  /** From process start to the kernel's creation: `processMs + readyMs` is the wall time to ready. */
  processMs: number;
  stages: { index: number; components: string[]; startMs: number | null; readyMs: number | null }[];
  components: ComponentReport[];
  /** The chain of components that decided the ready time, first to last (like `systemd-analyze critical-chain`). */
  criticalPath: string[];
  late: { from: string; to: string; boundMs: number | null }[];
  failure: BootFailure | null;
  /** Components left out by `--until`. */
  until: string | null;
  memory: { rssBytes: number; heapUsedBytes: number };
  /** Time spent importing component modules before the first stage (not counted in any component's own time). */
  loadMs: number;
  /** The kernel's own time: readyMs less the time components spent in their own starts on the critical path. */
  kernelOverheadMs: number;
  /** Filled by layers above the kernel (e.g. the health endpoint's address). */
  [extra: string]: unknown;
}

export interface ComponentReport {
  name: string;
  stage: number;
  mode: ExecutionMode | 'command';
  state: ComponentState;
  optional: boolean;
  attempts: number;
  queuedMs: number | null;
  startMs: number | null;
  readyMs: number | null;
  /** readyMs - startMs: the component's own time, retries included. */
  ownMs: number | null;
  /** startMs - queuedMs: time spent waiting on earlier stages. */
  waitMs: number | null;
  needs: string[];
  wants: string[];
  late: string[];
  health: unknown;
  /** How it runs: `sandboxed`, `degraded` (isolated without the OS sandbox) or `none` (in the kernel's process). */
  isolation: IsolationLevel;
  /** The isolation of each thing it runs (an Orchestra's extensions), when it runs several. */
  isolationParts?: Record<string, IsolationLevel>;
  /** Named parts of its start (ctx.part), e.g. the Pit's five extensions, each with its times. */
  parts?: { name: string; startMs: number; readyMs: number | null }[];
  error: string | null;
}

export interface BootFailure {
  component: string;
  phase: 'start' | 'health' | 'timeout' | 'signal' | 'aborted' | 'dependency';
  message: string;
}

/**
 * The critical chain under stage gating: start from the component that became ready last, then
 * repeatedly step to the component whose readiness opened its stage (the slowest of the stage
 * before). Prefers a real dependency when two are equally late.
 */
export function criticalPath(components: readonly ComponentReport[]): string[] {
  const n = components.length;
  const stage = new Float64Array(n);
  const ready = new Float64Array(n);
  const eligible = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = components[i]!;
    stage[i] = c.stage;
    if (c.readyMs !== null && onPathState(c.state)) {
      ready[i] = c.readyMs;
      eligible[i] = 1;
    }
  }
  const path = criticalPathOf({
    count: n,
    stage,
    ready,
    eligible,
    name: (i) => components[i]!.name,
    dependsOn: (i, name) => components[i]!.needs.includes(name) || components[i]!.wants.includes(name),
  });
  return path.map((i) => components[i]!.name);
}

/** Whether a component in this state, once ready, can be on the critical path. */
export function onPathState(state: ComponentState): boolean {
  return state === 'ready' || state === 'degraded' || state === 'stopped' || state === 'failed';
}

/** What the critical path reads of the components (of a report, or of the kernel's record of a boot), by number. */
export interface PathFacts {
  readonly count: number;
  readonly stage: ArrayLike<number>;
  /** readyMs as the report gives it (rounded); read only where `eligible` is 1. */
  readonly ready: ArrayLike<number>;
  /** 1 where the component has a readyMs and a state that can be on the path (onPathState). */
  readonly eligible: ArrayLike<number>;
  name(i: number): string;
  /** Whether component i needs or wants `name`. */
  dependsOn(i: number, name: string): boolean;
}

/** criticalPath over component numbers: the path as numbers, first to last. */
export function criticalPathOf(f: PathFacts): number[] {
  const { count, stage, ready, eligible } = f;
  const byStage = new Map<number, number[]>();
  let last = -1;
  for (let i = 0; i < count; i++) {
    if (eligible[i] !== 1) continue;
    const members = byStage.get(stage[i]!);
    if (members) members.push(i);
    else byStage.set(stage[i]!, [i]);
    if (last < 0 || ready[i]! > ready[last]!) last = i;
  }
  if (last < 0) return [];
  const stages = [...byStage.keys()].sort((a, b) => a - b);
  const path = [last];
  // Each step goes to the nearest earlier stage that has ready components.
  for (let at = stages.indexOf(stage[last]!); at > 0; at--) {
    const prev = byStage.get(stages[at - 1]!)!;
    let gate = prev[0]!;
    for (let k = 1; k < prev.length; k++) {
      const c = prev[k]!;
      if (ready[c]! > ready[gate]! || (ready[c] === ready[gate] && f.dependsOn(last, f.name(c)) && !f.dependsOn(last, f.name(gate)))) gate = c;
    }
    path.push(gate);
    last = gate;
  }
  return path.reverse();
}
