/** Public types of the DAG Tracker (see dag/index.ts for the semantics). */

export type NodeState = 'pending' | 'ready' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';
export type RunState = 'running' | 'succeeded' | 'failed' | 'cancelled';
export type Strategy = 'retry' | 'fallback' | 'skip' | 'fail';
export type Backoff = 'constant' | 'linear' | 'exponential';
/** What dependents see of a node once it is settled (a failed node that handed over to a fallback sees its fallback's). */
export type Outcome = 'succeeded' | 'failed' | 'skipped' | 'cancelled';

export const TERMINAL: ReadonlySet<NodeState> = new Set<NodeState>(['succeeded', 'failed', 'skipped', 'cancelled']);

export interface RecoverySpec {
  strategy: Strategy;
  /** Retries after the first failure (strategy `retry`; default 3). */
  retries?: number;
  /** Delay curve between retries (default `exponential`). */
  backoff?: Backoff;
  /** Base delay (default 1000 ms). */
  delayMs?: number;
  /** Cap on any one delay (default 60 000 ms). */
  maxDelayMs?: number;
  /** The node that runs in this one's place (strategy `fallback`, or `then: 'fallback'`). */
  fallback?: string;
  /** What happens once the retries run out (default `fail`). */
  then?: Exclude<Strategy, 'retry'>;
}

export interface WorkflowNode {
  id: string;
  /** Hard dependencies: each must succeed before this node starts. */
  needs?: string[];
  /** Soft dependencies: each must be settled, in any terminal state, before this node starts. */
  after?: string[];
  /** Its failure does not fail the run (its hard dependents are skipped instead). */
  optional?: boolean;
  recovery?: RecoverySpec;
  /** Free-form payload for the caller (the Conductor keeps the step to run here); stored, never read. */
  data?: unknown;
}

export interface Workflow {
  id?: string;
  nodes: WorkflowNode[];
}

/** A recovery spec with its defaults filled in. */
export interface NormalizedRecovery {
  strategy: Strategy;
  retries: number;
  backoff: Backoff;
  delayMs: number;
  maxDelayMs: number;
  fallback?: string;
  then: Exclude<Strategy, 'retry'>;
}

export interface NormalizedNode {
  id: string;
  needs: string[];
  after: string[];
  optional: boolean;
  recovery: NormalizedRecovery;
  data?: unknown;
}

/** A validated workflow: ids unique, references resolved, no cycle; stored with each run. */
export interface NormalizedWorkflow {
  id: string;
  nodes: NormalizedNode[];
}

/** The tracker's answer to a failure: what the caller should do next, and why. */
export type Decision =
  /** Run the node again once `delayMs` has passed (it turns `ready` by itself); `attempt` is the number the next start will get. */
  | { action: 'retry'; delayMs: number; attempt: number; rationale: string }
  /** `node` (the fallback) runs in the failed node's place; the failed node's dependents follow the fallback's outcome. */
  | { action: 'fallback'; node: string; rationale: string }
  /** The node is skipped; `skipped` lists every node skipped because of it (itself first). */
  | { action: 'skip'; rationale: string; skipped: string[] }
  /**
   * The node failed for good. `runFailed`: it was required, so the run failed and `cancelled` lists
   * the nodes cancelled with it; otherwise (optional) `skipped` lists its hard dependents, skipped.
   */
  | { action: 'fail'; rationale: string; runFailed: boolean; skipped: string[]; cancelled: string[] };

export interface CreateResult {
  run: string;
  ready: string[];
}
export interface ReadyResult {
  ready: string[];
}
export interface StartResult {
  /** 1-based: the first start of a node is attempt 1; a retry or a restart-interrupted attempt adds one. */
  attempt: number;
}
export interface CompleteResult {
  /** The run's whole ready set after the update. */
  ready: string[];
  /** The nodes this update made ready (a subset of `ready`). */
  released: string[];
  /** The run's state after the update. */
  state: RunState;
  /** Set when the update was a no-op: the node had been cancelled with its run (a late report is not an error). */
  ignored?: string;
}
export interface FailResult {
  decision: Decision;
  ready: string[];
  released: string[];
  state: RunState;
  ignored?: string;
}
export interface NodeStatus {
  state: NodeState;
  /** Starts so far (an attempt interrupted by a restart counts). */
  attempts: number;
  /** Failures reported so far (the retry budget counts these). */
  failures: number;
  /** Why it is in this state. */
  reason: string;
  /** The last failure's message. */
  error?: string;
  /** What `complete` reported (absent when it reported nothing). */
  output?: unknown;
  /** The fallback that took over after it failed. */
  fallback?: string;
  /** Epoch ms at which a `retrying` node turns ready. */
  readyAt?: number;
}
export interface RunStatus extends RunSummary {
  ready: string[];
  nodes: Record<string, NodeStatus>;
}
export interface RunSummary {
  run: string;
  workflow: string;
  state: RunState;
  reason: string;
  createdAt: number;
  updatedAt: number;
}
export interface CancelResult {
  state: RunState;
  cancelled: string[];
}

/**
 * When a state change reaches the disk (all modes use SQLite in WAL mode; see the header of dag/index.ts):
 * - `batched` (default): changes are committed together at the end of the event-loop turn.
 * - `commit`: each call commits before it returns (no fsync).
 * - `fsync`: each call commits and fsyncs before it returns (synchronous=FULL).
 */
export type Durability = 'batched' | 'commit' | 'fsync';

export interface DagSettings {
  durability?: Durability;
  /** Finished runs kept in memory (older ones are still answered from the database). Default 1000. */
  keepFinished?: number;
}
