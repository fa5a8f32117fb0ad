/**
 * The DAG Tracker's checkpoint when a write cannot land, in process (test/pit/durability.test.ts
 * checks a full disk on the built dist/ in a child): a second connection holds the database's write
 * lock, so the tracker's commit fails for real (SQLITE_BUSY after its busy timeout). A call that
 * must commit hears of it; nothing is lost: the changes stay queued and land with the next write.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/bus/index.js';
import { DagTracker } from '../../src/pit/dag/index.js';
import { quietContext } from '../fixtures/pit/quiet-context.mjs';
import { pitContext } from './context.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Holds the write lock of `file` from another connection until released. */
async function lockWrites(file: string): Promise<() => void> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file);
  db.exec('BEGIN IMMEDIATE');
  return () => {
    db.exec('ROLLBACK');
    db.close();
  };
}

describe('DAG checkpoint, a write that cannot land', () => {
  it("durability 'commit': the call fails with -32603, health is degraded, and the queued change lands with the next write", async () => {
    const { ctx } = pitContext({ publish() {} } as never, { durability: 'commit' });
    dirs.push(ctx.dataDir);
    const t = new DagTracker();
    await t.init(ctx);
    try {
      const { run } = t.create({ nodes: [{ id: 'a' }, { id: 'b', needs: ['a'] }] });
      const release = await lockWrites(join(ctx.dataDir, 'dag.db'));
      let err: { code?: number; message?: string } | undefined;
      try {
        t.start(run, 'a');
      } catch (e) {
        err = e as typeof err;
      } finally {
        release();
      }
      expect(err?.code).toBe(ErrorCode.InternalError);
      expect(err?.message).toMatch(/^the DAG Tracker could not persist the change: database is locked/);
      expect((err as { cause?: { code?: string } }).cause?.code).toBe('SQLITE_BUSY');
      const h = t.health() as { status: string; detail: { pendingWrites: number; lastFlushError?: string } };
      expect(h.status).toBe('degraded');
      expect(h.detail.pendingWrites).toBe(1);
      expect(h.detail.lastFlushError).toMatch(/^database is locked \(at \d{4}-/);
      // The next change writes both: the node row kept from the failed write, then this one.
      t.complete(run, 'a', { ok: 1 });
      const after = t.health() as { status: string; detail: { pendingWrites: number; lastFlushError?: string } };
      // Two writes landed: the create (the run and a, ready) and the complete (a, queued once though changed twice, and b, now ready).
      expect(after).toMatchObject({ status: 'healthy', detail: { pendingWrites: 0, stats: { created: 1, updates: 2, flushes: 2, rowsWritten: 4 } } });
      expect(after.detail.lastFlushError).toBeUndefined();
    } finally {
      await t[Symbol.asyncDispose]();
    }
    await t[Symbol.asyncDispose](); // a second shutdown finds nothing to close
    // What a restart finds is what was answered.
    const again = new DagTracker();
    await again.init(quietContext(ctx.dataDir, { durability: 'commit' }));
    try {
      const [r] = again.runs().runs;
      expect(again.status(r!.run).nodes).toMatchObject({ a: { state: 'succeeded', attempts: 1, output: { ok: 1 } }, b: { state: 'ready' } });
    } finally {
      await again[Symbol.asyncDispose]();
    }
  }, 20_000);

  it("durability 'batched': the end-of-turn write fails quietly (logged, kept), and a create, which must commit, lands it", async () => {
    const { ctx } = pitContext({ publish() {} } as never);
    dirs.push(ctx.dataDir);
    const errors: string[] = [];
    const t = new DagTracker();
    await t.init({ ...ctx, log: { ...ctx.log, error: (m: string) => void errors.push(m) } });
    try {
      const { run } = t.create({ nodes: [{ id: 'a' }] });
      const release = await lockWrites(join(ctx.dataDir, 'dag.db'));
      try {
        // Answered at once: batched writes at the end of the turn (the node, and the run it finished).
        t.start(run, 'a');
        t.complete(run, 'a');
        // A read flushes first; its failure is not the reader's: it still gets its answer.
        expect(t.runs().runs.map((r) => r.run)).toEqual([run]);
        await new Promise((r) => setImmediate(r));
      } finally {
        release();
      }
      // One attempt: the read's flush took the end-of-turn write's place.
      expect(errors).toEqual([expect.stringMatching(/^writing 2 change\(s\) to .*dag\.db failed; kept for the next attempt: database is locked/)]);
      expect(t.health()).toMatchObject({ status: 'degraded', detail: { pendingWrites: 2 } });
      t.create({ nodes: [{ id: 'x' }] });
      expect(t.health()).toMatchObject({ status: 'healthy', detail: { pendingWrites: 0 } });
    } finally {
      await t[Symbol.asyncDispose]();
    }
  }, 20_000);

  it("a create that cannot commit is refused and forgotten: no run, nothing of it queued (another run's changes stay)", async () => {
    const { ctx } = pitContext({ publish() {} } as never);
    dirs.push(ctx.dataDir);
    const t = new DagTracker();
    await t.init(ctx);
    let other = '';
    try {
      other = t.create({ nodes: [{ id: 'a' }] }).run;
      // Batched: the node's change and its run's end are queued for the end of the turn.
      t.start(other, 'a');
      t.complete(other, 'a');
      const release = await lockWrites(join(ctx.dataDir, 'dag.db'));
      try {
        expect(() => t.create({ nodes: [{ id: 'a' }] }, { run: 'lost' })).toThrow(/^the DAG Tracker could not persist the change: database is locked/);
      } finally {
        release();
      }
      expect(t.health()).toMatchObject({ status: 'degraded', detail: { pendingWrites: 2 } });
      expect(() => t.status('lost')).toThrow("dag.status: no run 'lost'");
      // The id is free again: the create that failed never existed.
      expect(t.create({ nodes: [{ id: 'b' }] }, { run: 'lost' }).run).toBe('lost');
      expect(t.health()).toMatchObject({ status: 'healthy', detail: { pendingWrites: 0 } });
    } finally {
      await t[Symbol.asyncDispose]();
    }
    const again = new DagTracker();
    await again.init(quietContext(ctx.dataDir));
    try {
      expect(again.status(other)).toMatchObject({ state: 'succeeded', nodes: { a: { state: 'succeeded' } } });
      expect(Object.keys(again.status('lost').nodes)).toEqual(['b']);
    } finally {
      await again[Symbol.asyncDispose]();
    }
  }, 20_000);

  it('a node row keeps its retry time only while it is retrying', async () => {
    const { ctx } = pitContext({ publish() {} } as never, { durability: 'commit' });
    dirs.push(ctx.dataDir);
    const t = new DagTracker();
    await t.init(ctx);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(ctx.dataDir, 'dag.db'), { readonly: true });
    const readyAt = () => db.prepare<[], { ready_at: number | null }>("SELECT ready_at FROM nodes WHERE id = 'a'").get()?.ready_at;
    try {
      const { run } = t.create({ nodes: [{ id: 'a', recovery: { strategy: 'retry', retries: 1, backoff: 'constant', delayMs: 30_000 } }] });
      t.start(run, 'a');
      const before = Date.now();
      t.fail(run, 'a', 'flaky');
      expect(readyAt()).toBeGreaterThanOrEqual(before + 30_000);
      // Cancelled while waiting out its backoff: the time it would have been ready means nothing now.
      t.cancel(run);
      expect(t.status(run).nodes.a?.state).toBe('cancelled');
      expect(readyAt()).toBeNull();
    } finally {
      db.close();
      await t[Symbol.asyncDispose]();
    }
  });
});
