import type Database from 'better-sqlite3';
import type { ArtifactRecord, ArtifactState, ListFilter, TagMode } from './types.js';

type DB = Database.Database;
type Stmt = Database.Statement;

/** Schema migrations, by the version they lead to. Append; never edit a released step. */
const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    -- The last version handed out per name, so versions are never reused after a delete.
    CREATE TABLE names (name TEXT PRIMARY KEY, last_version INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE artifacts (
      name TEXT NOT NULL,
      version INTEGER NOT NULL CHECK (version >= 1),
      hash TEXT NOT NULL CHECK (length(hash) = 64),
      size INTEGER NOT NULL CHECK (size >= 0),
      metadata TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      last_access_at INTEGER NOT NULL,
      access_count INTEGER NOT NULL DEFAULT 0,
      state TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'archived')),
      PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE INDEX artifacts_by_hash ON artifacts (hash);
    -- Tags in their own table (not a JSON column) so a tag filter is an index lookup.
    CREATE TABLE tags (
      name TEXT NOT NULL,
      version INTEGER NOT NULL,
      tag TEXT NOT NULL,
      PRIMARY KEY (name, version, tag),
      FOREIGN KEY (name, version) REFERENCES artifacts (name, version) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX tags_by_tag ON tags (tag);
  `,
  // Who stored each record (a bus caller's identity; NULL for the kernel's own puts): its quota.
  2: `
    ALTER TABLE artifacts ADD COLUMN owner TEXT;
    CREATE INDEX artifacts_by_owner ON artifacts (owner) WHERE owner IS NOT NULL;
  `,
};
export const SCHEMA_VERSION = 2;

const SELECT_RECORD = `
  SELECT a.name, a.version, a.hash, a.size, a.metadata, a.created_at, a.last_access_at, a.access_count, a.state,
         (SELECT json_group_array(t.tag) FROM tags t WHERE t.name = a.name AND t.version = a.version) AS tags
  FROM artifacts a`;

interface Row {
  name: string;
  version: number;
  hash: string;
  size: number;
  metadata: string;
  created_at: number;
  last_access_at: number;
  access_count: number;
  state: ArtifactState;
  tags: string;
}

export interface RecordKey {
  name: string;
  version: number;
}

/** The index could not be opened because another process holds it. */
export class IndexLockedError extends Error {
  override name = 'IndexLockedError';
}

/**
 * The Artifact Store's index: one SQLite database in WAL mode, locked exclusively by its process
 * (so init may clean temp files and orphan blobs without racing another writer), with prepared
 * statements for every hot path. All calls are synchronous (better-sqlite3); a commit costs one
 * fsync of the WAL with `synchronous = FULL`.
 */
export class ArtifactIndex {
  readonly #s: {
    bump: Stmt;
    insert: Stmt;
    insertTag: Stmt;
    deleteTag: Stmt;
    clearTags: Stmt;
    one: Stmt;
    exists: Stmt;
    latestLive: Stmt;
    versions: Stmt;
    newestByHash: Stmt;
    keysByHash: Stmt;
    refs: Stmt;
    setState: Stmt;
    remove: Stmt;
    touch: Stmt;
    getMeta: Stmt;
    setMeta: Stmt;
    totals: Stmt;
    usedBy: Stmt;
    owners: Stmt;
    stored: Stmt;
    names: Stmt;
    blobsAfter: Stmt;
    sizeAll: Stmt;
    sizeByState: Stmt;
  };
  readonly #lists = new Map<string, Stmt>();
  readonly #insertTx: Database.Transaction<(rec: ArtifactRecord, metadataJson: string, owner: string | null) => { version: number; refs: number }>;
  readonly #touchTx: Database.Transaction<(batch: { name: string; version: number; at: number; count: number }[]) => void>;
  readonly #tagTx: Database.Transaction<(name: string, version: number, tags: readonly string[], mode: TagMode) => boolean>;
  readonly #removeTx: Database.Transaction<(name: string, version: number) => { hash: string; size: number; refs: number } | undefined>;
  /** Whether this open created the database (a store with no index yet). */
  readonly created: boolean;

  private constructor(
    readonly db: DB,
    created: boolean,
  ) {
    this.created = created;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      bump: p(`INSERT INTO names (name, last_version) VALUES (?, 1)
               ON CONFLICT (name) DO UPDATE SET last_version = last_version + 1 RETURNING last_version`).pluck(),
      insert: p(`INSERT INTO artifacts (name, version, hash, size, metadata, created_at, last_access_at, access_count, state, owner)
                 VALUES (?, ?, ?, ?, ?, ?, ?, 0, 'live', ?)`),
      insertTag: p('INSERT OR IGNORE INTO tags (name, version, tag) VALUES (?, ?, ?)'),
      deleteTag: p('DELETE FROM tags WHERE name = ? AND version = ? AND tag = ?'),
      clearTags: p('DELETE FROM tags WHERE name = ? AND version = ?'),
      one: p(`${SELECT_RECORD} WHERE a.name = ? AND a.version = ?`),
      exists: p('SELECT 1 FROM artifacts WHERE name = ? AND version = ?').pluck(),
      latestLive: p(`${SELECT_RECORD} WHERE a.name = ? AND a.state = 'live' ORDER BY a.version DESC LIMIT 1`),
      versions: p('SELECT version, state FROM artifacts WHERE name = ? ORDER BY version'),
      newestByHash: p(`${SELECT_RECORD} WHERE a.hash = ? ORDER BY a.created_at DESC, a.name, a.version DESC LIMIT 1`),
      keysByHash: p('SELECT name, version FROM artifacts WHERE hash = ? ORDER BY name, version'),
      refs: p('SELECT count(*) FROM artifacts WHERE hash = ?').pluck(),
      setState: p('UPDATE artifacts SET state = ? WHERE name = ? AND version = ?'),
      remove: p('DELETE FROM artifacts WHERE name = ? AND version = ? RETURNING hash, size'),
      touch: p(`UPDATE artifacts SET last_access_at = max(last_access_at, ?), access_count = access_count + ?
                WHERE name = ? AND version = ?`),
      getMeta: p('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      totals: p(`SELECT count(*) AS artifacts, coalesce(sum(size), 0) AS bytes, coalesce(sum(state = 'live'), 0) AS live FROM artifacts`),
      usedBy: p('SELECT coalesce(sum(size), 0) FROM artifacts WHERE owner = ?').pluck(),
      owners: p('SELECT DISTINCT owner FROM artifacts WHERE owner IS NOT NULL ORDER BY owner').pluck(),
      stored: p('SELECT count(*) AS blobs, coalesce(sum(size), 0) AS bytes FROM (SELECT hash, max(size) AS size FROM artifacts GROUP BY hash)'),
      names: p('SELECT count(DISTINCT name) FROM artifacts').pluck(),
      blobsAfter: p('SELECT hash, max(size) AS size, count(*) AS records FROM artifacts WHERE hash > ? GROUP BY hash ORDER BY hash LIMIT ?'),
      sizeAll: p('SELECT coalesce(sum(size), 0) FROM artifacts').pluck(),
      sizeByState: p('SELECT coalesce(sum(size), 0) FROM artifacts WHERE state = ?').pluck(),
    };
    this.#insertTx = db.transaction((rec: ArtifactRecord, metadataJson: string, owner: string | null) => {
      // Counted before the insert: were there already records of this content (a deduplicated put)?
      const refs = this.#s.refs.get(rec.hash) as number;
      const version = this.#s.bump.get(rec.name) as number;
      this.#s.insert.run(rec.name, version, rec.hash, rec.size, metadataJson, rec.createdAt, rec.lastAccessAt, owner);
      for (const t of rec.tags) this.#s.insertTag.run(rec.name, version, t);
      return { version, refs };
    });
    this.#touchTx = db.transaction((batch: { name: string; version: number; at: number; count: number }[]) => {
      for (const b of batch) this.#s.touch.run(b.at, b.count, b.name, b.version);
    });
    this.#tagTx = db.transaction((name: string, version: number, tags: readonly string[], mode: TagMode) => {
      if (!this.#s.exists.get(name, version)) return false;
      if (mode === 'set') this.#s.clearTags.run(name, version);
      for (const t of tags) (mode === 'remove' ? this.#s.deleteTag : this.#s.insertTag).run(name, version, t);
      return true;
    });
    this.#removeTx = db.transaction((name: string, version: number) => {
      const r = this.#s.remove.get(name, version) as { hash: string; size: number } | undefined;
      return r && { ...r, refs: this.#s.refs.get(r.hash) as number };
    });
  }

  /**
   * Opens (creating or migrating) the index. Loads better-sqlite3 here, lazily, so a kernel that
   * never starts the Artifact Store never pays for the native module.
   */
  static async open(path: string, opts: { synchronous: 'full' | 'normal'; lockTimeoutMs: number }): Promise<ArtifactIndex> {
    const { default: Sqlite } = await import('better-sqlite3');
    const db = new Sqlite(path, { timeout: opts.lockTimeoutMs });
    try {
      // Exclusive before WAL: one owning process, and no shared-memory wal-index file to go stale.
      db.pragma('locking_mode = EXCLUSIVE');
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`cannot switch ${path} to WAL mode (it is in '${String(mode)}' mode)`);
      db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      // On macOS fsync does not reach the platter; libuv's fsync (the blobs) uses F_FULLFSYNC, so the index does too.
      if (process.platform === 'darwin') db.pragma('fullfsync = ON');
      db.pragma('foreign_keys = ON');
      const created = migrate(db, path);
      return new ArtifactIndex(db, created);
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') {
        throw new IndexLockedError(`the artifact index ${path} is in use by another process (it stayed locked for ${opts.lockTimeoutMs}ms)`, { cause: err });
      }
      throw new Error(`cannot open the artifact index ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  get open(): boolean {
    return this.db.open;
  }

  /** Inserts a new version of `rec.name` (its `version` is assigned here) with its tags, in one transaction; `owner` is who stored it (its quota). */
  insert(rec: ArtifactRecord, metadataJson: string, owner?: string): { version: number; deduplicated: boolean } {
    const r = this.#insertTx.immediate(rec, metadataJson, owner ?? null);
    return { version: r.version, deduplicated: r.refs > 0 };
  }

  one(name: string, version: number): ArtifactRecord | undefined {
    return toRecord(this.#s.one.get(name, version) as Row | undefined);
  }

  latestLive(name: string): ArtifactRecord | undefined {
    return toRecord(this.#s.latestLive.get(name) as Row | undefined);
  }

  versions(name: string): { version: number; state: ArtifactState }[] {
    return this.#s.versions.all(name) as { version: number; state: ArtifactState }[];
  }

  newestByHash(hash: string): ArtifactRecord | undefined {
    return toRecord(this.#s.newestByHash.get(hash) as Row | undefined);
  }

  keysByHash(hash: string): RecordKey[] {
    return this.#s.keysByHash.all(hash) as RecordKey[];
  }

  refs(hash: string): number {
    return this.#s.refs.get(hash) as number;
  }

  list(filter: ListFilter): ArtifactRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.name !== undefined) {
      where.push('a.name = ?');
      args.push(filter.name);
    }
    if (filter.state !== undefined) {
      where.push('a.state = ?');
      args.push(filter.state);
    }
    if (filter.hash !== undefined) {
      where.push('a.hash = ?');
      args.push(filter.hash);
    }
    if (filter.tag !== undefined) {
      where.push('(a.name, a.version) IN (SELECT name, version FROM tags WHERE tag = ?)');
      args.push(filter.tag);
    }
    args.push(filter.limit ?? -1, filter.offset ?? 0);
    const sql = `${SELECT_RECORD}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY a.name, a.version LIMIT ? OFFSET ?`;
    let stmt = this.#lists.get(sql);
    if (!stmt) this.#lists.set(sql, (stmt = this.db.prepare(sql)));
    return (stmt.all(...args) as Row[]).map((r) => toRecord(r)!);
  }

  /** Changes a record's tags; returns false when the record does not exist. */
  tag(name: string, version: number, tags: readonly string[], mode: TagMode): boolean {
    return this.#tagTx.immediate(name, version, tags, mode);
  }

  setState(name: string, version: number, state: ArtifactState): boolean {
    return this.#s.setState.run(state, name, version).changes > 0;
  }

  /** Removes a record; returns its hash and how many records still use that content, or undefined if absent. */
  remove(name: string, version: number): { hash: string; size: number; refs: number } | undefined {
    return this.#removeTx.immediate(name, version);
  }

  /** Applies batched access statistics in one transaction. */
  touch(batch: { name: string; version: number; at: number; count: number }[]): void {
    if (batch.length) this.#touchTx.immediate(batch);
  }

  getMeta(key: string): string | undefined {
    return this.#s.getMeta.get(key) as string | undefined;
  }

  setMeta(key: string, value: string): void {
    this.#s.setMeta.run(key, value);
  }

  /** Bytes of the records `owner` stored (what counts against its quota). */
  usedBy(owner: string): number {
    return this.#s.usedBy.get(owner) as number;
  }

  /** Every caller that has records stored. */
  owners(): string[] {
    return this.#s.owners.all() as string[];
  }

  totals(): { artifacts: number; bytes: number; live: number } {
    return this.#s.totals.get() as { artifacts: number; bytes: number; live: number };
  }

  stored(): { blobs: number; bytes: number } {
    return this.#s.stored.get() as { blobs: number; bytes: number };
  }

  /** Sum of the records' sizes, optionally of one state. */
  totalSize(state?: ArtifactState): number {
    return (state === undefined ? this.#s.sizeAll.get() : this.#s.sizeByState.get(state)) as number;
  }

  names(): number {
    return this.#s.names.get() as number;
  }

  /** Distinct blobs in hash order, a page at a time (keyset paging keeps memory flat on big stores). */
  blobsAfter(hash: string, limit: number): { hash: string; size: number; records: number }[] {
    return this.#s.blobsAfter.all(hash, limit) as { hash: string; size: number; records: number }[];
  }

  /** SQLite's own structural check of the index. */
  quickCheck(): string {
    const rows = this.db.pragma('quick_check') as { quick_check: string }[];
    return rows.map((r) => r.quick_check).join('; ');
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Brings the schema up to date; true when the database was new. */
function migrate(db: DB, path: string): boolean {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const current = (db.prepare('SELECT max(version) FROM schema_version').pluck().get() as number | null) ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new Error(`the artifact index ${path} has schema version ${current}, newer than this Symphony understands (${SCHEMA_VERSION})`);
  }
  for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(v);
    }).immediate();
  }
  return current === 0;
}

function toRecord(r: Row | undefined): ArtifactRecord | undefined {
  if (!r) return undefined;
  return {
    name: r.name,
    version: r.version,
    hash: r.hash,
    size: r.size,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    tags: (JSON.parse(r.tags) as string[]).sort(),
    createdAt: r.created_at,
    lastAccessAt: r.last_access_at,
    accessCount: r.access_count,
    state: r.state,
  };
}
