/**
 * SYSTEM section: the whole default system from a cold process to ready (and with the Python
 * Conductor), beside a bare `node -e ''` start measured the same way in the same run; kernel
 * overhead and RSS at ready beside a bare Node process; the Conductor's dispatch overhead per
 * melody step, in process and through an isolated extension.
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

function bareRss(): Promise<number> {
  return new Promise((resolve) => {
    let out = '';
    const c = spawn(process.execPath, ['-e', 'console.log(process.memoryUsage().rss)']);
    c.stdout.on('data', (d) => (out += d));
    c.on('exit', () => resolve(Number(out)));
  });
}

export async function systemBench(): Promise<void> {
  header('SYSTEM: cold start of the default system to ready, vs a bare node start (same run, interleaved)', 'npm run bench -- system');
  const dir = mkdtempSync(join(tmpdir(), 'symphony-bench-system-'));
  const runs = 10;
  const bare: number[] = [];
  const ts: { ready: number; overhead: number; rss: number; wall: number }[] = [];
  const py: { ready: number }[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(await wall(process.execPath, ['-e', '']));
    rss.push(await bareRss());
    const report = join(dir, `ts-${i}.json`);
    const w = await wall(process.execPath, [cli, 'up', '--once', '--report', report, '--log', 'json']);
    const r = JSON.parse(readFileSync(report, 'utf8')) as BootReport;
    ts.push({ ready: r.processMs + r.readyMs, overhead: r.kernelOverheadMs, rss: r.memory.rssBytes, wall: w });
    const pyReport = join(dir, `py-${i}.json`);
    await wall(process.execPath, [cli, 'up', '--once', '-c', join(ROOT, 'examples/python-conductor.yaml'), '--report', pyReport, '--log', 'json']);
    const p = JSON.parse(readFileSync(pyReport, 'utf8')) as BootReport;
    py.push({ ready: p.processMs + p.readyMs });
  }
  const m = (xs: number[]) => median(xs);
  const readyTs = m(ts.map((t) => t.ready));
  const readyPy = m(py.map((t) => t.ready));
  printTable(
    ['case', 'p50', 'p90', 'vs bare node', 'target', 'verdict'],
    [
      ['bare `node -e ""` (spawn to exit)', fmtMs(m(bare)), fmtMs(percentile(bare, 90)), '1.00x', '—', '—'],
      ['default system: process start to ready', fmtMs(readyTs), fmtMs(percentile(ts.map((t) => t.ready), 90)), fmtRatio(readyTs / m(bare)), '300 ms', verdict(readyTs <= 300)],
      ['  kernel overhead (ready minus the components\' own time)', fmtMs(m(ts.map((t) => t.overhead))), fmtMs(percentile(ts.map((t) => t.overhead), 90)), '—', '20 ms', verdict(m(ts.map((t) => t.overhead)) <= 20)],
      ['with the Python Conductor: process start to ready', fmtMs(readyPy), fmtMs(percentile(py.map((t) => t.ready), 90)), fmtRatio(readyPy / m(bare)), '500 ms', verdict(readyPy <= 500)],
    ],
  );
  const rssTs = m(ts.map((t) => t.rss));
  printTable(
    ['process', 'RSS p50', 'above bare node', 'target', 'verdict'],
    [
      ['bare node', fmtBytes(m(rss)), '—', '—', '—'],
      ['kernel process at ready (default system)', fmtBytes(rssTs), fmtBytes(rssTs - m(rss)), '10 MB (seed: 50 MB)', verdict(rssTs - m(rss) <= 10 * 1024 * 1024)],
    ],
  );

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
  writeJson('system', { bare, ts, py, rss, perStep });
}
