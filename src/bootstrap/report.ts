import type { ComponentState, ExecutionMode } from './definition.js';

/** The boot report (CONTRACT section 3). Times are milliseconds since the kernel was created. */
export interface BootReport {
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
  const ready = components.filter((c) => c.readyMs !== null && (c.state === 'ready' || c.state === 'degraded' || c.state === 'stopped' || c.state === 'failed'));
  if (!ready.length) return [];
  const byStage = new Map<number, ComponentReport[]>();
  for (const c of ready) {
    if (!byStage.has(c.stage)) byStage.set(c.stage, []);
    byStage.get(c.stage)!.push(c);
  }
  let last = ready.reduce((a, b) => (b.readyMs! > a.readyMs! ? b : a));
  const path = [last.name];
  for (;;) {
    const earlier = [...byStage.keys()].filter((s) => s < last.stage);
    if (!earlier.length) break;
    const prev = byStage.get(Math.max(...earlier))!;
    const deps = new Set([...last.needs, ...last.wants]);
    let gate = prev[0]!;
    for (const c of prev) {
      if (c.readyMs! > gate.readyMs! || (c.readyMs === gate.readyMs && deps.has(c.name) && !deps.has(gate.name))) gate = c;
    }
    path.unshift(gate.name);
    last = gate;
  }
  return path;
}
