/**
 * What goes wrong in a cluster, on real processes: a node SIGKILLed with calls in flight (its
 * callers fail -32004 within a second or two, none waits out its deadline), a NATS server
 * SIGKILLed (nodes fail over to another and calls work again), a node restarting and serving
 * again (leave and join are events), servers unreachable at boot (a deadline and a clear error;
 * optional respected), two nodes under one name (refused, naming both), wrong credentials.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientOf, delay, freePort, NATS_PASSWORD, natsServerBinary, ready, startNatsCluster, startNode, tempDir, until, type KernelNode, type NatsCluster, type TestClient } from './harness.js';

const bin = natsServerBinary();

describe.skipIf(!bin)('a cluster when things fail', () => {
  const tmp = tempDir('cluster-fail');
  let nats: NatsCluster;
  const nodes: Record<string, KernelNode> = {};
  const clients: Record<string, TestClient> = {};
  const others: KernelNode[] = [];

  beforeAll(async () => {
    nats = await startNatsCluster(3, { dir: tmp.dir });
    const urls = nats.urls;
    nodes.a = startNode({ name: 'a', servers: urls, dir: tmp.dir });
    nodes.b = startNode({ name: 'b', servers: urls, serve: ['math.add', 'slow.wait'], dir: tmp.dir });
    nodes.c = startNode({ name: 'c', servers: urls, serve: ['math.add', 'slow.wait'], dir: tmp.dir });
    for (const n of ['a', 'b', 'c']) clients[n] = await ready(nodes[n]!, 3);
  }, 60_000);

  afterAll(async () => {
    for (const c of Object.values(clients)) await c.stop().catch(() => {});
    for (const n of [...Object.values(nodes), ...others]) n.kill('SIGKILL');
    await Promise.all([...Object.values(nodes), ...others].map((n) => n.exited));
    await nats?.stop();
    tmp.remove();
  });

  it('SIGKILL of a node with calls in flight: its calls fail -32004 within two seconds, the others answer', async () => {
    const a = clients.a!;
    // Both b and c serve slow.wait: the queue group deals the calls out.
    const calls = Array.from({ length: 20 }, () => {
      const t = { settledAt: 0, result: undefined as unknown, error: undefined as { code: number; message: string } | undefined };
      const p = a.request<{ node: string }>('slow.wait', { ms: 2500 }, { timeout: 15_000 }).then(
        (r) => ((t.result = r), (t.settledAt = performance.now())),
        (e) => ((t.error = e), (t.settledAt = performance.now())),
      );
      return { t, p };
    });
    await delay(600);
    const killedAt = performance.now();
    nodes.b!.kill('SIGKILL');
    await Promise.all(calls.map((c) => c.p));
    const failed = calls.filter((c) => c.t.error);
    const answered = calls.filter((c) => c.t.result);
    expect(failed.length).toBeGreaterThan(0);
    expect(answered.length).toBeGreaterThan(0);
    for (const c of failed) {
      expect(c.t.error!.code).toBe(-32004);
      expect(c.t.error!.message).toMatch(/node 'b' left/);
      expect(c.t.settledAt - killedAt).toBeLessThan(2000);
    }
    for (const c of answered) expect((c.t.result as { node: string }).node).toBe('c');
    // New calls go to c only.
    for (let i = 0; i < 10; i++) expect((await a.request<{ node: string }>('math.add', { a: 1, b: 1 })).node).toBe('c');
    expect(await nodes.b!.exited).toBe(null);
  }, 30_000);

  it('a node restarting serves again; its leaving and joining are events on the others', async () => {
    const a = clients.a!;
    const seen: { topic: string; data: { node: string } }[] = [];
    const sub = a.subscribe('cluster.>', (data, e) => seen.push({ topic: e.topic, data }));
    await sub.ready;
    // b is down (killed above): the cluster saw it go.
    await until(async () => !(await a.request<{ node: string }[]>('cluster.nodes')).some((n) => n.node === 'b'), 5000, "b to be gone from a's nodes");
    const err = await a.request('cluster.on.b.math.add', { a: 1, b: 1 }).catch((e) => e);
    expect(err.code).toBe(-32004);
    nodes.b = startNode({ name: 'b', servers: nats.urls, serve: ['math.add', 'slow.wait'], dir: tmp.dir });
    clients.b = await ready(nodes.b, 3);
    await until(async () => (await a.request<{ node: string }[]>('cluster.nodes')).some((n) => n.node === 'b'), 5000, 'a to see b again');
    expect(await a.request('cluster.on.b.math.add', { a: 20, b: 22 })).toEqual({ sum: 42, node: 'b' });
    await until(() => seen.some((e) => e.topic === 'cluster.joined' && e.data.node === 'b'), 3000, 'the join event');
    sub.unsubscribe();
    // Load is shared with the restarted node again.
    const by = new Set((await Promise.all(Array.from({ length: 60 }, () => a.request<{ node: string }>('math.add', { a: 1, b: 2 })))).map((r) => r.node));
    expect([...by].sort()).toEqual(['b', 'c']);
  }, 40_000);

  it('an orderly leave is an event at once (not a silence to wait out)', async () => {
    const a = clients.a!;
    const seen: { topic: string; data: { node: string; reason: string }; at: number }[] = [];
    const sub = a.subscribe('cluster.left', (data, e) => seen.push({ topic: e.topic, data, at: performance.now() }));
    await sub.ready;
    const d = startNode({ name: 'd', servers: nats.urls, dir: tmp.dir });
    others.push(d);
    await ready(d, 4);
    const t0 = performance.now();
    d.kill('SIGTERM');
    await until(() => seen.find((e) => e.data.node === 'd'), 5000, "d's leave");
    expect(seen.find((e) => e.data.node === 'd')!.data.reason).toMatch(/left the cluster/);
    expect(seen.find((e) => e.data.node === 'd')!.at - t0).toBeLessThan(2000);
    sub.unsubscribe();
    expect([0, 143]).toContain(await d.exited);
  }, 30_000);

  it('SIGKILL of the NATS server a node is connected to: it fails over, and calls between live nodes work again', async () => {
    const a = clients.a!;
    const status = await a.request<{ server: string }>('cluster.status');
    const victim = nats.servers.find((s) => status.server.endsWith(`:${s.port}`))!;
    expect(victim).toBeDefined();
    // Calls in flight when the server dies: each answers or fails typed, none hangs.
    const inflight = Array.from({ length: 10 }, () => a.request('slow.wait', { ms: 800 }, { timeout: 10_000 }).then(() => 0, (e) => e.code));
    await delay(200);
    const killedAt = performance.now();
    victim.kill('SIGKILL');
    const codes = await Promise.all(inflight);
    for (const code of codes) expect([0, -32004]).toContain(code);
    expect(performance.now() - killedAt).toBeLessThan(3000);
    // Working again after the failover (the client reconnects to another server in the list).
    await until(async () => (await a.request<{ sum: number }>('math.add', { a: 1, b: 1 }, { timeout: 1000 })).sum === 2, 5000, 'calls after the failover');
    const moved = await a.request<{ server: string }>('cluster.status');
    expect(moved.server).not.toBe(status.server);
    for (let i = 0; i < 30; i++) expect((await a.request<{ sum: number }>('math.add', { a: i, b: 1 })).sum).toBe(i + 1);
    // No node was declared gone for our silence: all three are still there.
    expect((await a.request<{ node: string }[]>('cluster.nodes')).map((n) => n.node)).toEqual(expect.arrayContaining(['a', 'b', 'c']));
  }, 30_000);

  it('two nodes with one name: the second is refused at boot, naming both; the first keeps serving', async () => {
    const live = nats.servers.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null).map((s) => s.url);
    const twin = startNode({ name: 'c', servers: live, dir: join(tmp.dir, 'twin') });
    others.push(twin);
    const code = await twin.exited;
    expect(code).toBe(1);
    const out = twin.output.join('');
    expect(out).toMatch(/node name 'c' is taken: node 'c' \(pid \d+ on [^)]+\) is live; this kernel \(pid \d+ on [^)]+\) is refused/);
    expect(out).toContain(`pid ${nodes.c!.proc.pid}`);
    expect(out).toContain(`pid ${twin.proc.pid}`);
    expect(nodes.c!.output.join('')).toMatch(/refused a second node named 'c'/);
    expect(await clients.a!.request('cluster.on.c.math.add', { a: 2, b: 2 })).toEqual({ sum: 4, node: 'c' });
  }, 30_000);
});

describe.skipIf(!bin)('joining at boot', () => {
  const tmp = tempDir('cluster-boot');
  afterAll(() => tmp.remove());

  it('no NATS server reachable: the boot fails within the deadline with a clear error', async () => {
    const port = await freePort();
    const t0 = performance.now();
    const n = startNode({ name: 'lonely', servers: [`nats://127.0.0.1:${port}`], dir: tmp.dir, cluster: 'connectTimeout: 1s' });
    expect(await n.exited).toBe(1);
    expect(performance.now() - t0).toBeLessThan(8000);
    const out = n.output.join('');
    expect(out).toMatch(/cluster: cannot reach any NATS server \(servers: nats:\/\/127\.0\.0\.1:\d+\)|cluster: no NATS server answered within 1000ms/);
    expect(out).toMatch(/start nats-server there or fix cluster.servers/);
  }, 20_000);

  it('optional: true: the system boots without the cluster, degraded, and serves locally', async () => {
    const port = await freePort();
    const n = startNode({ name: 'solo', servers: [`nats://127.0.0.1:${port}`], serve: ['math.add'], dir: tmp.dir, cluster: 'connectTimeout: 500ms, optional: true' });
    try {
      const c = await until(async () => (n.proc.exitCode === null ? await clientOf(n) : undefined), 15_000, () => `the optional node's bus (${n.output.join('')})`);
      expect(await c.request('math.add', { a: 1, b: 2 })).toEqual({ sum: 3, node: 'solo' });
      const ps = await until(async () => {
        const r = await c.request<{ system: { state: string }; components: { name: string; state: string }[] }>('system.ps');
        return r.components.some((x) => x.name === 'cluster' && x.state === 'failed') ? r : undefined;
      }, 10_000, 'the cluster component to be reported failed');
      expect(ps.system.state).toBe('degraded');
      // Without the cluster, a method nobody serves here is -32601 at once, as on any kernel.
      expect((await c.request('nobody.here').catch((e) => e)).code).toBe(-32601);
      await c.stop();
    } finally {
      n.kill('SIGKILL');
      await n.exited;
    }
  }, 30_000);

  it('wrong credentials: refused with a clear error that names the user and never the password', async () => {
    const nats = await startNatsCluster(1, { dir: tmp.dir });
    try {
      const n = startNode({ name: 'intruder', servers: nats.urls, dir: tmp.dir, env: { CLUSTER_TEST_PASSWORD: 'not-the-password-x1' } });
      expect(await n.exited).toBe(1);
      const out = n.output.join('');
      expect(out).toMatch(/refused node 'intruder''s credentials \(user 'symphony-node'\)/);
      expect(out).not.toContain('not-the-password-x1');
      expect(out).not.toContain(NATS_PASSWORD);
    } finally {
      await nats.stop();
    }
  }, 30_000);
});
