/**
 * The Pit's fsyncs, seen from inside the process that makes them: strace attached to this very
 * process (every thread, libuv's pool included) records the syncs and renames an operation makes
 * before it resolves. test/pit/durability.test.ts checks the same on the built dist/ in a child;
 * this one runs the sources in place, so a mutation run (which mutates src/, not dist/) sees
 * a removed fsync too. Under CI a missing strace is a failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../src/pit/artifacts/index.js';
import { DagTracker } from '../../src/pit/dag/index.js';
import type { PitContext } from '../../src/pit/extension.js';
import { quietContext } from '../fixtures/pit/quiet-context.mjs';

const hasStrace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
const traced = hasStrace || process.env.CI ? it : (name: string, fn: () => Promise<void>) => it.skip(`${name} (skipped: needs strace)`, fn);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'symphony-fsync-'));
  dirs.push(d);
  return d;
};

const ctx = (dataDir: string, config: Record<string, unknown> = {}): PitContext => quietContext(dataDir, config);

interface Call {
  kind: 'sync' | 'rename';
  path: string;
  line: string;
}

/** fsyncs a marker file until strace's output shows it: strace is then attached to every thread. */
async function syncMarker(marker: string, out: string): Promise<void> {
  const fd = openSync(marker, 'w');
  try {
    for (let i = 0; i < 200; i++) {
      fsyncSync(fd);
      if (existsSync(out) && readFileSync(out, 'utf8').includes(marker)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`strace never showed ${marker}`);
  } finally {
    closeSync(fd);
  }
}

/** The syncs and renames `fn` makes before it resolves, as strace saw them. */
async function trace(dir: string, fn: () => Promise<unknown>): Promise<Call[]> {
  const out = join(dir, 'strace.out');
  const st = spawn('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', out, '-p', String(process.pid)], { stdio: 'ignore' });
  const exited = new Promise((r) => st.once('exit', r));
  try {
    await syncMarker(join(dir, 'begin.marker'), out);
    await fn();
    await syncMarker(join(dir, 'end.marker'), out);
  } finally {
    st.kill('SIGINT');
    await exited;
  }
  const lines = readFileSync(out, 'utf8').split('\n');
  const begin = lines.findLastIndex((l) => l.includes('begin.marker'));
  const end = lines.findIndex((l) => l.includes('end.marker'));
  const calls: Call[] = [];
  for (const line of lines.slice(begin + 1, end)) {
    const m = /^\d+ +(fsync|fdatasync|rename|renameat2?)\((.*)\) += 0$/.exec(line);
    if (!m) continue;
    if (m[1]!.startsWith('rename')) {
      const quoted = [...m[2]!.matchAll(/"([^"]*)"/g)].map((q) => q[1]!);
      calls.push({ kind: 'rename', path: quoted.at(-1)!, line });
    } else {
      calls.push({ kind: 'sync', path: /<([^>]*)>/.exec(m[2]!)?.[1] ?? m[2]!, line });
    }
  }
  return calls;
}

describe('fsync before an acknowledgement (in process)', () => {
  traced('an artifact put: blob synced, renamed, its new shard folder and the blob folder synced, then the index', async () => {
    const dir = tempDir();
    const store = new ArtifactStore();
    await store.init(ctx(dir));
    try {
      const calls = await trace(dir, () => store.put({ name: 'probe', data: 'durable bytes' }));
      const text = calls.map((c) => c.line).join('\n');
      const blobSync = calls.findIndex((c) => c.kind === 'sync' && c.path.startsWith(join(dir, 'tmp/')));
      const rename = calls.findIndex((c) => c.kind === 'rename' && c.path.startsWith(join(dir, 'blobs/')));
      expect(blobSync, `the blob's content is synced:\n${text}`).toBeGreaterThanOrEqual(0);
      expect(rename, `renamed to its address after its sync:\n${text}`).toBeGreaterThan(blobSync);
      const shard = calls[rename]!.path.slice(0, calls[rename]!.path.lastIndexOf('/'));
      // The shard folder is new: its entry in blobs/sha256 is synced before the blob lands in it.
      const shardEntry = calls.findIndex((c) => c.kind === 'sync' && c.path === join(dir, 'blobs', 'sha256'));
      expect(shardEntry, `the new shard's parent is synced:\n${text}`).toBeGreaterThanOrEqual(0);
      expect(shardEntry).toBeLessThan(rename);
      const folderSync = calls.findIndex((c, i) => i > rename && c.kind === 'sync' && c.path === shard);
      expect(folderSync, `the blob's folder is synced after the rename:\n${text}`).toBeGreaterThan(rename);
      const indexSync = calls.findLastIndex((c) => c.kind === 'sync' && c.path.startsWith(join(dir, 'index.db')));
      expect(indexSync, `the index commit is synced after the blob is in place:\n${text}`).toBeGreaterThan(folderSync);
    } finally {
      await store[Symbol.asyncDispose]();
    }
  });

  traced('a second put into a shard that exists syncs the blob and its folder but not the shard parent again', async () => {
    const dir = tempDir();
    const store = new ArtifactStore();
    await store.init(ctx(dir));
    try {
      await store.put({ name: 'first', data: 'same shard?' });
      // The same content again lands in the same shard (a duplicate is renamed over, deliberately).
      const calls = await trace(dir, () => store.put({ name: 'second', data: 'same shard?' }));
      const text = calls.map((c) => c.line).join('\n');
      expect(calls.some((c) => c.kind === 'sync' && c.path.startsWith(join(dir, 'tmp/'))), text).toBe(true);
      expect(calls.some((c) => c.kind === 'sync' && c.path === join(dir, 'blobs', 'sha256')), text).toBe(false);
      expect(calls.some((c) => c.kind === 'rename'), text).toBe(true);
    } finally {
      await store[Symbol.asyncDispose]();
    }
  });

  traced('a new store makes its folders durable from the topmost one it created', async () => {
    const base = tempDir();
    const dir = join(base, 'made', 'here');
    const calls = await trace(base, async () => {
      const store = new ArtifactStore();
      await store.init(ctx(dir));
      await store[Symbol.asyncDispose]();
    });
    const synced = new Set(calls.filter((c) => c.kind === 'sync').map((c) => c.path));
    const text = calls.map((c) => c.line).join('\n');
    for (const d of [base, join(base, 'made'), dir, join(dir, 'blobs')]) expect(synced.has(d), `${d} synced:\n${text}`).toBe(true);
    // From the top down: each new folder's entry is durable before the folders made inside it.
    const first = (d: string) => calls.findIndex((c) => c.kind === 'sync' && c.path === d);
    expect(first(base), text).toBeLessThan(first(join(base, 'made')));
    expect(first(join(base, 'made')), text).toBeLessThan(first(dir));
  });

  traced("durability 'fsync': a DAG completion returns only after its commit is synced", async () => {
    const dir = tempDir();
    const t = new DagTracker();
    await t.init(ctx(dir, { durability: 'fsync' }));
    try {
      const { run } = t.create({ nodes: [{ id: 'a' }, { id: 'b', needs: ['a'] }] });
      t.start(run, 'a');
      const calls = await trace(dir, async () => t.complete(run, 'a', { ok: true }));
      expect(calls.some((c) => c.kind === 'sync' && c.path.startsWith(join(dir, 'dag.db'))), calls.map((c) => c.line).join('\n')).toBe(true);
    } finally {
      await t[Symbol.asyncDispose]();
    }
  });

  traced("durability 'commit': a DAG completion commits without an fsync (what the mode promises, and costs)", async () => {
    const dir = tempDir();
    const t = new DagTracker();
    await t.init(ctx(dir, { durability: 'commit' }));
    try {
      const { run } = t.create({ nodes: [{ id: 'a' }] });
      t.start(run, 'a');
      const calls = await trace(dir, async () => t.complete(run, 'a'));
      expect(calls.filter((c) => c.kind === 'sync' && c.path.startsWith(join(dir, 'dag.db')))).toEqual([]);
    } finally {
      await t[Symbol.asyncDispose]();
    }
  });
});
