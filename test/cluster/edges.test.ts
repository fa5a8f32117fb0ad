/**
 * The cluster's edges: a malformed `cluster:` entry is named at FILE:LINE:COL; payloads larger
 * than the servers' max_payload cross in chunks (and past the frame limit fail -32006); a request
 * forged by a process holding a node's NATS credentials is checked again by the serving node, and
 * the handler never runs.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadSystemText } from '../../src/system/index.js';
import { NATS_PASSWORD, NATS_USER, natsServerBinary, ready, root, startNatsCluster, startNode, tempDir, type KernelNode, type NatsCluster, type TestClient } from './harness.js';

const bin = natsServerBinary();

describe('the cluster: key', () => {
  const load = (text: string) => loadSystemText('/tmp/sys.yaml', text).then(() => 'ok', (e: unknown) => (e instanceof ConfigError ? e.message : String(e)));
  const bus = 'components:\n  bus: { use: builtin:bus }\n';

  it('a malformed server URL is named at its FILE:LINE:COL', async () => {
    expect(await load(`cluster:\n  node: a\n  servers: [nats://127.0.0.1:4222, "http://x:1"]\n${bus}`)).toMatch(/^\/tmp\/sys\.yaml:3:36: each entry of cluster.servers must be a NATS URL/);
    expect(await load(`cluster: { node: a, servers: ["nats://user:pw@h:4222"] }\n${bus}`)).toMatch(/sys\.yaml:1:31: .*without user or password/);
    expect(await load(`cluster: { node: a, servers: [] }\n${bus}`)).toMatch(/sys\.yaml:1:30: cluster.servers must list at least one/);
  });

  it('a bad node name, a secret written in the file, an unknown key: each at its position', async () => {
    expect(await load(`cluster: { node: "a b", servers: [nats://h:1] }\n${bus}`)).toMatch(/sys\.yaml:1:18: cluster.node must be a name/);
    expect(await load(`cluster: { node: a, servers: [nats://h:1], user: u, password: hunter2 }\n${bus}`)).toMatch(/sys\.yaml:1:\d+: cluster.password must be env:NAME or file:PATH/);
    expect(await load(`cluster: { node: a, servers: [nats://h:1], sever: x }\n${bus}`)).toMatch(/sys\.yaml:1:\d+: unknown key 'sever'/);
    expect(await load(`cluster: { node: a, servers: [nats://h:1, tls://h:2] }\n${bus}`)).toBe('ok');
  });

  it('without cluster:, the NATS client is never loaded (and with it, it is: the watch works)', async () => {
    const { spawnSync } = await import('node:child_process');
    const run = (yaml: string) => spawnSync(process.execPath, ['--import', join(root, 'test/fixtures/cluster/watch-nats.mjs'), join(root, 'test/fixtures/cluster/boot-once.mjs'), yaml], { encoding: 'utf8' });
    const without = run('components:\n  bus: { use: builtin:bus, with: { listen: none } }\n');
    expect(without.status).toBe(0);
    expect(without.stdout).not.toMatch(/boot failed/);
    expect(without.stderr).not.toMatch(/LOADED .*@nats-io/);
    const withIt = run('cluster: { node: a, servers: [nats://127.0.0.1:1], connectTimeout: 200ms }\ncomponents:\n  bus: { use: builtin:bus, with: { listen: none } }\n');
    expect(withIt.stderr).toMatch(/LOADED .*@nats-io\/transport-node/);
  });
});

describe.skipIf(!bin)('chunks and forged requests', () => {
  const tmp = tempDir('cluster-edges');
  let nats: NatsCluster;
  const nodes: KernelNode[] = [];
  let a: TestClient;
  let b: TestClient;

  beforeAll(async () => {
    // A small max_payload: 64 KiB, so anything larger must be chunked.
    nats = await startNatsCluster(3, { dir: tmp.dir, maxPayload: 65_536 });
    nodes.push(startNode({ name: 'a', servers: [nats.urls[0]!], dir: tmp.dir }));
    nodes.push(startNode({ name: 'b', servers: [nats.urls[1]!], serve: ['echo.size', 'echo.big', 'secret.read'], dir: tmp.dir, cluster: 'accept: [echo.*, test.>]' }));
    a = await ready(nodes[0]!, 2);
    b = await ready(nodes[1]!, 2);
  }, 60_000);

  afterAll(async () => {
    await a?.stop().catch(() => {});
    await b?.stop().catch(() => {});
    for (const n of nodes) n.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await nats?.stop();
    tmp.remove();
  });

  it('a request and an answer of ~1 MiB cross in chunks where max_payload is 64 KiB', async () => {
    const text = 'z'.repeat(1000 * 1024);
    expect(await a.request('echo.size', { text })).toEqual({ node: 'b', length: text.length });
    const big = await a.request<{ text: string; node: string }>('echo.big', { size: 1000 * 1024 });
    expect(big.text).toBe('x'.repeat(1000 * 1024));
    expect((await a.request('echo.size', { text: 'w'.repeat(1100 * 1024) }).catch((e) => e)).code).toBe(-32006);
    expect((await a.request('echo.big', { size: 1100 * 1024 }).catch((e) => e)).code).toBe(-32006);
  });

  it("a forged request (valid NATS credentials, no node's admission) is refused by the serving node; its handler never runs", async () => {
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: nats.urls[2]!, user: NATS_USER, pass: NATS_PASSWORD });
    const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
    const ask = async (subject: string, body: unknown) => JSON.parse(new TextDecoder().decode((await nc.request(subject, enc(body), { timeout: 2000, noMux: true, reply: 'symphony.reply.x.y.1' })).data));
    try {
      // Admitted for echo.size, asking for secret.read: refused.
      const r1 = await ask('symphony.node.b.call.secret.read', { i: '1', m: 'secret.read', t: 1000, c: 'mallory', n: 'x', r: ['echo.size'] });
      expect(r1.e.code).toBe(-32002);
      // Admitted for everything, but b does not accept secret.* from other nodes: refused.
      const r2 = await ask('symphony.node.b.call.secret.read', { i: '2', m: 'secret.read', t: 1000, c: 'mallory', n: 'x', r: ['>'] });
      expect(r2.e.code).toBe(-32002);
      expect(r2.e.message).toMatch(/does not accept 'secret.read'/);
      // Malformed: refused, and b is still well.
      const r3 = await ask('symphony.node.b.call.echo.size', { m: 'echo.size' });
      expect(r3.e.code).toBe(-32600);
      const counters = await b.request<{ runs: Record<string, number> }>('test.b.counters');
      expect(counters.runs['secret.read'] ?? 0).toBe(0);
      expect(await a.request('echo.size', { text: 'ok' })).toEqual({ node: 'b', length: 2 });
    } finally {
      await nc.close();
    }
  });
});

describe.skipIf(!bin)('a node whose cluster has no Orchestra', () => {
  const tmp = tempDir('cluster-no-orchestra');
  let nats: NatsCluster;
  let node: KernelNode;
  let c: TestClient;

  beforeAll(async () => {
    nats = await startNatsCluster(1, { dir: tmp.dir });
    node = startNode({ name: 'solo', servers: nats.urls, serve: ['text.upper'], dir: tmp.dir, components: ['pit: { use: builtin:pit, needs: [bus] }', 'conductor: { use: builtin:conductor, needs: [bus, pit] }'] });
    c = await ready(node, 1);
  }, 60_000);

  afterAll(async () => {
    await c?.stop().catch(() => {});
    node?.kill('SIGKILL');
    await node?.exited;
    await nats?.stop();
    tmp.remove();
  });

  // Every method seems served on a node of a cluster (the cluster may have it): the Conductor's
  // question to the Orchestra that nobody runs is answered -32601, which means "none", not a failure.
  it('runs a melody: the question nobody in the cluster serves (orchestra.providers) is taken as no Orchestra', async () => {
    const melody = { melody: 'solo', steps: { upper: { call: 'text.upper', with: { text: 'solo' } } }, outputs: { upper: '${steps.upper.output}' } };
    const r = await c.request<{ state: string; outputs: { upper: { text: string } } }>('melody.run', { melody }, { timeout: 20_000 });
    expect(r.state).toBe('succeeded');
    expect(r.outputs.upper.text).toBe('SOLO');
  });
});
