import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { BusClient } from '../bus/index.js';
import { formatMs, parseDuration } from '../util/duration.js';
import { dataFolder, processAlive, readRunInfo, runFile, socketAnswers } from './data-folder.js';
import type { LogLine, OperatorMethods, PsResult } from './operator-service.js';

/**
 * The operator's console: `symphony ps`, `call`, `restart`, `logs`, each one connection to a
 * running system's bus with the operator's token (read from `<socket>.token`, mode 0600: only
 * the user who started the system can read it).
 */

/** No running system where we looked: exit 3, saying where. */
export class NoSystemError extends Error {}

/** A call the system answered with an error: exit 1, its code and message. */
export class CallFailed extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface Where {
  socket?: string | undefined;
  data?: string | undefined;
  /** The config file (from -c or the current folder), or undefined for the built-in default system. */
  configFile?: string | undefined;
  /** That config's `data:` key, if it has one. */
  configured?: string | undefined;
}

/** Finds the running system (its socket and the token file beside it), or says where it looked. */
export async function locate(where: Where): Promise<{ socket: string; token: string; pid: number | null; data: string | null }> {
  if (where.socket !== undefined) {
    if (!(await socketAnswers(where.socket))) throw new NoSystemError(`no running system: nothing answers on the socket ${where.socket}`);
    return { socket: where.socket, token: readToken(where.socket), pid: null, data: null };
  }
  const data = dataFolder({ data: where.data, configFile: where.configFile, configured: where.configured });
  const from = where.data !== undefined ? `--data ${where.data}` : where.configFile !== undefined ? `the data folder of ${rel(where.configFile)}` : 'the data folder of the built-in default system in this directory';
  const info = readRunInfo(data);
  const hint = 'start one with symphony up, or say where it is with -c FILE, --data DIR or --socket PATH';
  if (!info) throw new NoSystemError(`no running system: ${rel(runFile(data))} does not exist (looked in ${from}); ${hint}`);
  if (!processAlive(info.pid)) throw new NoSystemError(`no running system: ${rel(runFile(data))} was left by process ${info.pid}, which is gone; ${hint}`);
  if (info.state !== 'running' || !info.socket) throw new NoSystemError(`the system in ${rel(data)} (pid ${info.pid}) is still booting: its bus is not listening yet; try again in a moment`);
  if (!(await socketAnswers(info.socket))) throw new NoSystemError(`no running system: ${rel(runFile(data))} names the socket ${info.socket}, where nothing answers (process ${info.pid} may be stopping)`);
  return { socket: info.socket, token: readToken(info.socket), pid: info.pid, data };
}

function readToken(socket: string): string {
  const file = `${socket}.token`;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new NoSystemError(
      code === 'EACCES'
        ? `cannot read the operator's token ${file}: permission denied (only the user who started the system can use its console)`
        : `cannot read the operator's token ${file} (${code ?? (err as Error).message}): the system's bus was not given token: auto, so its operator token is where its config says (env: or file:)`,
    );
  }
}

export async function connectConsole(where: Where): Promise<BusClient> {
  const found = await locate(where);
  const { connect } = await import('../bus/index.js');
  try {
    return await connect({ path: found.socket, token: found.token, name: 'symphony-console', transport: 'socket', reconnect: false, exitWithParent: false });
  } catch (err) {
    // A system answered, and refused the token: not "no system" (exit 3) but a refusal (exit 1).
    const e = err as { code?: unknown; message?: string };
    if (e.code === -32001) throw new CallFailed(-32001, `the system at ${found.socket} refused the operator's token in ${found.socket}.token (${e.message ?? 'unauthorized'}): that file is not this system's token; use the token file its bus wrote beside its socket`);
    throw new NoSystemError(`could not join the system's bus at ${found.socket}: ${(err as Error).message}`);
  }
}

/**
 * `cluster.ps` and `cluster.status` as the console reads them. The cluster declares each
 * node's part loosely (`ClusterPs`: `system: unknown`), being below the CLI that declares
 * `system.ps`; each node's part is that node's `system.ps`.
 */
interface ClusterMethods {
  'cluster.ps': { params: Record<string, never>; result: { nodes: ClusterPsNode[] } };
  'cluster.status': { params: Record<string, never>; result: { node: string } };
}

/** The methods the console calls, each typed by its declaration. */
type ConsoleMethods = OperatorMethods & ClusterMethods;

function request<M extends keyof ConsoleMethods>(client: BusClient, method: M, params: ConsoleMethods[M]['params'], timeout: string | number): Promise<ConsoleMethods[M]['result']> {
  return send<ConsoleMethods[M]['result']>(client, method, params, timeout);
}

/** One request; an error answer is a CallFailed carrying its code, message and data. */
async function send<T>(client: BusClient, method: string, params: unknown, timeout: string | number): Promise<T> {
  try {
    return await client.request<T>(method, params, { timeout });
  } catch (err) {
    const e = err as { code?: unknown; message?: string; data?: unknown };
    throw new CallFailed(typeof e.code === 'number' ? e.code : -32603, e.message ?? String(err), e.data);
  }
}

/** `symphony call METHOD [PARAMS_JSON]`: the result as JSON (indented; one line with --json). */
export async function call(where: Where, method: string, paramsText: string | undefined, options: { timeout?: string | undefined; json?: boolean | undefined }, out: NodeJS.WritableStream): Promise<void> {
  let params: unknown = undefined;
  if (paramsText !== undefined) {
    try {
      params = JSON.parse(paramsText);
    } catch (err) {
      // What the bus answers a frame that is not JSON, said before anything is sent.
      throw new CallFailed(-32700, `PARAMS_JSON is not JSON: ${(err as Error).message} (quote it for the shell: symphony call ${method} '{"key": "value"}')`);
    }
  }
  const timeout = options.timeout ?? '30s';
  if (parseDuration(timeout) === undefined) throw new TypeError(`--timeout must be a duration such as 500ms, 5s or 2m (got '${timeout}')`);
  const client = await connectConsole(where);
  try {
    const result = await send<unknown>(client, method, params, timeout);
    out.write(`${options.json ? JSON.stringify(result ?? null) : JSON.stringify(result ?? null, null, 2)}\n`);
  } finally {
    await client.stop();
  }
}

export async function ps(where: Where, options: { json?: boolean | undefined }, out: NodeJS.WritableStream): Promise<void> {
  const client = await connectConsole(where);
  let r: PsResult;
  // On a node of a cluster (its `cluster` component up): every node's processes, by node.
  let cluster: { self: string; nodes: ClusterPsNode[] } | undefined;
  try {
    r = await request(client, 'system.ps', {}, '10s');
    if (r.components.some((c) => c.name === 'cluster' && (c.state === 'ready' || c.state === 'degraded'))) {
      const [all, status] = await Promise.all([request(client, 'cluster.ps', {}, '10s'), request(client, 'cluster.status', {}, '10s')]);
      cluster = { self: status.node, nodes: all.nodes };
    }
  } finally {
    await client.stop();
  }
  if (options.json) {
    const { system, components } = r;
    out.write(`${JSON.stringify({ system: { state: system.state, isolation: system.isolation, pid: system.pid, uptimeMs: system.uptimeMs, rssBytes: system.rssBytes }, components, ...(cluster ? { node: cluster.self, nodes: cluster.nodes } : {}) }, null, 2)}\n`);
    return;
  }
  const systemLine = (s: PsResult['system']) => `system ${s.state}  pid ${s.pid}  up ${duration(s.uptimeMs)}  rss ${bytes(s.rssBytes)}  isolation ${s.isolation}`;
  const byNode = cluster ? cluster.nodes : [{ node: '', system: r.system, components: r.components }];
  if (cluster) out.write(`cluster of ${cluster.nodes.length} nodes (this one: ${cluster.self})\n`);
  for (const n of byNode) {
    if ('error' in n) out.write(`node ${n.node}: no answer (${n.error.code}: ${n.error.message})\n`);
    else out.write(`${cluster ? `node ${n.node}  ` : ''}${systemLine(n.system)}\n`);
  }
  const rows = [[...(cluster ? ['NODE'] : []), 'NAME', 'KIND', 'STATE', 'HEALTH', 'PID', 'RESTARTS', 'UPTIME', 'RSS', 'ISOLATION']];
  const failures: string[] = [];
  for (const n of byNode) {
    if ('error' in n) continue;
    for (const c of n.components) {
      rows.push([...(cluster ? [n.node] : []), c.name, c.kind, c.state, c.health ?? '-', c.pid === null ? '-' : String(c.pid), String(c.restarts), c.uptimeMs === null ? '-' : duration(c.uptimeMs), c.rssBytes === null ? '-' : bytes(c.rssBytes), c.isolation]);
      // Why a part last failed, beneath the table (one line each; the whole text is in --json).
      if (c.error) failures.push(`${cluster ? `${n.node}/` : ''}${c.name}: last error: ${c.error.split('\n')[0]}`);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) out.write(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
  for (const f of failures) out.write(`${f}\n`);
}

/** One node's part of `cluster.ps`: its `system.ps`, or why it did not answer. */
type ClusterPsNode = { node: string } & ({ system: PsResult['system']; components: PsResult['components'] } | { error: { code: number; message: string } });

export async function restart(where: Where, name: string, out: NodeJS.WritableStream): Promise<void> {
  const client = await connectConsole(where);
  try {
    const r = await request(client, 'system.restart', { name }, '2m');
    out.write(`restarted ${r.kind} '${r.restarted}': ${r.state}\n`);
  } finally {
    await client.stop();
  }
}

/** `symphony logs [NAME] [-f]`: the recent lines; with -f, then each new one until the system stops or Ctrl-C. */
export async function logs(where: Where, name: string | undefined, options: { follow?: boolean | undefined; lines?: number | undefined; json?: boolean | undefined }, out: NodeJS.WritableStream, signal: AbortSignal): Promise<'ended' | 'stopped'> {
  const client = await connectConsole(where);
  const print = (lines: LogLine[]) => {
    for (const l of lines) out.write(options.json ? `${JSON.stringify(l)}\n` : `${l.time}  ${l.component.padEnd(12)} ${l.level.padEnd(5)} ${l.message}\n`);
  };
  try {
    let r = await request(client, 'system.logs', { name, limit: options.lines ?? 200 }, '10s');
    print(r.lines);
    if (!options.follow) return 'ended';
    let last = r.last;
    const gone = client.closed.then(() => 'gone' as const);
    const interrupted = new Promise<'interrupted'>((resolve) => signal.addEventListener('abort', () => resolve('interrupted'), { once: true }));
    for (;;) {
      const next = request(client, 'system.logs', { name, after: last, limit: 1000, waitMs: 20_000 }, '30s');
      const got = await Promise.race([next, gone, interrupted]).catch((err: unknown) => ({ failed: err }));
      if (got === 'interrupted') return 'ended';
      if (got === 'gone') return 'stopped';
      if ('failed' in got) {
        // Every error of a request is a CallFailed (send): the system stopped answering.
        if (got.failed instanceof CallFailed) return 'stopped';
        throw got.failed;
      }
      r = got;
      print(r.lines);
      last = r.last;
    }
  } finally {
    await client.stop().catch(() => {});
  }
}

function duration(ms: number): string {
  if (ms < 60_000) return formatMs(ms);
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

function bytes(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function rel(path: string): string {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith('..') ? r : path;
}
