/**
 * PIT section: each Pit operation called through the in-process bus, against a bare bus call to a
 * no-op handler measured the same way in the same run, beside the seed's figures; and the
 * activation latency of an isolated extension against a bare `node` start.
 *
 *   npm run bench -- pit
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Bus } from '../src/bus/index.js';
import { Orchestra } from '../src/orchestra/index.js';
import { probeSandbox, resetSandboxProbe } from '../src/sandbox/index.js';
import { ArbitrationEngine, ArtifactStore, DagTracker, Pit, PoolManager, StaleManager } from '../src/pit/index.js';
import { fmtMs, fmtRatio, header, median, percentile, printTable, ROOT, writeJson } from './lib.js';
import { grantsFor } from '../test/helpers.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

/** Operations per second with `window` calls in flight at all times, `n` calls in all. */
async function throughput(n: number, window: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return (n / (performance.now() - t)) * 1000;
}

const WINDOW = 64;
const fmtRate = (perSecond: number) => (Number.isFinite(perSecond) ? `${Math.round(perSecond).toLocaleString('en-US')}/s` : '—');
const sequentialRate = (ms: number[]) => 1000 / (ms.reduce((a, b) => a + b, 0) / ms.length);

async function startPit(artifactSettings: { synchronous: 'full' | 'normal' }): Promise<{ bus: Bus; pit: Pit }> {
  const bus = new Bus();
  const dataDir = mkdtempSync(join(tmpdir(), 'symphony-bench-pit-'));
  const artifacts = new ArtifactStore();
  const pit = new Pit(bus, [new PoolManager(), new DagTracker(), artifacts, new ArbitrationEngine(), new StaleManager(() => artifacts)], { dataDir, artifacts: artifactSettings }, silent);
  await pit.start();
  return { bus, pit };
}

export async function pitBench(): Promise<void> {
  header(`PIT: each operation through the in-process bus: latency (p50, p99) and throughput (one at a time, ${WINDOW} in flight), beside a no-op bus call and the seed`, 'npm run bench -- pit');
  const { bus, pit } = await startPit({ synchronous: 'full' });
  bus.handle('bench.noop', () => null);
  await bus.request('pool.define', { pool: 'models', capacity: 4, concurrency: 1000 });
  await bus.request('arbiter.define', { resource: 'gpu', strategy: 'priority', capacity: 1 });
  const N = 3000;
  const wf = { nodes: Array.from({ length: 64 }, (_, i) => ({ id: `n${i}` })) };
  for (let i = 0; i < 200; i++) await bus.request('bench.noop'); // warm-up
  await bus.request('pool.allocate', { pool: 'models', key: 'llama', holder: 'warm' });
  await bus.request('artifacts.put', { name: 'bench.doc', data: 'x'.repeat(100), metadata: { v: 1 } });
  for (let i = 0; i < 200; i++) await bus.request('artifacts.put', { name: `bench.old.${i}`, data: `content ${i}`, tags: i % 5 ? [] : ['keep'] });
  await bus.request('stale.rules.set', { rules: [{ id: 'old', match: 'bench.old.*', maxAgeMs: 0, keepTagged: ['keep'], action: 'archive' }] });

  const results: Record<string, number[]> = {};
  results.noop = await timeEach(N, () => bus.request('bench.noop'));
  results.allocate = await timeEach(N, async () => {
    const lease = (await bus.request('pool.allocate', { pool: 'models', key: 'llama', holder: 'b' })) as { lease: string };
    await bus.request('pool.release', { lease: lease.lease });
  });
  // dag.complete: a fresh 64-node fan-out run per 64 samples; start is outside the timing.
  results.complete = [];
  for (let r = 0; r < N / 64; r++) {
    const { run } = (await bus.request('dag.create', { workflow: wf })) as { run: string };
    for (let i = 0; i < 64; i++) {
      await bus.request('dag.start', { run, node: `n${i}` });
      const t = performance.now();
      await bus.request('dag.complete', { run, node: `n${i}`, output: { i } });
      results.complete.push(performance.now() - t);
    }
  }
  results.tag = await timeEach(N / 3, (i) => bus.request('artifacts.tag', { name: 'bench.doc', version: 1, tags: [`t${i % 7}`], mode: 'set' }));
  results.arbitrate = await timeEach(N, async () => {
    const g = (await bus.request('arbiter.request', { resource: 'gpu', requester: 'b', priority: 'HIGH' })) as { grant: string };
    await bus.request('arbiter.release', { grant: g.grant });
  });
  const evaluations = await timeEach(50, () => bus.request('stale.evaluate'));
  results.reclaim = evaluations.map((ms) => ms / 201); // per artifact decided

  // The same operations with WINDOW calls in flight.
  const rates: Record<string, number> = {};
  rates.noop = await throughput(N * 4, WINDOW, () => bus.request('bench.noop'));
  rates.allocate = await throughput(N, WINDOW, async () => {
    const lease = (await bus.request('pool.allocate', { pool: 'models', key: 'llama', holder: 'b' })) as { lease: string };
    await bus.request('pool.release', { lease: lease.lease });
  });
  {
    // Every node of a 64-node fan-out started, then all completed at once, run after run.
    let done = 0;
    let ms = 0;
    while (done < N) {
      const { run } = (await bus.request('dag.create', { workflow: wf })) as { run: string };
      for (let i = 0; i < 64; i++) await bus.request('dag.start', { run, node: `n${i}` });
      const t = performance.now();
      await Promise.all(Array.from({ length: 64 }, (_, i) => bus.request('dag.complete', { run, node: `n${i}`, output: { i } })));
      ms += performance.now() - t;
      done += 64;
    }
    rates.complete = (done / ms) * 1000;
  }
  rates.tag = await throughput(N / 3, WINDOW, (i) => bus.request('artifacts.tag', { name: 'bench.doc', version: 1, tags: [`t${i % 7}`], mode: 'set' }));
  rates.arbitrate = await throughput(N, WINDOW, async () => {
    const g = (await bus.request('arbiter.request', { resource: 'gpu', requester: 'b', priority: 'HIGH' })) as { grant: string };
    await bus.request('arbiter.release', { grant: g.grant });
  });
  rates.reclaim = Number.NaN; // one evaluation decides every artifact: nothing to run side by side

  const seed: Record<string, [string, number]> = {
    allocate: ['model allocation (pool.allocate + release, hot item)', 0.05],
    complete: ['workflow state update (dag.complete)', 0.025],
    tag: ['artifact metadata write (artifacts.tag, fsync per commit)', 0.015],
    arbitrate: ['conflict resolution (arbiter.request + release)', 0.075],
    reclaim: ['reclamation decision per artifact (stale.evaluate / 201)', 0.01],
  };
  await pit[Symbol.asyncDispose]();
  await bus.stop();

  // artifacts.tag again with `settings.artifacts.synchronous: normal` (no fsync per commit; still
  // safe against a process crash, the kill -9 test's case).
  {
    const { bus: b2, pit: p2 } = await startPit({ synchronous: 'normal' });
    await b2.request('artifacts.put', { name: 'bench.doc', data: 'x'.repeat(100), metadata: { v: 1 } });
    for (let i = 0; i < 100; i++) await b2.request('artifacts.tag', { name: 'bench.doc', version: 1, tags: ['warm'], mode: 'set' });
    results.tagNormal = await timeEach(N / 3, (i) => b2.request('artifacts.tag', { name: 'bench.doc', version: 1, tags: [`t${i % 7}`], mode: 'set' }));
    rates.tagNormal = await throughput(N / 3, WINDOW, (i) => b2.request('artifacts.tag', { name: 'bench.doc', version: 1, tags: [`t${i % 7}`], mode: 'set' }));
    await p2[Symbol.asyncDispose]();
    await b2.stop();
  }
  seed.tagNormal = ['artifact metadata write, synchronous: normal (no fsync)', 0.015];

  const noop = median(results.noop);
  const rows = [['no-op bus call (baseline)', fmtMs(noop), fmtMs(percentile(results.noop, 99)), '1.00x', fmtRate(sequentialRate(results.noop)), fmtRate(rates.noop!), '—', '—']];
  for (const [k, [label, target]] of Object.entries(seed)) {
    const p50 = median(results[k]!);
    rows.push([label, fmtMs(p50), fmtMs(percentile(results[k]!, 99)), fmtRatio(p50 / noop), fmtRate(sequentialRate(results[k]!)), fmtRate(rates[k]!), fmtMs(target), p50 <= target ? 'PASS' : 'over']);
  }
  printTable(['operation', 'p50', 'p99', 'vs no-op call', 'ops/s one at a time', `ops/s ${WINDOW} in flight`, 'seed figure', 'p50 vs seed'], rows);
  console.log('   ops/s one at a time: 1 / mean latency. The default (synchronous: full) fsyncs every artifact metadata commit: durability over the seed figure.');
  console.log('   dag.complete in flight: the 64 started nodes of a fan-out completed at once (each completion is checkpointed; commits group per event-loop turn).');

  header('PIT / Orchestra: activation latency of an isolated extension, cold (spawn to ready), vs a bare node start', 'npm run bench -- pit');
  const cold: number[] = [];
  const unconfined: number[] = [];
  const bare: number[] = [];
  const coldStart = async (sandbox: boolean): Promise<number> => {
    // The same activation without the OS sandbox (what a machine without bubblewrap runs, degraded).
    if (!sandbox) process.env.SYMPHONY_SANDBOX = 'off';
    resetSandboxProbe();
    probeSandbox(); // probed once per kernel process, not per start: kept out of the figure
    const b = new Bus();
    const o = new Orchestra(b, { paths: [resolve(ROOT, 'examples/extensions/text-stats')], grants: grantsFor([resolve(ROOT, 'examples/extensions/text-stats')]) }, silent, ROOT);
    const t = performance.now();
    await o.start();
    const ms = performance.now() - t;
    await o.stop();
    await b.stop();
    delete process.env.SYMPHONY_SANDBOX;
    resetSandboxProbe();
    return ms;
  };
  for (let i = 0; i < 8; i++) {
    bare.push(
      await new Promise<number>((resolveTime) => {
        const t = performance.now();
        spawn(process.execPath, ['-e', ''], { stdio: 'ignore' }).on('exit', () => resolveTime(performance.now() - t));
      }),
    );
    cold.push(await coldStart(true));
    unconfined.push(await coldStart(false));
  }
  printTable(
    ['case', 'p50', 'p90', 'vs bare node'],
    [
      ['bare `node -e ""` (spawn to exit)', fmtMs(median(bare)), fmtMs(percentile(bare, 90)), '1.00x'],
      ['isolated extension, sandboxed: discover + spawn (bwrap, seccomp, cgroup; permission model inside) + hello + activate + ready', fmtMs(median(cold)), fmtMs(percentile(cold, 90)), fmtRatio(median(cold) / median(bare))],
      ['isolated extension, without the OS sandbox (degraded: permission model, netns)', fmtMs(median(unconfined)), fmtMs(percentile(unconfined, 90)), fmtRatio(median(unconfined) / median(bare))],
    ],
  );
  console.log(`   the sandbox's cost per start: ${fmtMs(median(cold) - median(unconfined))} (median difference).`);
  console.log('   warm start: not built (no pool of pre-started processes yet); cold start is what an onCall first call pays.');
  writeJson('pit', { results, rates, cold, unconfined, bare });
}
