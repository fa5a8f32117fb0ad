/**
 * The DAG Tracker's checkpoints: the runs and nodes changed since the last one, written to the
 * DagStore in one transaction cut at a call boundary, so the file always holds the state as of the
 * end of some call. `batched` writes once per event-loop turn; `commit` and `fsync` before the call
 * answers (see the header of dag/index.ts for what each can lose).
 */
import { InternalError } from '../../bus/index.js';
import type { NodeRec, Run } from './graph.js';
import type { DagStore, NodeRow } from './store.js';
import type { Durability } from './types.js';

/** The counters a checkpoint keeps up to date (in the tracker's health). */
export interface CheckpointStats {
  updates: number;
  flushes: number;
  rowsWritten: number;
}

export class Checkpoint {
  #store: DagStore | undefined;
  #durability: Durability = 'batched';
  #nodes: NodeRec[] = [];
  #runs: Run[] = [];
  #pending: NodeJS.Immediate | undefined;
  /** The last write that failed, with its time; cleared by the next one that lands. */
  error: string | undefined;

  constructor(
    private readonly stats: CheckpointStats,
    private readonly logError: (message: string) => void,
  ) {}

  open(store: DagStore, durability: Durability): void {
    this.#store = store;
    this.#durability = durability;
  }

  /** The open store, if any (undefined before init and after shutdown). */
  get store(): DagStore | undefined {
    return this.#store;
  }

  /** Changes waiting for the next write. */
  get pending(): number {
    return this.#nodes.length + this.#runs.length;
  }

  /** Commits what is pending, then closes the store. */
  close(): void {
    if (!this.#store) return;
    try {
      this.flush();
    } finally {
      this.#store.close();
      this.#store = undefined;
    }
  }

  queueNode(n: NodeRec): void {
    this.#nodes.push(n);
  }

  queueRun(run: Run): void {
    this.#runs.push(run);
  }

  /** Drops a run's queued changes (its creation could not be committed, so it never existed). */
  forget(run: Run): void {
    this.#nodes = this.#nodes.filter((n) => n.run !== run);
    this.#runs = this.#runs.filter((r) => r !== run);
  }

  /** After a change: commit now (commit/fsync modes) or once at the end of this turn (batched). */
  changed(): void {
    this.stats.updates++;
    if (this.#durability !== 'batched') this.flush(true);
    else this.#pending ??= setImmediate(() => {
      this.#pending = undefined;
      try {
        this.flush();
      } catch {
        // Logged and kept for the next flush by flush(); health reports it.
      }
    });
  }

  /** Writes every changed run and node in one transaction. On failure they stay queued (and `rethrow` says whether the caller hears of it). */
  flush(rethrow = false): void {
    if (this.#pending) {
      clearImmediate(this.#pending);
      this.#pending = undefined;
    }
    const store = this.#store;
    if (!store || (this.#nodes.length === 0 && this.#runs.length === 0)) return;
    const nodes = this.#nodes;
    const runs = this.#runs;
    this.#nodes = [];
    this.#runs = [];
    try {
      store.transaction(() => {
        for (const r of runs) {
          if (r.persisted) store.updateRun(r.id, r.state, r.reason, r.updatedAt);
          else store.insertRun({ id: r.id, workflow: r.workflow, state: r.state, reason: r.reason, created: r.createdAt, updated: r.updatedAt });
        }
        for (const n of nodes) store.upsertNode(n.run.id, toRow(n));
      });
    } catch (err) {
      this.#nodes = nodes.concat(this.#nodes);
      this.#runs = runs.concat(this.#runs);
      this.error = `${(err as Error).message} (at ${new Date().toISOString()})`;
      this.logError(`writing ${nodes.length + runs.length} change(s) to ${store.file} failed; kept for the next attempt: ${(err as Error).message}`);
      if (rethrow) throw new InternalError(`the DAG Tracker could not persist the change: ${(err as Error).message}`, undefined, { cause: err });
      return;
    }
    for (const r of runs) {
      r.persisted = true;
      r.dirty = false;
    }
    for (const n of nodes) n.dirty = false;
    this.error = undefined;
    this.stats.flushes++;
    this.stats.rowsWritten += nodes.length + runs.length;
  }
}

function toRow(n: NodeRec): NodeRow {
  return {
    id: n.id,
    state: n.state,
    reason: n.reason,
    attempts: n.attempts,
    failures: n.failures,
    error: n.error ?? null,
    output: n.outputJson,
    delegate: n.delegate?.id ?? null,
    readyAt: n.state === 'retrying' ? (n.readyAt ?? null) : null,
    updated: n.updated,
  };
}
