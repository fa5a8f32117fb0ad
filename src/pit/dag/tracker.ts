/**
 * The DAG Tracker as a Pit extension: its bus methods, its lifecycle, and the in-process API the
 * methods call (the semantics are in dag/index.ts). Runs live in memory (graph.ts), move by
 * RunProgress, reach the disk through the Checkpoint.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BusError, ErrorCode, InvalidParamsError, InvalidRequestError } from '../../bus/index.js';
import type { HealthResult } from '../../bootstrap/index.js';
import type { PitContext, PitExtension } from '../extension.js';
import { method, parseParams, serve, v } from '../params.js';
import { Checkpoint } from './checkpoint.js';
import { buildRun, type NodeRec, type Run } from './graph.js';
import { hydrate } from './hydrate.js';
import { RunProgress } from './progress.js';
import { recover } from './recovery.js';
import { DagStore } from './store.js';
import type { CancelResult, CompleteResult, CreateResult, DagSettings, FailResult, NodeState, NodeStatus, ReadyResult, RunState, RunStatus, RunSummary, StartResult, Workflow } from './types.js';
import { validateWorkflow } from './validate.js';

const RunId = v.pipe(v.string(), v.minLength(1), v.maxLength(256));
const CreateSchema = v.object({ workflow: v.unknown(), run: v.optional(RunId) });
const RunOnly = v.object({ run: v.string() });
const NodeOnly = v.object({ run: v.string(), node: v.string() });
const CompleteSchema = v.object({ run: v.string(), node: v.string(), output: v.optional(v.unknown()) });
const FailSchema = v.object({
  run: v.string(),
  node: v.string(),
  error: v.union([v.string(), v.looseObject({ message: v.string() })]),
  /** The failure cannot change on a new attempt (a refusal, invalid input): its retries are skipped, its `then` applies. */
  final: v.optional(v.boolean(), false),
});
const RunsSchema = v.object({
  state: v.optional(v.picklist(['running', 'succeeded', 'failed', 'cancelled'])),
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)), 100),
});
const CancelSchema = v.object({ run: v.string(), reason: v.optional(v.string()) });
const SettingsSchema = v.object({
  durability: v.optional(v.picklist(['batched', 'commit', 'fsync']), 'batched'),
  keepFinished: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 1000),
});

/** The snapshot is a summary: the database is the durable state. */
interface Snapshot {
  version: 1;
  db: string;
  runs: Record<string, number>;
}

const MAX_ERROR_CHARS = 4096;

function errorText(error: unknown): string {
  const text =
    typeof error === 'string'
      ? error
      : error instanceof Error || (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string')
        ? (error as { message: string }).message
        : (JSON.stringify(error) ?? String(error));
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

export class DagTracker implements PitExtension<Snapshot> {
  readonly name = 'dag';
  #ctx: PitContext | undefined;
  #settings: Required<DagSettings> = { durability: 'batched', keepFinished: 1000 };
  readonly #runs = new Map<string, Run>();
  /** Finished runs in memory, oldest first (evicted beyond keepFinished; the database still has them). */
  readonly #finished = new Set<string>();
  #restored: Snapshot | undefined;
  readonly #stats = { created: 0, updates: 0, flushes: 0, rowsWritten: 0, resumed: 0, interrupted: 0 };
  readonly #checkpoint = new Checkpoint(this.#stats, (m) => this.#ctx?.log.error(m));
  readonly #progress = new RunProgress(this.#checkpoint, {
    finished: (run) => {
      this.#finished.add(run.id);
      this.#evict();
    },
  });

  /**
   * Bus methods. Unknown run or node: -32602 (data.field `run` / `node`); a node in the wrong state
   * for the call: -32600 naming its state; a bad workflow: -32602 naming the node and the field.
   */
  readonly methods = serve({
    /**
     * `dag.create { workflow, run? }` -> `{ run, ready: string[] }`
     * Validates the workflow, starts a run (id `run` if given and new, else generated) and returns
     * the nodes ready at once. Committed before it answers, whatever the durability mode.
     */
    'dag.create': method(CreateSchema, (a): CreateResult => this.create(a.workflow as Workflow, a.run === undefined ? {} : { run: a.run })),
    /** `dag.ready { run }` -> `{ ready: string[] }`: the nodes that may start now, in the order they became ready. */
    'dag.ready': method(RunOnly, (a): ReadyResult => this.ready(a.run)),
    /** `dag.start { run, node }` -> `{ attempt }`: a ready node becomes running; `attempt` is 1-based. */
    'dag.start': method(NodeOnly, (a): StartResult => this.start(a.run, a.node)),
    /**
     * `dag.complete { run, node, output? }` -> `{ ready, released, state, ignored? }`
     * A running node succeeded (`output`, any JSON, is kept). `ready`: the whole ready set after it;
     * `released`: the nodes it made ready; `state`: the run's state (it may now be `succeeded`).
     */
    'dag.complete': method(CompleteSchema, (a): CompleteResult => this.complete(a.run, a.node, a.output)),
    /**
     * `dag.fail { run, node, error }` -> `{ decision, ready, released, state, ignored? }`
     * A running node failed (`error`: a message, or an object with `message`). `decision` is one of
     * `{ action: 'retry', delayMs, attempt, rationale }` (it turns ready by itself after delayMs),
     * `{ action: 'fallback', node, rationale }`, `{ action: 'skip', skipped, rationale }`,
     * `{ action: 'fail', runFailed, skipped, cancelled, rationale }`.
     */
    'dag.fail': method(FailSchema, (a): FailResult => this.fail(a.run, a.node, a.error, a.final)),
    /**
     * `dag.status { run }` -> `{ run, workflow, state, reason, createdAt, updatedAt, ready,
     * nodes: { <id>: { state, attempts, failures, reason, error?, output?, fallback?, readyAt? } } }`
     */
    'dag.status': method(RunOnly, (a): RunStatus => this.status(a.run)),
    /** `dag.runs { state?, limit? = 100 }` -> `{ runs: [{ run, workflow, state, reason, createdAt, updatedAt }] }`, newest first, finished ones included. */
    'dag.runs': method(RunsSchema, (a): { runs: RunSummary[] } => this.runs(a.state, a.limit)),
    /** `dag.cancel { run, reason? }` -> `{ state, cancelled: string[] }`: cancels every unfinished node; a finished run is left as it is. */
    'dag.cancel': method(CancelSchema, (a): CancelResult => this.cancel(a.run, a.reason)),
  });

  restore(state: Snapshot): void {
    // Nothing to take from it: the database is the durable state (kept for health's detail).
    this.#restored = state;
  }

  async init(ctx: PitContext): Promise<void> {
    this.#ctx = ctx;
    this.#progress.events = ctx;
    this.#settings = parseParams('pit.dag', SettingsSchema, ctx.config);
    const store = await DagStore.open(join(ctx.dataDir, 'dag.db'), this.#settings.durability);
    this.#checkpoint.open(store, this.#settings.durability);
    let resumed = 0;
    for (const row of store.loadRuns(this.#settings.keepFinished)) {
      let run: Run;
      try {
        run = hydrate(this.#progress, row, store.loadNodes(row.id), true, this.#stats);
      } catch (err) {
        // One unreadable run must not keep the Pit (and every other run) from starting.
        ctx.log.error(`run '${row.id}' could not be restored and is left out: ${(err as Error).message}`);
        continue;
      }
      this.#runs.set(run.id, run);
      if (run.state === 'running') resumed++;
      else this.#finished.add(run.id);
    }
    this.#stats.resumed = resumed;
    this.#checkpoint.flush();
    if (resumed) ctx.log.info(`resumed ${resumed} unfinished run(s) from ${store.file}${this.#stats.interrupted ? `; ${this.#stats.interrupted} interrupted node(s) are ready again` : ''}`);
  }

  snapshot(): Snapshot {
    const runs: Record<string, number> = {};
    for (const r of this.#runs.values()) runs[r.state] = (runs[r.state] ?? 0) + 1;
    return { version: 1, db: 'dag.db', runs };
  }

  health(): HealthResult {
    if (!this.#checkpoint.store) return { status: 'unhealthy', detail: 'not running (init not called, or shut down)' };
    const error = this.#checkpoint.error;
    const detail = {
      ...this.snapshot(),
      durability: this.#settings.durability,
      pendingWrites: this.#checkpoint.pending,
      stats: { ...this.#stats },
      ...(error ? { lastFlushError: error } : {}),
      ...(this.#restored ? { snapshotAtLastStop: this.#restored.runs } : {}),
    };
    // A failed write keeps its changes in memory and retries them: degraded, not down.
    return { status: error ? 'degraded' : 'healthy', detail };
  }

  /** Commits what is pending, stops retry timers and closes the database. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const run of this.#runs.values()) for (const n of run.list) this.#progress.clearTimer(n);
    this.#checkpoint.close();
  }

  // ---- the in-process API (what the bus methods call; the Conductor calls it directly) -----------

  /** Starts a run of `workflow`; throws InvalidParamsError for a bad workflow or a run id in use. */
  create(workflow: Workflow, options: { run?: string } = {}): CreateResult {
    const store = this.#open();
    const wf = validateWorkflow('dag.create', workflow);
    const id = options.run ?? `${wf.id}-${randomUUID()}`;
    if (options.run !== undefined && (this.#runs.has(id) || store.hasRun(id))) {
      throw new InvalidParamsError(`dag.create: a run '${id}' already exists`, { method: 'dag.create', field: 'run', run: id });
    }
    const run = buildRun(wf, id, Date.now());
    this.#runs.set(id, run);
    this.#checkpoint.queueRun(run);
    run.dirty = true;
    this.#stats.created++;
    this.#ctx!.emit('run', { run: id, workflow: wf.id, from: null, to: 'running', reason: 'created', nodes: run.list.length });
    const released: string[] = [];
    for (const n of run.list) this.#progress.maybeReady(n, 'no dependencies', released);
    try {
      // Always committed before answering: a run id handed out must survive a crash.
      this.#checkpoint.flush(true);
    } catch (err) {
      this.#runs.delete(id);
      this.#checkpoint.forget(run);
      throw err;
    }
    return { run: id, ready: released };
  }

  /** The run's ready set, in the order its nodes became ready. */
  ready(runId: string): ReadyResult {
    return { ready: this.#run('dag.ready', runId).ready.slice() };
  }

  /** Marks a ready node running; returns the attempt number (1 for the first). */
  start(runId: string, nodeId: string): StartResult {
    const run = this.#run('dag.start', runId);
    const n = this.#node('dag.start', run, nodeId);
    if (n.state !== 'ready') throw this.#wrongState('dag.start', n, 'ready');
    n.attempts++;
    this.#progress.move(n, 'running', `attempt ${n.attempts} started`);
    this.#checkpoint.changed();
    return { attempt: n.attempts };
  }

  /** A running node succeeded with `output`; dependents are released. */
  complete(runId: string, nodeId: string, output?: unknown): CompleteResult {
    const run = this.#run('dag.complete', runId);
    const n = this.#node('dag.complete', run, nodeId);
    if (n.state === 'cancelled') return { ready: [], released: [], state: run.state, ignored: `node '${n.id}' was cancelled (${n.reason}); its result is not recorded` };
    if (n.state !== 'running') throw this.#wrongState('dag.complete', n, 'running');
    let json: string | null = null;
    if (output !== undefined) {
      try {
        json = JSON.stringify(output);
      } catch (err) {
        throw new InvalidParamsError(`dag.complete: output of node '${n.id}' is not JSON: ${(err as Error).message}`, { method: 'dag.complete', field: 'output', node: n.id });
      }
    }
    n.output = output;
    n.outputJson = json ?? null;
    this.#progress.move(n, 'succeeded', `attempt ${n.attempts} succeeded`);
    const released: string[] = [];
    this.#progress.settle(n, 'succeeded', [], released);
    this.#progress.checkDone(run);
    this.#checkpoint.changed();
    return { ready: run.ready.slice(), released, state: run.state };
  }

  /** A running node failed: applies its recovery and returns the decision with its rationale. */
  fail(runId: string, nodeId: string, error: unknown, final = false): FailResult {
    const run = this.#run('dag.fail', runId);
    const n = this.#node('dag.fail', run, nodeId);
    if (n.state === 'cancelled') {
      const rationale = `node '${n.id}' was cancelled (${n.reason}); this failure is not recorded`;
      return { decision: { action: 'fail', rationale, runFailed: false, skipped: [], cancelled: [] }, ready: [], released: [], state: run.state, ignored: rationale };
    }
    if (n.state !== 'running') throw this.#wrongState('dag.fail', n, 'running');
    const msg = errorText(error);
    n.failures++;
    n.error = msg;
    const released: string[] = [];
    const decision = recover(this.#progress, n, msg, released, final);
    this.#progress.checkDone(run);
    this.#checkpoint.changed();
    return { decision, ready: run.ready.slice(), released, state: run.state };
  }

  /** The run's state and every node's. */
  status(runId: string): RunStatus {
    const run = this.#run('dag.status', runId);
    const nodes: Record<string, NodeStatus> = {};
    for (const n of run.list) {
      const s: NodeStatus = { state: n.state, attempts: n.attempts, failures: n.failures, reason: n.reason };
      if (n.error !== undefined) s.error = n.error;
      if (n.outputJson !== null) s.output = n.output;
      if (n.delegate) s.fallback = n.delegate.id;
      if (n.state === 'retrying' && n.readyAt !== undefined) s.readyAt = n.readyAt;
      nodes[n.id] = s;
    }
    return { run: run.id, workflow: run.workflow.id, state: run.state, reason: run.reason, createdAt: run.createdAt, updatedAt: run.updatedAt, ready: run.ready.slice(), nodes };
  }

  /** Runs, newest first (from the database, so finished runs evicted from memory are listed too). */
  runs(state?: RunState, limit = 100): { runs: RunSummary[] } {
    const store = this.#open();
    this.#checkpoint.flush();
    return {
      runs: store.listRuns(state, limit).map((r) => ({
        run: r.id,
        workflow: r.workflowId,
        state: r.state,
        reason: r.reason,
        createdAt: r.created,
        // A live run's last change may be a node's, which the run row does not carry.
        updatedAt: this.#runs.get(r.id)?.updatedAt ?? r.updated,
      })),
    };
  }

  /** Cancels the run: every unfinished node becomes cancelled. Committed before it answers. */
  cancel(runId: string, reason = 'cancelled on request'): CancelResult {
    const run = this.#run('dag.cancel', runId);
    if (run.state !== 'running') return { state: run.state, cancelled: [] };
    const cancelled = this.#progress.finish(run, 'cancelled', reason);
    this.#checkpoint.flush(true);
    return { state: run.state, cancelled };
  }

  /** Commits pending changes now (batched mode commits them at the end of the turn anyway). */
  flush(): void {
    this.#checkpoint.flush(true);
  }

  // ---- lookups and errors ------------------------------------------------------------------------

  /** Keeps memory bounded: the oldest finished runs leave memory (the database keeps them; #run reloads on demand). */
  #evict(): void {
    while (this.#finished.size > this.#settings.keepFinished) {
      const oldest = this.#finished.values().next().value as string;
      this.#finished.delete(oldest);
      this.#runs.delete(oldest);
    }
  }

  #open(): DagStore {
    const store = this.#checkpoint.store;
    if (!store) throw new BusError(ErrorCode.InternalError, 'the DAG Tracker is not running (init not called, or shut down)');
    return store;
  }

  #run(method: string, id: string): Run {
    // After shutdown a change would be lost silently: refuse every call instead.
    const store = this.#open();
    const run = this.#runs.get(id);
    if (run) return run;
    // A finished run evicted from memory: reload it from the database.
    this.#checkpoint.flush();
    const row = store.loadRun(id);
    if (!row) throw new InvalidParamsError(`${method}: no run '${id}'`, { method, field: 'run', run: id });
    const loaded = hydrate(this.#progress, row, store.loadNodes(id), false, this.#stats);
    this.#runs.set(id, loaded);
    if (loaded.state !== 'running') this.#finished.add(id);
    this.#evict();
    return loaded;
  }

  #node(method: string, run: Run, id: string): NodeRec {
    const n = run.nodes.get(id);
    if (!n) throw new InvalidParamsError(`${method}: run '${run.id}' has no node '${id}'`, { method, field: 'node', run: run.id, node: id });
    return n;
  }

  #wrongState(method: string, n: NodeRec, expected: NodeState): InvalidRequestError {
    const hint = expected === 'running' && n.state === 'ready' ? ' (call dag.start first)' : '';
    return new InvalidRequestError(`${method}: node '${n.id}' of run '${n.run.id}' is ${n.state}, not ${expected}${hint}: ${n.reason}`, {
      method,
      run: n.run.id,
      node: n.id,
      state: n.state,
    });
  }
}
