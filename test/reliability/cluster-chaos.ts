/**
 * Cluster chaos: three NATS servers, three nodes (`symphony up` processes), clients on every node
 * calling methods served on the other nodes with deadlines, while at random intervals a node or a
 * NATS server is SIGKILLed and started again. Every request must succeed or fail with a typed
 * JSON-RPC error no later than its deadline plus a small margin; none may hang. Recovery is
 * measured from each kill to the moment every node can call every other node again.
 *
 *   npm run soak -- --only cluster-chaos            (2 minutes of chaos)
 *   npm run soak -- --only cluster-chaos --quick    (20 seconds)
 */
import { clientOf, delay, natsServerBinary, ready, restartNatsServer, routed, startNatsCluster, startNode, tempDir, type KernelNode, type NatsCluster, type TestClient } from '../cluster/harness.js';
import { rng } from './faults.mjs';

export interface ClusterChaosOptions {
  durationMs: number;
  seed: number;
  /** Each request's deadline (ms). */
  deadlineMs?: number;
  /** A request settled later than deadline + this is late (a failure); one not settled by deadline + hangMs is hung. */
  marginMs?: number;
  hangMs?: number;
  workersPerNode?: number;
  /** Quiet time between one recovery and the next kill: [min, max] ms. */
  pauseMs?: [number, number];
  log?: (line: string) => void;
}

export interface ClusterKill {
  victim: string;
  kind: 'node' | 'nats';
  atMs: number;
  /** Kill to every node calling every other node again (null: not within the wait). */
  recoveredMs: number | null;
  /** A node: restart to its bus answering and seeing all three nodes. */
  bootMs?: number;
  /** A NATS server: kill to all pairs calling again while it is still down (the clients failed over). */
  failoverMs?: number | null;
}

export interface ClusterChaosResult {
  requests: { total: number; ok: number; typed: number; untyped: number; late: number; hung: number };
  byCode: Record<string, number>;
  /** Settle time past the deadline of the latest failure (ms; negative = before it). */
  worstOverDeadlineMs: number;
  kills: ClusterKill[];
  restored: boolean;
  samples: string[];
  ms: number;
}

const NODES = ['a', 'b', 'c'] as const;
type NodeName = (typeof NODES)[number];
/** Each node serves one method of its own (so a call to it from elsewhere must cross) and slow.wait and who.am.i (reached with cluster.on.NODE.…). */
const SERVES: Record<NodeName, string[]> = { a: ['text.upper', 'slow.wait', 'who.am.i'], b: ['math.add', 'slow.wait', 'who.am.i'], c: ['math.mul', 'slow.wait', 'who.am.i'] };
const OWN: Record<NodeName, { method: string; params: unknown }> = {
  a: { method: 'text.upper', params: { text: 'chaos' } },
  b: { method: 'math.add', params: { a: 2, b: 3 } },
  c: { method: 'math.mul', params: { a: 2, b: 3 } },
};

export async function clusterChaos(options: ClusterChaosOptions): Promise<ClusterChaosResult> {
  if (!natsServerBinary()) throw new Error('cluster chaos needs nats-server (Debian: apt-get install nats-server)');
  const t0 = performance.now();
  const random = rng(options.seed);
  const deadlineMs = options.deadlineMs ?? 1500;
  const marginMs = options.marginMs ?? 250;
  const hangMs = options.hangMs ?? 3000;
  const workers = options.workersPerNode ?? 3;
  const [pauseMin, pauseMax] = options.pauseMs ?? [1000, 3000];
  const log = options.log ?? (() => {});
  const tmp = tempDir('cluster-chaos');
  const result: ClusterChaosResult = { requests: { total: 0, ok: 0, typed: 0, untyped: 0, late: 0, hung: 0 }, byCode: {}, worstOverDeadlineMs: -Infinity, kills: [], restored: false, samples: [], ms: 0 };
  const sample = (s: string) => void (result.samples.length < 20 && result.samples.push(s));
  let nats: NatsCluster | undefined;
  const nodes = {} as Record<NodeName, KernelNode>;
  // A node's client, or undefined while the node is down (its workers wait).
  const clients = {} as Record<NodeName, TestClient | undefined>;
  const boot = (name: NodeName) => startNode({ name, servers: nats!.urls, serve: SERVES[name], dir: tmp.dir });
  let stopping = false;

  /** One request as a worker makes it: classified by how and when it settled. */
  async function one(from: NodeName, client: TestClient): Promise<void> {
    const others = NODES.filter((n) => n !== from);
    const to = others[Math.floor(random() * others.length)]!;
    const pinned = random() < 0.5;
    const method = pinned ? `cluster.on.${to}.slow.wait` : OWN[to].method;
    const params = pinned ? { ms: Math.floor(random() * 300) } : OWN[to].params;
    const started = performance.now();
    result.requests.total++;
    let watchdog: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      client.request(method, params, { timeout: deadlineMs }).then(
        () => ({ ok: true as const }),
        (err: unknown) => ({ ok: false as const, err }),
      ),
      new Promise<'hung'>((r) => (watchdog = setTimeout(() => r('hung'), deadlineMs + hangMs))),
    ]);
    clearTimeout(watchdog);
    const over = performance.now() - started - deadlineMs;
    if (outcome === 'hung') {
      result.requests.hung++;
      sample(`hung: ${from} -> ${method}`);
      return;
    }
    if (outcome.ok) {
      // An answer is an answer even if slow; a late one is still counted late.
      result.requests.ok++;
    } else {
      const e = outcome.err as { code?: unknown; message?: unknown };
      if (typeof e?.code === 'number' && Number.isInteger(e.code) && e.code <= -32000 && e.code >= -32768) {
        result.requests.typed++;
        result.byCode[e.code] = (result.byCode[e.code] ?? 0) + 1;
      } else {
        result.requests.untyped++;
        sample(`untyped: ${from} -> ${method}: ${String(e?.message ?? outcome.err)}`);
      }
      result.worstOverDeadlineMs = Math.max(result.worstOverDeadlineMs, over);
    }
    if (over > marginMs) {
      result.requests.late++;
      sample(`late by ${Math.round(over)}ms past the deadline: ${from} -> ${method} (${outcome.ok ? 'ok' : (outcome.err as { code?: number }).code})`);
    }
  }

  async function worker(from: NodeName): Promise<void> {
    while (!stopping) {
      const c = clients[from];
      if (!c) {
        await delay(20);
        continue;
      }
      await one(from, c);
    }
  }

  /** Every live node calls every other node; true when all answered. */
  async function allPairs(): Promise<boolean> {
    const calls: Promise<unknown>[] = [];
    for (const from of NODES) {
      const c = clients[from];
      if (!c) return false;
      for (const to of NODES) if (to !== from) calls.push(c.request(`cluster.on.${to}.who.am.i`, {}, { timeout: 1000 }));
    }
    try {
      await Promise.all(calls);
      return true;
    } catch {
      return false;
    }
  }

  async function untilAllPairs(ms: number): Promise<boolean> {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      if (await allPairs()) return true;
      await delay(50);
    }
    return false;
  }

  async function killNode(name: NodeName): Promise<ClusterKill> {
    const at = performance.now();
    const old = clients[name];
    clients[name] = undefined;
    nodes[name].kill('SIGKILL');
    await nodes[name].exited;
    void old?.stop().catch(() => {});
    await delay(200 + random() * 800);
    const restart = performance.now();
    nodes[name] = boot(name);
    clients[name] = await ready(nodes[name], 3, 30_000);
    const bootMs = performance.now() - restart;
    const ok = await untilAllPairs(15_000);
    return { victim: `node ${name}`, kind: 'node', atMs: at - t0, recoveredMs: ok ? performance.now() - at : null, bootMs };
  }

  async function killServer(i: number): Promise<ClusterKill> {
    const s = nats!.servers[i]!;
    const at = performance.now();
    s.kill('SIGKILL');
    // While it is down: the nodes it served fail over to the other two.
    const failed = await untilAllPairs(10_000);
    const failoverMs = failed ? performance.now() - at : null;
    await delay(random() * 1000);
    restartNatsServer(s);
    await routed(s, NODES.length - 1, 15_000);
    const ok = await untilAllPairs(15_000);
    return { victim: `nats ${s.name}`, kind: 'nats', atMs: at - t0, recoveredMs: ok ? performance.now() - at : null, failoverMs };
  }

  try {
    nats = await startNatsCluster(3, { dir: tmp.dir });
    for (const n of NODES) nodes[n] = boot(n);
    for (const n of NODES) clients[n] = await ready(nodes[n], 3, 30_000);
    if (!(await untilAllPairs(10_000))) throw new Error('the cluster did not come up: a node cannot call another');
    log(`cluster up in ${Math.round(performance.now() - t0)} ms; load: ${workers} workers per node, deadline ${deadlineMs} ms`);
    const load = NODES.flatMap((n) => Array.from({ length: workers }, () => worker(n)));
    const firstKind = random() < 0.5 ? 0 : 1;
    const loadStart = performance.now();
    while (performance.now() - loadStart < options.durationMs) {
      await delay(pauseMin + random() * (pauseMax - pauseMin));
      if (performance.now() - loadStart >= options.durationMs) break;
      // Kinds alternate (so even a short run kills both); which node or server, and when, is random.
      const which = Math.floor(random() * 3);
      const kill = result.kills.length % 2 === firstKind ? await killNode(NODES[which]!) : await killServer(which);
      result.kills.push(kill);
      log(`${kill.victim} killed at ${(kill.atMs / 1000).toFixed(1)} s: recovered in ${kill.recoveredMs === null ? 'NEVER' : `${Math.round(kill.recoveredMs)} ms`}${kill.bootMs !== undefined ? ` (boot ${Math.round(kill.bootMs)} ms)` : ''}${kill.failoverMs !== undefined ? ` (failover ${kill.failoverMs === null ? 'NEVER' : `${Math.round(kill.failoverMs)} ms`})` : ''}; requests so far ${result.requests.total}`);
    }
    stopping = true;
    await Promise.all(load);
    // Restored: every server routed to the others, every node sees three, every pair calls.
    const routes = await Promise.all(nats.servers.map((s) => routed(s, NODES.length - 1, 5000).then(() => true, () => false)));
    const seen = await Promise.all(NODES.map(async (n) => ((await clients[n]?.request<unknown[]>('cluster.nodes', {}, { timeout: 2000 }).catch(() => [])) ?? []).length === 3));
    result.restored = routes.every(Boolean) && seen.every(Boolean) && (await allPairs()) && result.kills.every((k) => k.recoveredMs !== null);
  } finally {
    stopping = true;
    for (const c of Object.values(clients)) await c?.stop().catch(() => {});
    for (const n of Object.values(nodes)) n.kill('SIGKILL');
    await Promise.all(Object.values(nodes).map((n) => n.exited));
    await nats?.stop();
    tmp.remove();
  }
  result.ms = performance.now() - t0;
  return result;
}

const fmt = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`);
const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Whether the run passed: nothing hung, untyped or late, and the cluster whole again at the end. */
export function clusterChaosPassed(r: ClusterChaosResult): boolean {
  return r.requests.hung === 0 && r.requests.untyped === 0 && r.requests.late === 0 && r.restored;
}

/** The run as text: requests by outcome and code, kills and recovery. */
export function describeClusterChaos(r: ClusterChaosResult): string {
  const rec = (kind: 'node' | 'nats') => r.kills.filter((k) => k.kind === kind && k.recoveredMs !== null).map((k) => k.recoveredMs!);
  const boots = r.kills.flatMap((k) => (k.bootMs !== undefined ? [k.bootMs] : []));
  const failovers = r.kills.flatMap((k) => (k.failoverMs !== undefined && k.failoverMs !== null ? [k.failoverMs] : []));
  const q = r.requests;
  const lines = [
    `requests: ${q.total} (ok ${q.ok}, failed typed ${q.typed}, untyped ${q.untyped}, late ${q.late}, hung ${q.hung})`,
    `typed failures by code: ${Object.entries(r.byCode).map(([c, n]) => `${c}: ${n}`).join(', ') || '—'}; the latest failure settled ${fmt(Math.abs(r.worstOverDeadlineMs))} ${r.worstOverDeadlineMs > 0 ? 'after' : 'before'} its deadline`,
    `kills: ${r.kills.filter((k) => k.kind === 'node').length} nodes, ${r.kills.filter((k) => k.kind === 'nats').length} NATS servers`,
    `node kill -> all pairs calling again: p50 ${fmt(pct(rec('node'), 50))}, max ${fmt(Math.max(...rec('node')))}; restart -> ready: p50 ${fmt(pct(boots, 50))}, max ${fmt(Math.max(...boots))}`,
    `NATS server kill -> all pairs calling again (failover, server still down): p50 ${fmt(pct(failovers, 50))}, max ${fmt(Math.max(...failovers))}`,
    `restored at the end: ${r.restored ? 'yes' : 'NO'}; took ${fmt(r.ms)}`,
    ...r.samples.map((s) => `  ${s}`),
  ];
  return lines.join('\n');
}

/** The soak's part: runs, prints, and says whether it failed. */
export async function clusterChaosSoak(o: { scale: number; seed: number; command: string }): Promise<boolean> {
  // Outside CI a machine without nats-server skips this part (natsServerBinary throws under CI).
  if (!natsServerBinary()) {
    console.log('\n== Reliability: cluster chaos: not run (nats-server is not installed) ==');
    return false;
  }
  const durationMs = Math.round(120_000 * o.scale);
  process.stderr.write(`cluster chaos: ${durationMs / 1000} s\n`);
  const r = await clusterChaos({ durationMs, seed: o.seed, log: (l) => process.stderr.write(`  cluster chaos: ${l}\n`) });
  console.log('\n== Reliability: cluster chaos (SIGKILL of nodes and NATS servers under cross-node load) ==');
  console.log(`   reproduce: ${o.command}`);
  console.log(describeClusterChaos(r).replace(/^/gm, '   '));
  return !clusterChaosPassed(r);
}
