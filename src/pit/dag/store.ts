import type BetterSqlite3 from 'better-sqlite3';
import type { Durability, NodeState, NormalizedWorkflow, RunState } from './types.js';

/** One node's durable facts (everything else about it is derived from the workflow on load). */
export interface NodeRow {
  id: string;
  state: NodeState;
  reason: string;
  attempts: number;
  failures: number;
  error: string | null;
  /** JSON text; null when `complete` reported no output. */
  output: string | null;
  delegate: string | null;
  readyAt: number | null;
  /** Epoch ms of its last change. */
  updated: number;
}

export interface RunRow {
  id: string;
  workflow: NormalizedWorkflow;
  state: RunState;
  reason: string;
  created: number;
  updated: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- runs keeps a rowid: its rows hold whole workflows (SQLite advises WITHOUT ROWID for small rows
-- only), and the rowid orders runs created in the same millisecond.
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, workflow TEXT NOT NULL,
  state TEXT NOT NULL, reason TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state, updated);
-- nodes is keyed by (run, id) alone: one B-tree, one write per change. Outputs are expected to be
-- small JSON (large payloads belong in the Artifact Store, referenced from the output).
CREATE TABLE IF NOT EXISTS nodes (
  run TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
  attempts INTEGER NOT NULL, failures INTEGER NOT NULL, error TEXT, output TEXT,
  delegate TEXT, ready_at INTEGER, updated INTEGER NOT NULL,
  PRIMARY KEY (run, id)
) WITHOUT ROWID;
`;

/**
 * The DAG Tracker's SQLite file. WAL journal: a commit is an append to the log (no fsync under
 * synchronous=NORMAL), readers never block the writer, and a crash at any point leaves the last
 * committed transaction intact (SQLite's atomic commit). All writes go through prepared statements.
 */
export class DagStore {
  readonly #db: BetterSqlite3.Database;
  readonly #insertRun: BetterSqlite3.Statement<[string, string, string, string, string, number, number]>;
  readonly #updateRun: BetterSqlite3.Statement<[string, string, number, string]>;
  readonly #upsertNode: BetterSqlite3.Statement<[string, string, string, string, number, number, string | null, string | null, string | null, number | null, number]>;

  private constructor(db: BetterSqlite3.Database) {
    this.#db = db;
    this.#insertRun = db.prepare('INSERT INTO runs (id, workflow_id, workflow, state, reason, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#updateRun = db.prepare('UPDATE runs SET state = ?, reason = ?, updated = ? WHERE id = ?');
    this.#upsertNode = db.prepare(
      `INSERT INTO nodes (run, id, state, reason, attempts, failures, error, output, delegate, ready_at, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run, id) DO UPDATE SET state = excluded.state, reason = excluded.reason, attempts = excluded.attempts,
         failures = excluded.failures, error = excluded.error, output = excluded.output, delegate = excluded.delegate,
         ready_at = excluded.ready_at, updated = excluded.updated`,
    );
  }

  /** Opens (creating if need be) the database; better-sqlite3 is loaded here so that merely importing the Pit costs nothing. */
  static async open(file: string, durability: Durability): Promise<DagStore> {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'fsync' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 2000');
    db.exec(SCHEMA);
    const version = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get();
    if (!version) db.prepare("INSERT INTO meta (key, value) VALUES ('schema', '1')").run();
    else if (version.value !== '1') throw new Error(`${file}: DAG Tracker schema ${version.value} is not supported (expected 1)`);
    return new DagStore(db);
  }

  get file(): string {
    return this.#db.name;
  }

  /** Runs `fn` in one transaction: its writes commit together or not at all. */
  transaction(fn: () => void): void {
    this.#db.transaction(fn)();
  }

  insertRun(r: RunRow): void {
    this.#insertRun.run(r.id, r.workflow.id, JSON.stringify(r.workflow), r.state, r.reason, r.created, r.updated);
  }

  updateRun(id: string, state: RunState, reason: string, updated: number): void {
    this.#updateRun.run(state, reason, updated, id);
  }

  upsertNode(run: string, n: NodeRow): void {
    this.#upsertNode.run(run, n.id, n.state, n.reason, n.attempts, n.failures, n.error, n.output, n.delegate, n.readyAt, n.updated);
  }

  hasRun(id: string): boolean {
    return this.#db.prepare<[string], { id: string }>('SELECT id FROM runs WHERE id = ?').get(id) !== undefined;
  }

  /** Unfinished runs, and the `keepFinished` most recently finished ones. */
  loadRuns(keepFinished: number): RunRow[] {
    type Raw = { id: string; workflow: string; state: RunState; reason: string; created: number; updated: number };
    const cols = 'id, workflow, state, reason, created, updated';
    const open = this.#db.prepare<[], Raw>(`SELECT ${cols} FROM runs WHERE state = 'running' ORDER BY created, rowid`).all();
    const done = this.#db.prepare<[number], Raw>(`SELECT ${cols} FROM runs WHERE state != 'running' ORDER BY updated DESC, rowid DESC LIMIT ?`).all(keepFinished);
    return [...done.reverse(), ...open].map((r) => ({ ...r, workflow: JSON.parse(r.workflow) as NormalizedWorkflow }));
  }

  loadRun(id: string): RunRow | undefined {
    type Raw = { id: string; workflow: string; state: RunState; reason: string; created: number; updated: number };
    const r = this.#db.prepare<[string], Raw>('SELECT id, workflow, state, reason, created, updated FROM runs WHERE id = ?').get(id);
    return r && { ...r, workflow: JSON.parse(r.workflow) as NormalizedWorkflow };
  }

  loadNodes(run: string): NodeRow[] {
    return this.#db
      .prepare<[string], NodeRow>('SELECT id, state, reason, attempts, failures, error, output, delegate, ready_at AS readyAt, updated FROM nodes WHERE run = ?')
      .all(run);
  }

  listRuns(state: RunState | undefined, limit: number): { id: string; workflowId: string; state: RunState; reason: string; created: number; updated: number }[] {
    const cols = 'id, workflow_id AS workflowId, state, reason, created, updated';
    type Row = { id: string; workflowId: string; state: RunState; reason: string; created: number; updated: number };
    return state === undefined
      ? this.#db.prepare<[number], Row>(`SELECT ${cols} FROM runs ORDER BY created DESC, rowid DESC LIMIT ?`).all(limit)
      : this.#db.prepare<[string, number], Row>(`SELECT ${cols} FROM runs WHERE state = ? ORDER BY created DESC, rowid DESC LIMIT ?`).all(state, limit);
  }

  countByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.#db.prepare<[], { state: string; n: number }>('SELECT state, COUNT(*) AS n FROM runs GROUP BY state').all()) out[r.state] = r.n;
    return out;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
