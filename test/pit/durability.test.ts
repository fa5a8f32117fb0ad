/**
 * Durability a test can see: what an acknowledgement promises is read from the system calls made
 * before it (strace), and a commit that cannot land (a full filesystem) must fail its caller.
 * A kill -9 test cannot show either: a killed process never loses the page cache.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const probe = resolve(import.meta.dirname, '../fixtures/pit/durable-ops.mjs');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'symphony-durable-'));
  dirs.push(d);
  return d;
};

const hasStrace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
const isRoot = process.getuid?.() === 0;
// Under CI a missing tool is a failure, never a skip; elsewhere the skip says why.
const needs = (ok: boolean, what: string) => (ok || process.env.CI ? it : (name: string, fn: () => void) => it.skip(`${name} (skipped: needs ${what})`, fn));
const withStrace = needs(hasStrace, 'strace: apt-get install strace');

interface Call {
  name: string;
  /** The fd's path (strace -y) or the rename's target. */
  path: string;
  line: string;
}

/** Runs the probe under strace and returns the file system calls made before its acknowledgement. */
function traceUntilAck(mode: string, dir: string): { before: Call[]; stdout: string } {
  const out = join(dir, '..', `${dir.split('/').at(-1)}.strace`);
  dirs.push(out);
  const r = spawnSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,write', '-o', out, process.execPath, probe, mode, dir], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, `probe failed: ${r.stderr}`).toBe(0);
  const lines = readFileSync(out, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.includes('"MARK ready'));
  const ack = lines.findIndex((l) => l.includes('"ACK '));
  expect(start, 'the probe got ready').toBeGreaterThanOrEqual(0);
  expect(ack, 'the probe acknowledged').toBeGreaterThan(start);
  const before: Call[] = [];
  for (const line of lines.slice(start + 1, ack)) {
    const m = /^\d+ +(fsync|fdatasync|rename|renameat2?)\((.*)\) = 0$/.exec(line);
    if (!m) continue;
    const args = m[2]!;
    const path = m[1]!.startsWith('rename') ? (/"([^"]*)"\)?$/.exec(args.split(', ').at(-1 - (m[1] === 'renameat2' ? 1 : 0))!)?.[1] ?? args) : (/<([^>]*)>/.exec(args)?.[1] ?? args);
    before.push({ name: m[1]!.startsWith('rename') ? 'rename' : 'sync', path, line });
  }
  return { before, stdout: r.stdout };
}

const index = (calls: Call[], pred: (c: Call) => boolean) => calls.findIndex(pred);

describe('durability', () => {
  withStrace('an artifact put is acknowledged only after its blob, its folder and its index row are on disk', () => {
    const dir = tempDir();
    const { before } = traceUntilAck('artifact', dir);
    const trace = before.map((c) => c.line).join('\n');
    const blobSync = index(before, (c) => c.name === 'sync' && c.path.startsWith(join(dir, 'tmp/')));
    const rename = index(before, (c) => c.name === 'rename' && c.path.startsWith(join(dir, 'blobs/')));
    expect(blobSync, `the blob's content is synced before the acknowledgement:\n${trace}`).toBeGreaterThanOrEqual(0);
    expect(rename, `the blob is renamed to its address before the acknowledgement:\n${trace}`).toBeGreaterThan(blobSync);
    const blobFolder = before[rename]!.path.slice(0, before[rename]!.path.lastIndexOf('/'));
    const folderSync = index(before, (c) => c.name === 'sync' && c.path === blobFolder);
    expect(folderSync, `the blob's folder is synced after the rename (the rename is durable only then):\n${trace}`).toBeGreaterThan(rename);
    const indexSync = before.findLastIndex((c) => c.name === 'sync' && c.path.startsWith(join(dir, 'index.db')));
    expect(indexSync, `the index commit is synced after the blob is in place:\n${trace}`).toBeGreaterThan(folderSync);
  });

  withStrace("durability 'fsync': a DAG completion is acknowledged only after its commit is synced", () => {
    const dir = tempDir();
    const { before } = traceUntilAck('dag-fsync', dir);
    expect(before.some((c) => c.name === 'sync' && c.path.startsWith(join(dir, 'dag.db'))), before.map((c) => c.line).join('\n')).toBe(true);
  });

  needs(isRoot, 'root (a private tmpfs mount)')('a DAG commit that cannot land (disk full) fails its caller instead of reporting success', () => {
    const dir = tempDir();
    // A private mount namespace: the small tmpfs exists for the probe alone and goes with it.
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" "$3" dag-full "$1"`, 'sh', dir, process.execPath, probe], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('MARK full ENOSPC');
    expect(r.stdout).not.toContain('ACK');
    expect(r.stdout).toMatch(/^FAILED -32603 .*(disk is full|could not persist)/m);
  });
});
