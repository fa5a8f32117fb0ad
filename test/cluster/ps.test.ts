/**
 * `symphony ps` on a node of a cluster: the real CLI, run against one node of a three-node
 * cluster, lists every node's components with a NODE column and every node's system line (its
 * own pid); a node that is gone is gone from the printout.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsServerBinary, ready, root, services, startNatsCluster, startNode, tempDir, until, type KernelNode, type NatsCluster, type TestClient } from './harness.js';

const bin = natsServerBinary();
const cli = join(root, 'dist/cli/main.js');

function runCli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('exit', (code) => resolve({ code, out, err }));
  });
}

/** The table's rows as NODE -> NAME -> the rest (cells split on runs of two or more spaces). */
function rows(out: string): Map<string, Set<string>> {
  const lines = out.split('\n');
  const head = lines.findIndex((l) => l.startsWith('NODE '));
  const by = new Map<string, Set<string>>();
  for (const l of lines.slice(head + 1)) {
    const m = /^(\S+)\s+(\S+)\s+/.exec(l);
    if (!m || l.includes(': last error:')) continue;
    if (!by.has(m[1]!)) by.set(m[1]!, new Set());
    by.get(m[1]!)!.add(m[2]!);
  }
  return by;
}

describe.skipIf(!bin)('symphony ps on a clustered node', () => {
  const tmp = tempDir('cluster-ps');
  let nats: NatsCluster;
  const nodes: Record<string, KernelNode> = {};
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNatsCluster(3, { dir: tmp.dir });
    for (const n of ['a', 'b', 'c']) {
      // A component only this node has, so a row of it can only come from this node.
      nodes[n] = startNode({ name: n, servers: nats.urls, serve: ['math.add'], dir: tmp.dir, components: [`only-${n}: { use: ${services}, needs: [bus], with: { tag: only-${n} } }`] });
    }
    for (const n of ['a', 'b', 'c']) clients.push(await ready(nodes[n]!, 3));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.stop().catch(() => {});
    for (const n of Object.values(nodes)) n.kill('SIGKILL');
    await Promise.all(Object.values(nodes).map((n) => n.exited));
    await nats?.stop();
    tmp.remove();
  });

  it("lists every node's components with the node's name, and each node's own system line", async () => {
    const r = await runCli(['ps', '--socket', nodes.a!.socket]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^cluster of 3 nodes \(this one: a\)$/m);
    // Each node's system line carries that node's own kernel pid.
    for (const n of ['a', 'b', 'c']) expect(r.out).toMatch(new RegExp(`^node ${n}  system ready  pid ${nodes[n]!.proc.pid} `, 'm'));
    const table = rows(r.out);
    expect([...table.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const n of ['a', 'b', 'c']) {
      expect([...table.get(n)!].sort()).toEqual(['bus', 'cluster', `only-${n}`, 'svc'].sort());
    }
    // --json keeps this node's system and components and adds every node's.
    const j = JSON.parse((await runCli(['ps', '--json', '--socket', nodes.b!.socket])).out) as { node: string; components: { name: string }[]; nodes: { node: string; components: { name: string }[] }[] };
    expect(j.node).toBe('b');
    expect(j.components.map((c) => c.name)).toContain('only-b');
    expect(j.nodes.map((n) => n.node)).toEqual(['a', 'b', 'c']);
    expect(j.nodes.find((n) => n.node === 'c')!.components.map((c) => c.name)).toContain('only-c');
  }, 30_000);

  it('symphony call on one node reaches a method only another node serves; one nobody serves is -32601 at once', async () => {
    const r = await runCli(['call', 'test.only-c.counters', '--socket', nodes.a!.socket]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toHaveProperty('runs');
    // Pinned to a node by name: that node's own system.ps, as the operator.
    const pinned = await runCli(['call', 'cluster.on.b.system.ps', '--socket', nodes.a!.socket]);
    expect(pinned.code, pinned.err).toBe(0);
    expect((JSON.parse(pinned.out) as { components: { name: string }[] }).components.map((c) => c.name)).toContain('only-b');
    const t0 = performance.now();
    const none = await runCli(['call', 'nobody.serves.this', '--socket', nodes.a!.socket]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/-32601/);
    expect(performance.now() - t0).toBeLessThan(5000);
  }, 30_000);

  it('a node that is gone is gone from the printout', async () => {
    nodes.c!.kill('SIGKILL');
    await nodes.c!.exited;
    await until(async () => (await clients[0]!.request<unknown[]>('cluster.nodes')).length === 2, 5000, "c to leave a's view");
    const r = await runCli(['ps', '--socket', nodes.a!.socket]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^cluster of 2 nodes \(this one: a\)$/m);
    expect([...rows(r.out).keys()].sort()).toEqual(['a', 'b']);
    expect(r.out).not.toContain('only-c');
  }, 30_000);
});
