/**
 * CLUSTER section: calls between two nodes of a cluster against raw NATS request/reply between
 * the same two processes, in the same run.
 *
 * One real nats-server, two real kernels (`symphony up`, nodes a and b). Node b's kernel process
 * serves `bench.echo` on its bus and, beside it, answers a raw NATS subject with the same handler
 * (test/fixtures/cluster/bench-serve.mjs). Node a's kernel process runs the timed loops
 * (test/fixtures/cluster/bench-drive.mjs): through its bus (the call crosses the cluster to b) or
 * as raw NATS requests on its own connection. Both candidates: same processes, same payload, same
 * loop, handler in the serving kernel's process; rounds interleaved, order rotated each round.
 * The raw baseline is the client's own request/reply (`nc.request`: a timer and a muxed inbox per
 * call); beside it a floor below it (publish with a reply subject on one subscription, a map of
 * pending answers, no timer), which is how the cluster's forwarder talks to NATS itself.
 *
 *   npm run bench -- cluster
 *   CLUSTER_BENCH_PROFILE=DIR npm run bench -- cluster   (CPU profiles of both kernels in DIR)
 *   Raw results: .bench-out/cluster.json
 */
import { join } from 'node:path';
import { clientOf, NATS_USER, natsServerBinary, ready, startNatsCluster, startNode, tempDir, type KernelNode, type NatsCluster, type TestClient } from '../test/cluster/harness.js';
import { environment, fmtRatio, header, median, percentile, printTable, ROOT, verdict, writeJson } from './lib.js';

const CMD = 'npm run bench -- cluster';
const SEQUENTIAL = 2000;
const PIPELINED = 8000;
const WINDOWS = [64, 256] as const;
const WARMUP = 1;
const ROUNDS = 7;

/** cluster: through the bus and the cluster; raw: nc.request; floor: publish with a reply subject on one subscription, no timer per call. */
type Mode = 'cluster' | 'raw' | 'floor';
const MODES: readonly Mode[] = ['cluster', 'raw', 'floor'];
const LABEL: Record<Mode, string> = { cluster: 'cluster (a -> b)', raw: 'raw NATS nc.request (a -> b)', floor: 'raw NATS floor (a -> b)' };

function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '—';
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return us >= 10 ? `${us.toFixed(0)} µs` : `${us.toFixed(1)} µs`;
}

const fmtRate = (r: number) => (Number.isFinite(r) ? Math.round(r).toLocaleString('en-US') : '—');

export async function clusterBench(): Promise<void> {
  header('CLUSTER: cross-node request/reply (node a -> node b) vs raw NATS request/reply between the same two processes', CMD);
  if (!natsServerBinary()) throw new Error('the cluster bench needs nats-server (Debian: apt-get install nats-server)');
  const tmp = tempDir('bench-cluster');
  let nats: NatsCluster | undefined;
  const nodes: KernelNode[] = [];
  let client: TestClient | undefined;
  try {
    nats = await startNatsCluster(1, { dir: tmp.dir });
    const servers = `[${nats.urls.join(', ')}]`;
    const fixture = (name: string) => join(ROOT, 'test/fixtures/cluster', name);
    const profile = process.env.CLUSTER_BENCH_PROFILE;
    const nodeArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
    const b = startNode({ name: 'b', servers: nats.urls, dir: tmp.dir, nodeArgs, components: [`benchserve: { use: ${fixture('bench-serve.mjs')}, needs: [bus], with: { servers: ${servers}, user: ${NATS_USER} } }`] });
    const a = startNode({ name: 'a', servers: nats.urls, dir: tmp.dir, nodeArgs, components: [`benchdrive: { use: ${fixture('bench-drive.mjs')}, needs: [bus], with: { servers: ${servers}, user: ${NATS_USER} } }`] });
    nodes.push(a, b);
    (await ready(b, 2)).stop();
    client = await ready(a, 2);
    await client.stop();
    client = await clientOf(a);
    const c = client;
    // The handler runs in b's kernel process: b counts the calls other nodes sent it.
    const served = async () => (await c.request<{ node: string; stats: { served: number } }>('cluster.on.b.cluster.status', {})).stats.served;
    const servedBefore = await served();

    const run = <T>(mode: Mode, calls: number, inflight: number) => c.request<T>('bench.run', { mode, calls, inflight }, { timeout: 120_000 });
    const lat: Record<Mode, number[]> = { cluster: [], raw: [], floor: [] };
    const p50s: Record<Mode, number[]> = { cluster: [], raw: [], floor: [] };
    const rates: Record<string, Record<Mode, number[]>> = {};
    for (const w of WINDOWS) rates[w] = { cluster: [], raw: [], floor: [] };
    // CPU time per call (µs) in each kernel process, pipelined runs: where a call's cost lies.
    const cpuA: Record<Mode, number[]> = { cluster: [], raw: [], floor: [] };
    const cpuB: Record<Mode, number[]> = { cluster: [], raw: [], floor: [] };
    const cpuOfB = async () => {
      const u = await c.request<{ user: number; system: number }>('cluster.on.b.bench.cpu', {});
      return u.user + u.system;
    };

    type Job = { kind: 'seq' } | { kind: 'pipe'; window: number };
    const jobs: Job[] = [{ kind: 'seq' }, ...WINDOWS.map((window) => ({ kind: 'pipe' as const, window }))];
    const started = performance.now();
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const timed = round >= WARMUP;
      for (const job of jobs) {
        // Rotated so that neither candidate always runs first.
        const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]!);
        for (const mode of order) {
          if (job.kind === 'seq') {
            const r = await run<{ lat: number[] }>(mode, SEQUENTIAL, 1);
            if (!timed) continue;
            lat[mode].push(...r.lat);
            p50s[mode].push(median(r.lat));
          } else {
            const b0 = await cpuOfB();
            const r = await run<{ ms: number; calls: number; cpuUs: number }>(mode, PIPELINED, job.window);
            const b1 = await cpuOfB();
            if (!timed) continue;
            rates[job.window]![mode].push((r.calls / r.ms) * 1000);
            cpuA[mode].push(r.cpuUs / r.calls);
            cpuB[mode].push((b1 - b0) / r.calls);
          }
        }
      }
      if (timed) process.stdout.write(`   round ${round - WARMUP + 1}/${ROUNDS} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
    }

    // Every cluster call crossed to b and ran there (b counts what other nodes sent it).
    const crossed = (await served()) - servedBefore;
    const clusterCalls = (WARMUP + ROUNDS) * (SEQUENTIAL + PIPELINED * WINDOWS.length);
    if (crossed < clusterCalls) throw new Error(`node b served ${crossed} calls from other nodes, fewer than the ${clusterCalls} cluster calls made: some did not cross`);

    // Ratios per round (cluster and raw measured side by side), then their median.
    const ratios = (xs: number[], ys: number[]) => median(xs.map((x, i) => x / ys[i]!));
    const p50Ratio = ratios(p50s.cluster, p50s.raw);
    const p50Floor = ratios(p50s.cluster, p50s.floor);
    console.log('');
    console.log(`   sequential: ${SEQUENTIAL} calls per round; latencies pooled over ${ROUNDS} rounds`);
    printTable(
      ['candidate', 'p50', 'p90', 'p99', 'p50 (median of rounds)'],
      MODES.map((m) => [LABEL[m], fmtUs(percentile(lat[m], 50)), fmtUs(percentile(lat[m], 90)), fmtUs(percentile(lat[m], 99)), fmtUs(median(p50s[m]))]),
    );
    console.log('');
    console.log(`   pipelined: ${PIPELINED} calls per round, median of ${ROUNDS} rounds (calls/s)`);
    printTable(
      ['in flight', 'cluster', 'raw nc.request', 'raw floor', 'cluster/raw', 'cluster/floor'],
      WINDOWS.map((w) => {
        const r = rates[w]!;
        return [String(w), fmtRate(median(r.cluster)), fmtRate(median(r.raw)), fmtRate(median(r.floor)), fmtRatio(ratios(r.cluster, r.raw)), fmtRatio(ratios(r.cluster, r.floor))];
      }),
    );
    console.log('');
    console.log('   CPU time per call in each kernel process (pipelined runs, median)');
    printTable(
      ['candidate', 'node a (caller)', 'node b (server)'],
      MODES.map((m) => [LABEL[m], fmtUs(median(cpuA[m])), fmtUs(median(cpuB[m]))]),
    );
    console.log('');
    const p50ok = p50Ratio <= 1.3;
    console.log(`   ${verdict(p50ok)}  p50 cluster/raw <= 1.3x: ${fmtRatio(p50Ratio)} (cluster/floor ${fmtRatio(p50Floor)})`);
    const tput: Record<number, { raw: number; floor: number }> = {};
    for (const w of WINDOWS) {
      tput[w] = { raw: ratios(rates[w]!.cluster, rates[w]!.raw), floor: ratios(rates[w]!.cluster, rates[w]!.floor) };
      console.log(`   ${verdict(tput[w]!.raw >= 0.8)}  throughput cluster/raw >= 0.8x (${w} in flight): ${fmtRatio(tput[w]!.raw)} (cluster/floor ${fmtRatio(tput[w]!.floor)})`);
    }
    console.log(`   node b served ${crossed} calls from node a (every cluster call crossed)`);
    const out = writeJson('cluster', {
      environment: environment(),
      command: CMD,
      sequential: { calls: SEQUENTIAL, rounds: ROUNDS, p50s, pooled: Object.fromEntries(MODES.map((m) => [m, { p50: percentile(lat[m], 50), p90: percentile(lat[m], 90), p99: percentile(lat[m], 99) }])), p50Ratio, p50Floor },
      pipelined: { calls: PIPELINED, rounds: ROUNDS, rates, ratios: tput, cpuPerCallUs: { a: cpuA, b: cpuB } },
    });
    console.log(`   raw results: ${out}`);
  } finally {
    await client?.stop().catch(() => {});
    // An orderly stop first (a profile asked for with NODE_OPTIONS=--cpu-prof is written at exit), then SIGKILL.
    for (const n of nodes) n.kill('SIGTERM');
    const killer = setTimeout(() => nodes.forEach((n) => n.kill('SIGKILL')), 5000);
    await Promise.all(nodes.map((n) => n.exited));
    clearTimeout(killer);
    await nats?.stop();
    tmp.remove();
  }
}
