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
      const h = t.health() as { status: string; detail: { pendingWrites: number; lastFlushError?: string } };
      expect(h.status).toBe('degraded');
      expect(h.detail.pendingWrites).toBe(1);
      expect(h.detail.lastFlushError).toMatch(/^database is locked \(at \d{4}-/);
      // The next change writes both: the node row kept from the failed write, then this one.
      t.complete(run, 'a', { ok: 1 });
      const after = t.health() as { status: string; detail: { pendingWrites: number; lastFlushError?: string } };
      expect(after).toMatchObject({ status: 'healthy', detail: { pendingWrites: 0 } });
      expect(after.detail.lastFlushError).toBeUndefined();
    } finally {
      await t.shutdown();
    }
    // What a restart finds is what was answered.
    const again = new DagTracker();
    await again.init(quietContext(ctx.dataDir, { durability: 'commit' }));
    try {
      const [r] = again.runs().runs;
      expect(again.status(r!.run).nodes).toMatchObject({ a: { state: 'succeeded', attempts: 1, output: { ok: 1 } }, b: { state: 'ready' } });
    } finally {
      await again.shutdown();
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
        t.start(run, 'a'); // answered: batched writes at the end of the turn
        await new Promise((r) => setImmediate(r));
      } finally {
        release();
      }
      expect(errors).toEqual([expect.stringMatching(/^writing 1 change\(s\) to .*dag\.db failed; kept for the next attempt: database is locked/)]);
      expect(t.health()).toMatchObject({ status: 'degraded', detail: { pendingWrites: 1 } });
      t.create({ nodes: [{ id: 'x' }] });
      expect(t.health()).toMatchObject({ status: 'healthy', detail: { pendingWrites: 0 } });
    } finally {
      await t.shutdown();
    }
  }, 20_000);
});
