/**
 * SYSTEM section: the whole default system from a cold process to ready (and with the Python
 * Conductor), beside a bare `node -e ''` start measured the same way in the same run, with the
 * sandbox on where the machine has it; kernel overhead; RSS at ready (split into the process's own
 * and file-backed pages) beside a bare Node process; the Conductor's dispatch overhead per melody
 * step, in process and through an isolated extension.
 *
 *   npm run bench -- system
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel, kernelOptions, loadSystem, type BootReport } from '../src/index.js';
import type { Bus } from '../src/bus/index.js';
import { fmtBytes, fmtMs, fmtRatio, header, median, percentile, printTable, ROOT, verdict, writeJson } from './lib.js';
import { bareMemory, systemMemoryAtReady, type ProcessMemory } from './system-memory.js';

const cli = join(ROOT, 'dist/cli/main.js');

/** Runs a command to its exit; resolves with the wall time. */
function wall(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(command, args, { stdio: 'ignore', env, cwd: ROOT });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${command} ${args.join(' ')} exited ${code}`))));
  });
}

export async function systemBench(): Promise<void> {
  header('SYSTEM: cold start of the default system to ready, vs a bare node start (same run, interleaved)', 'npm run bench -- system');
  const dir = mkdtempSync(join(tmpdir(), 'symphony-bench-system-'));
  // Five fresh boots, as the target is stated (median, with the spread); the rounds interleave
  // every case, so a load change on this shared machine hits them alike.
  const runs = 5;
  const bare: number[] = [];
  const ts: { ready: number; overhead: number; rss: number; wall: number; isolation: string }[] = [];
  const py: { ready: number }[] = [];
  const bareMem: ProcessMemory[] = [];
  const sysMem: ProcessMemory[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(await wall(process.execPath, ['-e', '']));
    bareMem.push(await bareMemory());
    const report = join(dir, `ts-${i}.json`);
    const w = await wall(process.execPath, [cli, 'up', '--once', '--report', report, '--log', 'json', '--data', join(dir, `data-${i}`)]);
    const r = JSON.parse(readFileSync(report, 'utf8')) as BootReport;
    ts.push({ ready: r.processMs + r.readyMs, overhead: r.kernelOverheadMs, rss: r.memory.rssBytes, wall: w, isolation: r.isolation });
    sysMem.push(await systemMemoryAtReady(cli, ROOT, join(dir, `serve-${i}`)));
    const pyReport = join(dir, `py-${i}.json`);
    await wall(process.execPath, [cli, 'up', '--once', '-c', join(ROOT, 'examples/python-conductor.yaml'), '--report', pyReport, '--log', 'json', '--data', join(dir, `py-data-${i}`)]);
    const p = JSON.parse(readFileSync(pyReport, 'utf8')) as BootReport;
    py.push({ ready: p.processMs + p.readyMs });
  }
  const m = (xs: number[]) => median(xs);
  const spread = (xs: number[]) => `${fmtMs(Math.min(...xs))}-${fmtMs(Math.max(...xs))}`;
  const readies = ts.map((t) => t.ready);
  const readyTs = m(readies);
  const readyPy = m(py.map((t) => t.ready));
  const sandboxed = ts.every((t) => t.isolation === 'sandboxed');
  printTable(
    ['case', 'p50', 'spread (min-max)', 'vs bare node', 'target', 'verdict'],
    [
      ['bare `node -e ""` (spawn to exit)', fmtMs(m(bare)), spread(bare), '1.00x', '—', '—'],
      [`default system: process start to ready (${sandboxed ? 'sandbox on' : 'sandbox NOT on: ' + ts.map((t) => t.isolation).join(', ')})`, fmtMs(readyTs), spread(readies), fmtRatio(readyTs / m(bare)), '250 ms', verdict(readyTs <= 250 && sandboxed)],
      ['  kernel overhead (ready minus the components\' own time)', fmtMs(m(ts.map((t) => t.overhead))), spread(ts.map((t) => t.overhead)), '—', '20 ms', verdict(m(ts.map((t) => t.overhead)) <= 20)],
      ['with the Python Conductor: process start to ready', fmtMs(readyPy), spread(py.map((t) => t.ready)), fmtRatio(readyPy / m(bare)), '500 ms', verdict(readyPy <= 500)],
    ],
  );
  const mem = (xs: ProcessMemory[], k: keyof ProcessMemory) => m(xs.map((x) => x[k]));
  const over = (k: keyof ProcessMemory) => mem(sysMem, k) - mem(bareMem, k);
  printTable(
    ['process (/proc/PID/status at ready, no dashboard page open)', 'RSS p50', 'RssAnon (own)', 'RssFile (file-backed)', 'RSS above bare node', 'target', 'verdict'],
    [
      ['bare node', fmtBytes(mem(bareMem, 'rssBytes')), fmtBytes(mem(bareMem, 'anonBytes')), fmtBytes(mem(bareMem, 'fileBytes')), '—', '—', '—'],
      ['kernel process at ready (default system)', fmtBytes(mem(sysMem, 'rssBytes')), `${fmtBytes(mem(sysMem, 'anonBytes'))} (+${fmtBytes(over('anonBytes'))})`, `${fmtBytes(mem(sysMem, 'fileBytes'))} (+${fmtBytes(over('fileBytes'))})`, fmtBytes(over('rssBytes')), '15 MB', verdict(over('rssBytes') <= 15 * 1024 * 1024)],
    ],
  );
  console.log(`   the boot report's own reading at ready (up --once): ${fmtBytes(m(ts.map((t) => t.rss)))} p50.`);

  header('SYSTEM: Conductor dispatch overhead per melody step (chains of 10 and 40 steps), vs calling the same method directly', 'npm run bench -- system');
  const system = await loadSystem(join(ROOT, 'examples/symphony.yaml'));
  system.components.pit = { ...system.components.pit, with: { dataDir: mkdtempSync(join(tmpdir(), 'symphony-bench-pit-')) } };
  system.components.noop = { use: { start: (ctx) => void (ctx.deps.bus as Bus).handle('bench.noop', () => ({ ok: true })) }, needs: ['bus'] };
  const k = new Kernel(kernelOptions(system));
  await k.start();
  const bus = k.get('bus') as Bus;
  const chain = (n: number, call: string, params: unknown) => {
    const s: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) s[`s${i}`] = { call, with: params, ...(i ? { needs: [`s${i - 1}`] } : {}) };
    return { melody: 'chain', steps: s };
  };
  const cases: Record<string, [string, unknown]> = { 'in-process': ['bench.noop', {}], isolated: ['text.stats', { text: 'a b c' }] };
  const perStep: Record<string, { short: number[]; long: number[]; direct: number[] }> = {};
  for (const name of Object.keys(cases)) perStep[name] = { short: [], long: [], direct: [] };
  for (let round = 0; round < 12; round++) {
    for (const [name, [method, params]] of Object.entries(cases)) {
      const timeRun = async (n: number) => {
        const t = performance.now();
        await bus.request('melody.run', { melody: chain(n, method, params) });
        return performance.now() - t;
      };
      const short = await timeRun(10);
      const long = await timeRun(40);
      const t = performance.now();
      for (let i = 0; i < 40; i++) await bus.request(method, params);
      const direct = (performance.now() - t) / 40;
      if (round >= 2) {
        perStep[name]!.short.push(short);
        perStep[name]!.long.push(long);
        perStep[name]!.direct.push(direct);
      }
    }
  }
  printTable(
    ['provider', 'run of 10 steps', 'run of 40 steps', 'per step (marginal)', 'direct call', 'dispatch overhead per step', 'fixed cost per run'],
    Object.entries(perStep).map(([name, r]) => {
      const marginal = (m(r.long) - m(r.short)) / 30;
      return [name, fmtMs(m(r.short)), fmtMs(m(r.long)), fmtMs(marginal), fmtMs(m(r.direct)), fmtMs(marginal - m(r.direct)), fmtMs(m(r.short) - 10 * marginal)];
    }),
  );
  console.log('   per step: a DAG Tracker start and complete (checkpointed: one SQLite commit per event-loop turn), a budget decision, expressions, the call.');
  console.log('   per run: checking the melody, creating the run (committed at once), storing the result in the Artifact Store (fsync).');
  await k.stop();
  writeFileSync(join(dir, 'done'), '');
  writeJson('system', { bare, ts, py, bareMem, sysMem, perStep });
}
