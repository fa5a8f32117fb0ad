/**
 * The DAG Tracker's live runs in memory: each node with the counters that keep the ready set
 * incremental (unsettled deps), its links (dependents, fallback, primary, delegate), and a run's
 * ready list. Built once from a validated workflow; moved by `RunProgress`.
 */
import { usesFallback } from './validate.js';
import { TERMINAL, type NodeState, type NormalizedNode, type NormalizedWorkflow, type Outcome, type RunState } from './types.js';

/** A node of a live run. */
export interface NodeRec {
  readonly run: Run;
  readonly id: string;
  readonly spec: NormalizedNode;
  state: NodeState;
  reason: string;
  attempts: number;
  failures: number;
  error: string | undefined;
  output: unknown;
  /** The output as stored (JSON), null when none was reported: serialised once, when it is reported. */
  outputJson: string | null;
  /** Hard needs not yet settled as succeeded / soft deps not yet settled. */
  waitHard: number;
  waitSoft: number;
  /** A fallback held back until its primary fails. */
  standby: boolean;
  /** Its outcome, once its dependents have been told. */
  resolved: Outcome | undefined;
  /** The node it stands in for (it is that node's fallback). */
  primary: NodeRec | undefined;
  /** Its recovery's fallback node, when its recovery uses one. */
  fallback: NodeRec | undefined;
  /** The fallback that took over after it failed. */
  delegate: NodeRec | undefined;
  optional: boolean;
  readonly hardDependents: NodeRec[];
  readonly softDependents: NodeRec[];
  readyAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Changed since the last checkpoint (queued for it). */
  dirty: boolean;
  updated: number;
}

/** A live run. */
export interface Run {
  readonly id: string;
  readonly workflow: NormalizedWorkflow;
  readonly nodes: Map<string, NodeRec>;
  readonly list: NodeRec[];
  /** Ids of its ready nodes, in the order they became ready (an array: copying it out is a memcpy, iterating a Set is 10x slower). */
  readonly ready: string[];
  state: RunState;
  reason: string;
  /** Nodes not yet terminal. */
  open: number;
  readonly createdAt: number;
  updatedAt: number;
  /** Its row exists in the database. */
  persisted: boolean;
  dirty: boolean;
}

export function isTerminal(s: NodeState): boolean {
  return TERMINAL.has(s);
}

/** A fresh run of `wf`: every node pending, dependents and fallbacks linked. */
export function buildRun(wf: NormalizedWorkflow, id: string, createdAt: number): Run {
  const run: Run = { id, workflow: wf, nodes: new Map(), list: [], ready: [], state: 'running', reason: 'created', open: wf.nodes.length, createdAt, updatedAt: createdAt, persisted: false, dirty: false };
  for (const spec of wf.nodes) {
    const n = newNode(run, spec, createdAt);
    run.nodes.set(spec.id, n);
    run.list.push(n);
  }
  for (const n of run.list) {
    for (const d of n.spec.needs) run.nodes.get(d)!.hardDependents.push(n);
    for (const d of n.spec.after) run.nodes.get(d)!.softDependents.push(n);
    if (usesFallback(n.spec.recovery)) {
      const f = run.nodes.get(n.spec.recovery.fallback!)!;
      n.fallback = f;
      f.primary = n;
      f.standby = true;
      f.reason = `standing by as the fallback of '${n.id}'`;
    }
  }
  // A fallback stands in for its primary: optional if it or (transitively) its primary is.
  for (const n of run.list) {
    for (let p = n.primary; p && !n.optional; p = p.primary) if (p.spec.optional) n.optional = true;
  }
  return run;
}

function newNode(run: Run, spec: NormalizedNode, createdAt: number): NodeRec {
  return {
    run,
    id: spec.id,
    spec,
    state: 'pending',
    reason: 'waiting for its dependencies',
    attempts: 0,
    failures: 0,
    error: undefined,
    output: undefined,
    outputJson: null,
    waitHard: spec.needs.length,
    waitSoft: spec.after.length,
    standby: false,
    resolved: undefined,
    primary: undefined,
    fallback: undefined,
    delegate: undefined,
    optional: spec.optional,
    hardDependents: [],
    softDependents: [],
    readyAt: undefined,
    timer: undefined,
    dirty: false,
    updated: createdAt,
  };
}

/** Up to `max` ids, quoted, for a rationale. */
export function list(ids: string[], max = 8): string {
  const shown = ids.slice(0, max).map((i) => `'${i}'`).join(', ');
  return ids.length > max ? `${shown} and ${ids.length - max} more` : shown;
}
