/**
 * The blob layer under the Artifact Store (src/pit/artifacts/blobs.ts) and the DAG Tracker's
 * SQLite file (src/pit/dag/store.ts), called directly: limits, batching, the walk over the blob
 * folders and their refusals, as the mutation run found them unchecked (see docs/testing.md).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlobLayout, BlobTooLargeError, BlobWriter, exists, forEachLimit, fsyncDir, hashFile, sizeOf } from '../../src/pit/artifacts/blobs.js';
import { DagStore } from '../../src/pit/dag/store.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'symphony-blobs-'));
  dirs.push(d);
  return d;
};
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('BlobWriter', () => {
  it('hashes and sizes what it wrote, from strings, Buffers and other typed arrays', async () => {
    const dir = tempDir();
    const w = await BlobWriter.open(dir, 1000, 'mixed');
    await w.write('héllo ');
    await w.write(Buffer.from('wor'));
    const bytes = new Uint8Array([0, 108, 100, 0]).subarray(1, 3); // 'ld', a view with an offset
    await w.write(bytes);
    expect(w.size).toBe(12); // é is two bytes
    const { hash, size } = await w.finish();
    expect(size).toBe(12);
    expect(readFileSync(w.path, 'utf8')).toBe('héllo world');
    expect(hash).toBe(sha('héllo world'));
    expect(w.path.startsWith(dir)).toBe(true);
    expect(w.path.endsWith('.part')).toBe(true);
    expect(statSync(w.path).mode & 0o777).toBe(0o600);
  });

  it('refuses a write past the limit, but takes one that reaches it exactly', async () => {
    const dir = tempDir();
    const w = await BlobWriter.open(dir, 10, 'capped');
    await w.write('12345');
    await w.write('67890');
    const err = (await w.write('x').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(BlobTooLargeError);
    expect(err.name).toBe('BlobTooLargeError');
    expect(err.message).toBe("'capped' is larger than the store's limit of 10 bytes (maxBlobBytes)");
    expect((await w.finish()).size).toBe(10);
  });

  it('refuses a write after finish, naming the upload', async () => {
    const w = await BlobWriter.open(tempDir(), 100, 'done-already');
    await w.finish();
    await expect(w.write('more')).rejects.toThrow("the upload of 'done-already' is already finished");
  });

  it('writes in batches of about 1 MiB: nothing reaches the file before a batch is full', async () => {
    const w = await BlobWriter.open(tempDir(), 1 << 30, 'big');
    const chunk = Buffer.alloc(256 * 1024, 7);
    for (let i = 0; i < 3; i++) await w.write(chunk);
    expect(statSync(w.path).size).toBe(0);
    await w.write(chunk); // the fourth makes 1 MiB
    expect(statSync(w.path).size).toBe(1024 * 1024);
    await w.write('tail');
    expect(statSync(w.path).size).toBe(1024 * 1024);
    const { size, hash } = await w.finish();
    expect(size).toBe(1024 * 1024 + 4);
    expect(statSync(w.path).size).toBe(size);
    expect(hash).toBe(sha(Buffer.concat([chunk, chunk, chunk, chunk, Buffer.from('tail')])));
  });

  it('abort removes the temp file (before or after finish) and never throws', async () => {
    const dir = tempDir();
    const w = await BlobWriter.open(dir, 100, 'dropped');
    await w.write('x');
    await w.abort();
    expect(readdirSync(dir)).toEqual([]);
    await w.abort();
    await expect(w.write('y')).rejects.toThrow('already finished');
    const f = await BlobWriter.open(dir, 100, 'finished');
    await f.finish();
    await f.abort();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('BlobLayout', () => {
  it('places a blob at its content address and walks only content addresses, in shard order', async () => {
    const root = tempDir();
    const layout = new BlobLayout(root);
    await layout.prepare();
    expect(layout.index).toBe(join(root, 'index.db'));
    const hashes: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      const w = await BlobWriter.open(layout.tmp, 100, text);
      await w.write(text);
      const { hash } = await w.finish();
      await layout.place(w.path, hash);
      expect(readFileSync(layout.blobPath(hash), 'utf8')).toBe(text);
      hashes.push(hash);
    }
    // Things that are not content addresses are skipped.
    mkdirSync(join(layout.blobs, 'zz'));
    writeFileSync(join(layout.blobs, 'zz', 'a'.repeat(62)), '');
    mkdirSync(join(layout.blobs, 'abc'));
    mkdirSync(join(layout.blobs, 'xab'));
    writeFileSync(join(layout.blobs, hashes[0]!.slice(0, 2), 'short'), '');
    writeFileSync(join(layout.blobs, hashes[0]!.slice(0, 2), `${'b'.repeat(62)}.part`), '');
    writeFileSync(join(layout.blobs, hashes[0]!.slice(0, 2), `x${'b'.repeat(62)}`), '');
    const walked: string[] = [];
    for await (const h of layout.walk()) walked.push(h);
    expect(walked).toEqual([...hashes].sort());
    expect(readdirSync(layout.tmp)).toEqual([]);
  });

  it('walks nothing when there are no blobs yet; cleanTemp removes leftovers and counts them', async () => {
    const layout = new BlobLayout(join(tempDir(), 'absent'));
    const walked: string[] = [];
    for await (const h of layout.walk()) walked.push(h);
    expect(walked).toEqual([]);
    expect(await layout.cleanTemp()).toBe(0);
    await layout.prepare();
    writeFileSync(join(layout.tmp, 'a.part'), 'x');
    mkdirSync(join(layout.tmp, 'sub'));
    writeFileSync(join(layout.tmp, 'sub', 'b'), 'y');
    expect(await layout.cleanTemp()).toBe(2);
    expect(readdirSync(layout.tmp)).toEqual([]);
  });

  it('a shard folder made by another store instance is used, not an error', async () => {
    const root = tempDir();
    const a = new BlobLayout(root);
    const b = new BlobLayout(root);
    await a.prepare();
    const hash = sha('shared');
    expect(await a.ensureShard(hash)).toBe(join(root, 'blobs', 'sha256', hash.slice(0, 2)));
    expect(await b.ensureShard(hash)).toBe(a.shardDir(hash));
    // Any other failure to make the folder is an error, not a silent success.
    const d = new BlobLayout(join(tempDir(), 'not-prepared'));
    await expect(d.ensureShard(`cd${'0'.repeat(62)}`)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('helpers', () => {
  it.skipIf(!existsSync('/proc/self/fd'))('fsyncDir and hashFile close what they opened (50 calls each leave no descriptor behind)', async () => {
    const dir = tempDir();
    const file = join(dir, 'f');
    writeFileSync(file, 'some bytes');
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 50; i++) await fsyncDir(dir);
    expect(open() - before).toBeLessThan(5);
    for (let i = 0; i < 50; i++) await hashFile(file);
    expect(open() - before).toBeLessThan(5);
  });

  it('hashFile reads a file in pieces smaller than it', async () => {
    const dir = tempDir();
    const data = Buffer.alloc(10_000, 3);
    writeFileSync(join(dir, 'f'), data);
    expect(await hashFile(join(dir, 'f'), Buffer.alloc(1000))).toEqual({ hash: sha(data), size: 10_000 });
    expect(await hashFile(join(dir, 'f'))).toEqual({ hash: sha(data), size: 10_000 });
  });

  it('exists and sizeOf: absent is false/undefined, anything else that fails is thrown', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), '12345');
    expect(await exists(join(dir, 'f'))).toBe(true);
    expect(await exists(join(dir, 'nope'))).toBe(false);
    expect(await sizeOf(join(dir, 'f'))).toBe(5);
    expect(await sizeOf(join(dir, 'nope'))).toBeUndefined();
    // A path through a file: ENOTDIR, not "absent".
    await expect(exists(join(dir, 'f', 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(sizeOf(join(dir, 'f', 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(fsyncDir(join(dir, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('forEachLimit runs every item, never more than the limit at once, with worker numbers below it', async () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    const workers = new Set<number>();
    await forEachLimit(items, 3, async (item, worker) => {
      running++;
      peak = Math.max(peak, running);
      workers.add(worker);
      await new Promise((r) => setTimeout(r, 2));
      seen.push(item);
      running--;
    });
    expect(seen.sort((a, b) => a - b)).toEqual(items);
    expect(peak).toBe(3);
    expect([...workers].sort()).toEqual([0, 1, 2]);
    let calls = 0;
    await forEachLimit([1], 8, async (_i, worker) => void (calls += 1 + worker));
    expect(calls).toBe(1);
  });
});

describe('DagStore', () => {
  it('close releases the database: its WAL is checkpointed into the file and removed', async () => {
    const file = join(tempDir(), 'dag.db');
    const s = await DagStore.open(file, 'commit');
    s.insertRun({ id: 'r', workflow: { id: 'wf', nodes: [] } as never, state: 'running', reason: '', created: 1, updated: 1 });
    expect(existsSync(`${file}-wal`)).toBe(true);
    s.close();
    // The last connection's close folds the log into the file; a handle left open keeps the log.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const again = await DagStore.open(file, 'commit');
    expect(again.hasRun('r')).toBe(true);
    again.close();
  });

  it('refuses a database of another schema version, naming the file', async () => {
    const file = join(tempDir(), 'dag.db');
    const s = await DagStore.open(file, 'commit');
    expect(s.file).toBe(file);
    s.close();
    s.close(); // closing twice is harmless
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file);
    db.prepare("UPDATE meta SET value = '2' WHERE key = 'schema'").run();
    db.close();
    await expect(DagStore.open(file, 'commit')).rejects.toThrow(`${file}: DAG Tracker schema 2 is not supported (expected 1)`);
  });

  it('loads open runs and the most recently finished ones, oldest first, and counts by state', async () => {
    const s = await DagStore.open(join(tempDir(), 'dag.db'), 'commit');
    const wf = { id: 'wf', nodes: [] } as never;
    for (const [id, state, updated] of [['f1', 'succeeded', 10], ['f2', 'failed', 20], ['f3', 'succeeded', 30], ['o1', 'running', 5]] as const) {
      s.insertRun({ id, workflow: wf, state, reason: '', created: updated, updated });
    }
    expect(s.loadRuns(2).map((r) => r.id)).toEqual(['f2', 'f3', 'o1']);
    expect(s.countByState()).toEqual({ succeeded: 2, failed: 1, running: 1 });
    expect(s.hasRun('f1')).toBe(true);
    expect(s.hasRun('zz')).toBe(false);
    s.close();
  });
});
