/**
 * Real NATS servers and real kernels for the cluster tests: `nats-server` processes clustered on
 * loopback (free ports, routes between all), and `symphony up` processes, one per node, each with
 * its bus on a socket the test talks to. Nothing is mocked.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '../..');
export const services = join(root, 'test/fixtures/cluster/services.mjs');
const cli = join(root, 'dist/cli/main.js');

/** The nats-server binary, or undefined; under CI its absence is a failure, never a skip. */
export function natsServerBinary(): string | undefined {
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) if (existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const found = r.stdout.trim();
  if (found) return found;
  if (process.env.CI) throw new Error('nats-server is not installed: the cluster tests need it (Debian: apt-get install nats-server; .ci/run installs it)');
  return undefined;
}

const handedOut = new Set<number>();

/** A port nobody listens on now (and not handed out before in this run). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await anyPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function anyPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
  });
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms: number, what: string | (() => string)): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms}ms waiting for ${typeof what === 'function' ? what() : what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await delay(25);
  }
}

export const NATS_USER = 'symphony-node';
export const NATS_PASSWORD = 'pw-' + Math.random().toString(36).slice(2);

export interface NatsServer {
  name: string;
  port: number;
  url: string;
  proc: ChildProcess;
  log: string[];
  /** Its config file (a restart reads it again) and its monitoring port (/routez). */
  conf: string;
  monitorPort: number;
  kill(signal?: NodeJS.Signals): void;
}

export interface NatsCluster {
  servers: NatsServer[];
  urls: string[];
  stop(): Promise<void>;
}

/**
 * `n` nats-server processes routed to each other (a full mesh), with one user per node whose
 * permissions are the cluster's prefix only; `maxPayload` to make chunking necessary.
 */
export async function startNatsCluster(n: number, options: { maxPayload?: number; dir: string; prefix?: string }): Promise<NatsCluster> {
  const bin = natsServerBinary();
  if (!bin) throw new Error('nats-server is not installed');
  const ports: number[] = [];
  const routePorts: number[] = [];
  const monitorPorts: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort()), routePorts.push(await freePort()), monitorPorts.push(await freePort());
  const prefix = options.prefix ?? 'symphony';
  const servers: NatsServer[] = [];
  for (let i = 0; i < n; i++) {
    const name = `s${i + 1}`;
    const conf = join(options.dir, `${name}.conf`);
    const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`);
    writeFileSync(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${ports[i]}`,
        `http: 127.0.0.1:${monitorPorts[i]}`,
        ...(options.maxPayload ? [`max_payload: ${options.maxPayload}`] : []),
        `authorization { users: [ { user: "${NATS_USER}", password: "${NATS_PASSWORD}", permissions: { publish: "${prefix}.>", subscribe: "${prefix}.>" } } ] }`,
        `cluster { name: symphony-test, listen: 127.0.0.1:${routePorts[i]}, routes: [${routes.map((r) => `"${r}"`).join(', ')}] }`,
        '',
      ].join('\n'),
    );
    const server: NatsServer = {
      name,
      port: ports[i]!,
      url: `nats://127.0.0.1:${ports[i]}`,
      proc: undefined as unknown as ChildProcess,
      log: [],
      conf,
      monitorPort: monitorPorts[i]!,
      kill(signal = 'SIGKILL') {
        this.proc.kill(signal);
      },
    };
    server.proc = spawnServer(bin, conf, server.log);
    servers.push(server);
  }
  // Ready when every server sees its n-1 routes.
  await Promise.all(servers.map((s) => routed(s, n - 1)));
  return {
    servers,
    urls: servers.map((s) => s.url),
    async stop() {
      await Promise.all(servers.map((s) => (s.proc.exitCode === null && s.proc.signalCode === null ? new Promise((r) => (s.proc.once('exit', r), s.proc.kill('SIGKILL'))) : undefined)));
    },
  };
}

function spawnServer(bin: string, conf: string, log: string[]): ChildProcess {
  const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => log.push(String(d)));
  proc.stderr!.on('data', (d) => log.push(String(d)));
  return proc;
}

/** Resolves when the server sees `routes` routes to the others (its monitoring endpoint says so). */
export function routed(s: NatsServer, routes: number, ms = 15_000): Promise<true> {
  return until(
    async () => {
      const r = await fetch(`http://127.0.0.1:${s.monitorPort}/routez`);
      return ((await r.json()) as { num_routes: number }).num_routes >= routes;
    },
    ms,
    () => `nats-server ${s.name} to see its routes (exit ${s.proc.exitCode}, log: ${s.log.join('').slice(-800)})`,
  );
}

/** Starts a (killed) server again on its config: same name, ports, users and routes. */
export function restartNatsServer(s: NatsServer): void {
  if (s.proc.exitCode === null && s.proc.signalCode === null) throw new Error(`nats-server ${s.name} is still running`);
  const bin = natsServerBinary();
  if (!bin) throw new Error('nats-server is not installed');
  s.log.length = 0;
  s.proc = spawnServer(bin, s.conf, s.log);
}

export interface NodeOptions {
  name: string;
  servers: string[];
  serve?: string[];
  subscribe?: string[];
  /** Extra `cluster:` keys (YAML flow, e.g. `accept: [math.*]`). */
  cluster?: string;
  /** Extra components (YAML lines under components:). */
  components?: string[];
  dir: string;
  env?: Record<string, string>;
  /** Node's own flags for the kernel process (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export interface KernelNode {
  name: string;
  proc: ChildProcess;
  output: string[];
  socket: string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Writes the node's config and starts `symphony up` on it; resolves when the process is spawned (use ready() to wait for the bus). */
export function startNode(o: NodeOptions): KernelNode {
  const dir = join(o.dir, o.name);
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'bus.sock');
  const flow = (xs: string[]) => `[${xs.join(', ')}]`;
  const yaml = [
    `cluster: { node: ${o.name}, servers: ${flow(o.servers)}, user: ${NATS_USER}, password: env:CLUSTER_TEST_PASSWORD, heartbeat: 250ms${o.cluster?.includes('connectTimeout') ? '' : ', connectTimeout: 3s'}${o.cluster ? `, ${o.cluster}` : ''} }`,
    'components:',
    `  bus: { use: builtin:bus, with: { listen: ${socket} } }`,
    `  svc: { use: ${services}, needs: [bus], with: { tag: ${o.name}, serve: ${flow(o.serve ?? [])}, subscribe: ${flow(o.subscribe ?? [])} } }`,
    ...(o.components ?? []).map((c) => `  ${c}`),
    '',
  ].join('\n');
  const file = join(dir, 'symphony.yaml');
  writeFileSync(file, yaml);
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), cli, 'up', '-c', file, '--data', join(dir, 'data')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLUSTER_TEST_PASSWORD: NATS_PASSWORD, ...o.env },
  });
  const output: string[] = [];
  proc.stdout!.on('data', (d) => output.push(String(d)));
  proc.stderr!.on('data', (d) => output.push(String(d)));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { name: o.name, proc, output, socket, exited, kill: (signal = 'SIGKILL') => void proc.kill(signal) };
}

export function tempDir(name: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `symphony-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestClient {
  request<T = any>(method: string, params?: unknown, options?: { timeout?: number | string; signal?: AbortSignal }): Promise<T>;
  subscribe(pattern: string, fn: (data: any, e: { topic: string }) => void): { unsubscribe(): void; ready: Promise<void> };
  stop(): Promise<void>;
}

/** A bus client of a node (the operator's token beside its socket). */
export async function clientOf(node: KernelNode): Promise<TestClient> {
  const { connect } = (await import(join(root, 'dist/bus/index.js'))) as { connect(o: object): Promise<TestClient> };
  return connect({ path: node.socket, reconnect: false, name: 'test' });
}

/** Waits until the node's bus answers and its cluster sees `expect` nodes. */
export async function ready(node: KernelNode, expectNodes: number, ms = 20_000): Promise<TestClient> {
  const c = await until(
    async () => {
      if (node.proc.exitCode !== null) throw new Error(`node ${node.name} exited: ${node.output.join('')}`);
      return existsSync(`${node.socket}.token`) ? await clientOf(node) : undefined;
    },
    ms,
    () => `node ${node.name}'s bus (output: ${node.output.join('').slice(-1500)})`,
  );
  await until(async () => ((await c.request<unknown[]>('cluster.nodes', {}, { timeout: 2000 })).length >= expectNodes ? true : undefined), ms, () => `node ${node.name} to see ${expectNodes} nodes (output: ${node.output.join('').slice(-1500)})`);
  // cluster.nodes answers while the cluster component is still joining: wait for the whole system to be up.
  await until(async () => ['ready', 'degraded'].includes((await c.request<{ system: { state: string } }>('system.ps', {}, { timeout: 2000 })).system.state), ms, () => `node ${node.name}'s system to be ready (output: ${node.output.join('').slice(-1500)})`);
  return c;
}
