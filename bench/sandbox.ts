/**
 * SANDBOX section: what the operating-system sandbox costs an isolated extension per start, and
 * the default system's time to ready with it on.
 *
 *  1. Cold activation of one isolated extension (examples/extensions/text-stats: discover, spawn,
 *     hello, activate, ready), sandboxed (bwrap namespaces, seccomp, cgroup, the permission model
 *     inside) and without the OS sandbox (SYMPHONY_SANDBOX=off: the permission model and an empty
 *     network namespace), interleaved pair by pair so both see the same machine; the cost per
 *     start is the median of the pairs' differences, with its spread.
 *  2. The parts of it: `bwrap ... node -e ''` against a bare `node -e ''`, and the cgroup's
 *     creation and removal.
 *  3. The default system (examples/symphony.yaml) from a cold process to ready, sandbox on and off.
 *
 *   npm run bench -- sandbox
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BootReport } from '../src/index.js';
import { Bus } from '../src/bus/index.js';
import { Orchestra } from '../src/orchestra/index.js';
import { BWRAP, bwrapArgs, createCgroup, probeSandbox, resetSandboxProbe, runtimeView } from '../src/sandbox/index.js';
import { grantsFor } from '../test/helpers.js';
import { fmtMs, header, percentile, printTable, ROOT, stats, writeJson, type Stats } from './lib.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const cli = join(ROOT, 'dist/cli/main.js');
const RUNS = 20;
/** A signed duration (a difference may be negative on a noisy machine). */
const fmtSigned = (ms: number) => (ms < 0 ? `-${fmtMs(-ms)}` : fmtMs(ms));

function wall(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((done, fail) => {
    const t = performance.now();
    const child = spawn(command, args, { stdio: 'ignore', env, cwd: ROOT });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done(performance.now() - t) : fail(new Error(`${command} ${args.join(' ')} exited ${code}`))));
  });
}

/** One cold activation of text-stats in a fresh Orchestra, spawn to ready. */
async function coldStart(sandbox: boolean): Promise<{ ms: number; isolation: string }> {
  if (!sandbox) process.env.SYMPHONY_SANDBOX = 'off';
  resetSandboxProbe();
  probeSandbox(); // once per kernel process, not per start: kept out of the figure
  const dir = resolve(ROOT, 'examples/extensions/text-stats');
  const b = new Bus();
  const o = new Orchestra(b, { paths: [dir], grants: grantsFor([dir]) }, silent, ROOT);
  try {
    const t = performance.now();
    await o.start();
    await o.activate('text-stats'); // onStartup or onCall: the figure is the first start either way
    const ms = performance.now() - t;
    return { ms, isolation: o.status()[0]!.isolation };
  } finally {
    await o.stop();
    await b.stop();
    delete process.env.SYMPHONY_SANDBOX;
    resetSandboxProbe();
  }
}

const row = (label: string, s: Stats) => [label, fmtSigned(s.p50), fmtSigned(s.p10), fmtSigned(s.p90), fmtSigned(s.min), fmtSigned(s.max)];

export async function sandboxBench(): Promise<void> {
  // The sandbox drops NODE_EXTRA_CA_CERTS when its view lacks the file (loading a system's CA bundle
  // costs a fresh node ~30 ms): compared with it on one side only, the sandbox would look faster.
  if (process.env.NODE_EXTRA_CA_CERTS) {
    console.log(`   NODE_EXTRA_CA_CERTS unset for this bench (it was ${process.env.NODE_EXTRA_CA_CERTS}): both sides start node without it`);
    delete process.env.NODE_EXTRA_CA_CERTS;
  }
  const probe = probeSandbox();
  if (!probe.available) {
    console.log(`sandbox bench: the sandbox is unavailable here (${probe.reason}; ${probe.remedy}): nothing to measure`);
    return;
  }
  header("SANDBOX: an isolated extension's cold activation with and without the OS sandbox (interleaved pairs)", 'npm run bench -- sandbox');
  const on: number[] = [];
  const off: number[] = [];
  const diff: number[] = [];
  await coldStart(true); // warm the file cache and ldd's answer, not counted
  for (let i = 0; i < RUNS; i++) {
    const a = await coldStart(true);
    const b = await coldStart(false);
    if (a.isolation !== 'sandboxed' || b.isolation !== 'degraded') throw new Error(`sandbox bench: expected sandboxed/degraded, got ${a.isolation}/${b.isolation}`);
    on.push(a.ms);
    off.push(b.ms);
    diff.push(a.ms - b.ms);
  }
  const heads = ['case', 'p50', 'p10', 'p90', 'min', 'max'];
  printTable(heads, [row('sandboxed (bwrap + seccomp + cgroup + permission model)', stats(on)), row('without the OS sandbox (permission model + netns)', stats(off)), row("the sandbox's cost per start (pairwise difference)", stats(diff))]);

  // Its parts: bwrap's namespaces and view around a bare node, and a cgroup's life.
  const bare: number[] = [];
  const wrapped: number[] = [];
  const args = bwrapArgs({ runtime: runtimeView(process.execPath), readOnly: [], writable: [], net: false, env: {}, cwd: '/', scratchMb: 64 }, process.execPath, ['-e', '']);
  const cgroupMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(await wall(process.execPath, ['-e', '']));
    wrapped.push(await wall(BWRAP, args, {}));
    const t = performance.now();
    const g = createCgroup('bench-sandbox', { memoryBytes: 128 << 20, cpuPercent: 100, processes: 64 });
    if (!('unavailable' in g)) g.remove();
    cgroupMs.push(performance.now() - t);
  }
  const bwrapCost = bare.map((b, i) => wrapped[i]! - b);
  printTable(heads, [row('bare `node -e ""` (spawn to exit)', stats(bare)), row('the same inside bwrap (namespaces, view from an empty root)', stats(wrapped)), row("  bwrap's own cost (pairwise)", stats(bwrapCost)), row('cgroup created and removed (memory, pids, cpu)', stats(cgroupMs))]);

  header('SANDBOX: the default system (examples/symphony.yaml) from a cold process to ready, sandbox on and off', 'npm run bench -- sandbox');
  const dir = mkdtempSync(join(tmpdir(), 'symphony-bench-sandbox-'));
  const ready: Record<'on' | 'off', number[]> = { on: [], off: [] };
  const levels = new Set<string>();
  for (let i = 0; i < RUNS / 4; i++) {
    for (const mode of ['on', 'off'] as const) {
      const report = join(dir, `${mode}-${i}.json`);
      const env = { ...process.env, ...(mode === 'off' ? { SYMPHONY_SANDBOX: 'off' } : {}) };
      await wall(process.execPath, [cli, 'up', '--once', '-c', join(ROOT, 'examples/symphony.yaml'), '--report', report, '--log', 'json'], env);
      const r = JSON.parse(readFileSync(report, 'utf8')) as BootReport & { isolation?: string };
      ready[mode].push(r.processMs + r.readyMs);
      levels.add(`${mode}: ${r.isolation ?? '?'}`);
    }
  }
  printTable(heads, [row('default system, sandbox on: process start to ready', stats(ready.on)), row('default system, sandbox off (degraded): process start to ready', stats(ready.off))]);
  console.log(`   isolation reported at ready: ${[...levels].join(', ')}. Its onStartup isolated extension (text-stats) starts within the boot; the onCall one (summarizer) at its first call.`);
  console.log(`   spread of the per-start cost: p90 - p10 = ${fmtMs(percentile(diff, 90) - percentile(diff, 10))}.`);
  writeJson('sandbox', { on, off, diff, bare, wrapped, cgroupMs, ready });
}
