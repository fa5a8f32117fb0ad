/**
 * Three kernels (separate `symphony up` processes) joined through a real three-server NATS
 * cluster on loopback: calls cross nodes with the bus's semantics, events cross with their
 * wildcards, a melody on one node runs steps served on the two others, and rights are checked at
 * both ends (a denied call never reaches the serving handler).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientOf, delay, natsServerBinary, ready, startNatsCluster, startNode, tempDir, until, type KernelNode, type NatsCluster, type TestClient } from './harness.js';

const bin = natsServerBinary();

describe.skipIf(!bin)('a cluster of three nodes over three NATS servers', () => {
  const tmp = tempDir('cluster');
  let nats: NatsCluster;
  const nodes: Record<string, KernelNode> = {};
  const clients: Record<string, TestClient> = {};

  beforeAll(async () => {
    nats = await startNatsCluster(3, { dir: tmp.dir });
    const [s1, s2, s3] = nats.urls;
    nodes.a = startNode({
      name: 'a',
      servers: [s1!, s2!, s3!],
      serve: ['math.mul', 'who.am.i'],
      components: ['pit: { use: builtin:pit, needs: [bus] }', 'orchestra: { use: builtin:orchestra, needs: [bus, pit], with: { paths: [] } }', 'conductor: { use: builtin:conductor, needs: [bus, pit, orchestra] }'],
      dir: tmp.dir,
    });
    nodes.b = startNode({ name: 'b', servers: [s2!, s3!, s1!], serve: ['math.add', 'slow.wait', 'secret.read', 'echo.size', 'echo.big', 'text.upper', 'who.am.i'], subscribe: ['jobs.*.done', 'audit.>'], dir: tmp.dir, cluster: 'accept: [math.*, slow.*, secret.*, echo.*, text.*, who.>, test.>, system.ps]' });
    nodes.c = startNode({ name: 'c', servers: [s3!, s1!, s2!], serve: ['math.add', 'slow.wait', 'text.count', 'who.am.i'], subscribe: ['jobs.>'], dir: tmp.dir, cluster: 'accept: [math.*, slow.*, text.*, test.>, system.ps]' });
    for (const n of ['a', 'b', 'c']) clients[n] = await ready(nodes[n]!, 3);
  }, 60_000);

  afterAll(async () => {
    for (const c of Object.values(clients)) await c.stop().catch(() => {});
    for (const n of Object.values(nodes)) n.kill('SIGKILL');
    await Promise.all(Object.values(nodes).map((n) => n.exited));
    await nats?.stop();
    tmp.remove();
  });

  it('a method served on another node is called from this one; a local provider is preferred', async () => {
    const a = clients.a!;
    const r = await a.request<{ sum: number; node: string }>('math.add', { a: 2, b: 3 });
    expect(r.sum).toBe(5);
    expect(['b', 'c']).toContain(r.node);
    // who.am.i is served on all three: a's own provider answers, every time.
    for (let i = 0; i < 20; i++) expect((await a.request<{ node: string }>('who.am.i')).node).toBe('a');
    // And the serving handler sees the caller as CALLER@NODE.
    const seen = await clients.b!.request<{ node: string; peer: string }>('cluster.on.c.math.add', { a: 1, b: 1 });
    expect(seen.node).toBe('c');
    const who = await clients.c!.request<{ node: string; peer: string }>('cluster.on.b.who.am.i');
    expect(who).toMatchObject({ node: 'b' });
    expect(who.peer).toMatch(/@c$/);
  });

  it('several providers of one method share the load (one queue group)', async () => {
    const a = clients.a!;
    const by: Record<string, number> = {};
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => a.request<{ sum: number; node: string }>('math.add', { a: i, b: 1 })));
    results.forEach((r, i) => {
      expect(r.sum).toBe(i + 1);
      by[r.node] = (by[r.node] ?? 0) + 1;
    });
    expect(Object.keys(by).sort()).toEqual(['b', 'c']);
    expect(Math.min(by.b!, by.c!)).toBeGreaterThan(20);
  });

  it('a method nobody serves anywhere fails at once with -32601, never a timeout', async () => {
    const t0 = performance.now();
    const err = await clients.a!.request('nobody.serves.this', {}, { timeout: 10_000 }).catch((e) => e);
    expect(err.code).toBe(-32601);
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it('the deadline travels: the serving handler sees what is left of it, and a call past it fails -32003 at its deadline', async () => {
    const a = clients.a!;
    const who = await a.request<{ node: string; remainingMs: number }>('cluster.on.b.who.am.i', {}, { timeout: 3000 });
    expect(who.node).toBe('b');
    expect(who.remainingMs).toBeLessThanOrEqual(3000);
    expect(who.remainingMs).toBeGreaterThan(2000);
    const t0 = performance.now();
    const err = await a.request('slow.wait', { ms: 5000 }, { timeout: 400 }).catch((e) => e);
    const took = performance.now() - t0;
    expect(err.code).toBe(-32003);
    expect(took).toBeGreaterThan(350);
    expect(took).toBeLessThan(1500);
    // The serving node stopped the handler (its deadline passed there too): its abort was counted.
    await until(async () => {
      const [b, c] = await Promise.all([clients.b!.request('test.b.counters'), clients.c!.request('test.c.counters')]);
      return (b as { aborted: number }).aborted + (c as { aborted: number }).aborted >= 1;
    }, 3000, 'the remote handler to be aborted');
  });

  it('cancellation crosses: the caller cancels, the remote handler is aborted', async () => {
    const before = ((await clients.b!.request('test.b.counters')) as { aborted: number }).aborted;
    const ctl = new AbortController();
    const call = clients.a!.request('cluster.on.b.slow.wait', { ms: 10_000 }, { timeout: 20_000, signal: ctl.signal }).catch((e) => e);
    await delay(300);
    ctl.abort();
    const err = await call;
    expect(err.code).toBe(-32800);
    await until(async () => ((await clients.b!.request('test.b.counters')) as { aborted: number }).aborted > before, 3000, "b's handler to be aborted by the cancel");
  });

  it('payloads up to the frame limit cross, and beyond it fail -32006 as they do locally', async () => {
    const a = clients.a!;
    const text = 'y'.repeat(900 * 1024);
    expect(await a.request('cluster.on.b.echo.size', { text })).toMatchObject({ node: 'b', length: text.length });
    const big = await a.request<{ text: string }>('cluster.on.b.echo.big', { size: 900 * 1024 });
    expect(big.text.length).toBe(900 * 1024);
    const err = await a.request('cluster.on.b.echo.big', { size: 1100 * 1024 }).catch((e) => e);
    expect(err.code).toBe(-32006);
  });

  it('events cross nodes with their wildcards (jobs.*.done on b, jobs.> on c; audit.> only on b)', async () => {
    await clients.a!.request('test.a.publish', { topic: 'jobs.7.done', data: { id: 7 } });
    await clients.a!.request('test.a.publish', { topic: 'jobs.7.started', data: { id: 7 } });
    await clients.c!.request('test.c.publish', { topic: 'audit.login.ok', data: { who: 'x' } });
    type Ev = { pattern: string; topic: string; from: string; data: unknown };
    const events = async (n: 'b' | 'c') => ((await clients[n]!.request(`test.${n}.counters`)) as { events: Ev[] }).events;
    await until(async () => (await events('b')).length >= 2 && (await events('c')).length >= 2, 5000, 'events on b and c');
    await delay(200);
    const b = await events('b');
    const c = await events('c');
    expect(b.map((e) => `${e.pattern} ${e.topic}`).sort()).toEqual(['audit.> audit.login.ok', 'jobs.*.done jobs.7.done']);
    expect(c.map((e) => `${e.pattern} ${e.topic}`).sort()).toEqual(['jobs.> jobs.7.done', 'jobs.> jobs.7.started']);
    expect(b.find((e) => e.topic === 'jobs.7.done')!.from).toMatch(/@a$/);
    expect(b.find((e) => e.topic === 'jobs.7.done')!.data).toEqual({ id: 7 });
  });

  it('a melody on node a runs its steps on b (text.upper) and c (text.count)', async () => {
    const melody = {
      melody: 'across',
      inputs: { text: { type: 'string' } },
      steps: {
        upper: { call: 'text.upper', with: { text: '${inputs.text}' } },
        count: { call: 'text.count', needs: ['upper'], with: { text: '${steps.upper.output.text}' } },
      },
      outputs: { upper: '${steps.upper.output}', count: '${steps.count.output}' },
    };
    const r = await clients.a!.request<{ outputs: { upper: { node: string; text: string }; count: { node: string; words: number } } }>('melody.run', { melody, inputs: { text: 'to be or not to be' } }, { timeout: 20_000 });
    expect(r.outputs.upper).toEqual({ node: 'b', text: 'TO BE OR NOT TO BE' });
    expect(r.outputs.count).toEqual({ node: 'c', words: 6 });
  });

  it('the Pit is reached from a node without one, through its bus methods (artifacts on a, stored and read from c)', async () => {
    const put = await clients.c!.request<{ name: string; version: number; size: number }>('artifacts.put', { name: 'from-c', data: 'stored across nodes' });
    expect(put).toMatchObject({ name: 'from-c', size: 'stored across nodes'.length });
    const read = await clients.b!.request<{ data?: string; dataBase64?: string }>('artifacts.read', { name: 'from-c' });
    expect(read.data ?? Buffer.from(read.dataBase64 ?? '', 'base64').toString('utf8')).toBe('stored across nodes');
  });

  it('rights are checked at the caller node: a caller without secret.* gets -32002 and b never runs it', async () => {
    const before = ((await clients.b!.request('test.b.counters')) as { runs: Record<string, number> }).runs['secret.read'] ?? 0;
    const r = await clients.a!.request<{ ok: boolean; code: number }>('test.a.call', { method: 'secret.read', rights: { calls: ['math.*'] } });
    expect(r).toMatchObject({ ok: false, code: -32002 });
    // The same caller may call what its rights allow, on another node.
    expect(await clients.a!.request('test.a.call', { method: 'math.add', params: { a: 1, b: 2 }, rights: { calls: ['math.*'] } })).toMatchObject({ ok: true, result: { sum: 3 } });
    await delay(300);
    expect(((await clients.b!.request('test.b.counters')) as { runs: Record<string, number> }).runs['secret.read'] ?? 0).toBe(before);
  });

  it('rights are checked again at the serving node: c does not accept secret.read, whatever the caller may do', async () => {
    // A full-rights caller on a, pinned to c: c refuses (its cluster.accept has no secret.*); b serves it.
    expect(await clients.a!.request('cluster.on.b.secret.read')).toMatchObject({ node: 'b' });
    const err = await clients.a!.request('cluster.on.c.secret.read').catch((e) => e);
    expect(err.code).toBe(-32002);
    expect(err.message).toMatch(/does not accept 'secret.read'/);
  });

  it('symphony ps lists every node (cluster.ps), and cluster.nodes names them', async () => {
    const nodesSeen = await clients.b!.request<{ node: string; self: boolean }[]>('cluster.nodes');
    expect(nodesSeen.map((n) => n.node)).toEqual(['a', 'b', 'c']);
    expect(nodesSeen.find((n) => n.self)!.node).toBe('b');
    const ps = await clients.b!.request<{ nodes: { node: string; components?: { name: string }[]; error?: unknown }[] }>('cluster.ps');
    expect(ps.nodes.map((n) => n.node)).toEqual(['a', 'b', 'c']);
    for (const n of ps.nodes) {
      expect(n.error).toBeUndefined();
      expect(n.components!.map((c) => c.name)).toEqual(expect.arrayContaining(['bus', 'svc', 'cluster']));
    }
    expect(ps.nodes.find((n) => n.node === 'a')!.components!.map((c) => c.name)).toContain('conductor');
  });

  it('cluster.ps and another node\'s system.ps are the operator\'s: a caller with every call right but no operator token gets -32002', async () => {
    // An extension-like caller on a, allowed to call anything: still not the operator, here or on b.
    const ps = await clients.a!.request<{ ok: boolean; code: number; message: string }>('test.a.call', { method: 'cluster.ps', rights: { calls: ['>'] } });
    expect(ps).toMatchObject({ ok: false, code: -32002 });
    expect(ps.message).toMatch(/'cluster.ps' is the operator's/);
    const remote = await clients.a!.request<{ ok: boolean; code: number; message: string }>('test.a.call', { method: 'cluster.on.b.system.ps', rights: { calls: ['>'] } });
    expect(remote).toMatchObject({ ok: false, code: -32002 });
    expect(remote.message).toMatch(/'system.ps' is the operator's/);
    // The operator on a reaches b's system.ps, and b sees the call as the operator's from a.
    const direct = await clients.a!.request<{ components: { name: string }[] }>('cluster.on.b.system.ps');
    expect(direct.components.map((c) => c.name)).toContain('svc');
  });

  it('the dashboard of a node lists every node of the cluster, this one marked', async () => {
    const line = nodes.b!.output.join('').split('\n').find((l) => l.startsWith('symphony: dashboard '));
    expect(line, nodes.b!.output.join('')).toBeDefined();
    const url = line!.slice('symphony: dashboard '.length).trim();
    const state = (await (await fetch(`${url}dashboard/state`)).json()) as { inventory: { nodes?: { node: string; self: boolean; pid: number }[] } };
    expect(state.inventory.nodes?.map((n) => n.node)).toEqual(['a', 'b', 'c']);
    expect(state.inventory.nodes!.find((n) => n.self)!.node).toBe('b');
    expect(state.inventory.nodes!.find((n) => n.node === 'c')!.pid).toBe(nodes.c!.proc.pid);
  });

  it('the node password never appears in what a node prints', async () => {
    const { NATS_PASSWORD } = await import('./harness.js');
    for (const n of Object.values(nodes)) expect(n.output.join('')).not.toContain(NATS_PASSWORD);
  });

  it('a second client on one node still reaches the others (one more connection, same cluster)', async () => {
    const extra = await clientOf(nodes.c!);
    try {
      expect((await extra.request<{ product: number; node: string }>('math.mul', { a: 6, b: 7 })).product).toBe(42);
    } finally {
      await extra.stop();
    }
  });
});
