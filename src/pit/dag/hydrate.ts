/**
 * A run rebuilt from its rows (after a restart, or a finished run reloaded after it left memory).
 * Settled nodes tell their dependents (counters only: the skips they caused were committed with
 * them). With `resume`, running nodes go back to ready (the interrupted attempt stays counted, it
 * is not a failure) and retry timers are re-armed.
 */
import { buildRun, isTerminal, type NodeRec, type Run } from './graph.js';
import type { RunProgress } from './progress.js';
import type { NodeRow, RunRow } from './store.js';
import type { Outcome } from './types.js';
import { validateWorkflow } from './validate.js';

export function hydrate(p: RunProgress, row: RunRow, rows: NodeRow[], resume: boolean, stats: { interrupted: number }): Run {
  const run = buildRun(validateWorkflow('dag.restore', row.workflow), row.id, row.created);
  run.state = row.state;
  run.reason = row.reason;
  run.updatedAt = row.updated;
  run.persisted = true;
  for (const r of rows) {
    const n = run.nodes.get(r.id);
    if (n) restoreNode(run, n, r);
  }
  for (const n of run.list) {
    if (n.delegate) n.delegate.standby = false;
    // A standby that settled (skipped) no longer stands by.
    if (isTerminal(n.state)) n.standby = false;
  }
  const outcome = (n: NodeRec, depth = 0): Outcome | undefined => {
    if (n.state === 'failed' && n.delegate) return depth > run.list.length ? undefined : outcome(n.delegate, depth + 1);
    return isTerminal(n.state) ? (n.state as Outcome) : undefined;
  };
  for (const n of run.list) n.resolved = outcome(n);
  for (const n of run.list) {
    if (n.resolved === undefined) continue;
    for (const d of n.hardDependents) if (n.resolved === 'succeeded') d.waitHard--;
    for (const d of n.softDependents) d.waitSoft--;
  }
  run.open = 0;
  for (const n of run.list) {
    if (!isTerminal(n.state)) run.open++;
    if (n.state === 'ready') run.ready.push(n.id);
  }
  if (resume && run.state === 'running') resumeRun(p, run, stats);
  return run;
}

function restoreNode(run: Run, n: NodeRec, r: NodeRow): void {
  n.state = r.state;
  n.reason = r.reason;
  n.attempts = r.attempts;
  n.failures = r.failures;
  n.error = r.error ?? undefined;
  n.outputJson = r.output;
  n.output = r.output === null ? undefined : (JSON.parse(r.output) as unknown);
  n.readyAt = r.readyAt ?? undefined;
  n.updated = r.updated;
  // The run row changes only with the run's state; its last change may be a node's.
  if (r.updated > run.updatedAt) run.updatedAt = r.updated;
  if (r.delegate !== null) n.delegate = run.nodes.get(r.delegate);
}

function resumeRun(p: RunProgress, run: Run, stats: { interrupted: number }): void {
  const released: string[] = [];
  for (const n of run.list) {
    if (n.state === 'running') {
      stats.interrupted++;
      p.move(n, 'ready', `attempt ${n.attempts} was interrupted by a restart: ready again (the attempt stays counted, it is not a failure)`);
    } else if (n.state === 'retrying') {
      p.arm(n);
    } else {
      p.maybeReady(n, 'dependencies settled (found on restart)', released);
    }
  }
  p.checkDone(run);
}
