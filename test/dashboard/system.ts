/**
 * A real `symphony up` for the dashboard tests: the compiled CLI in a scratch folder (its own
 * data folder), the dashboard's address from its ready line, the operator token from beside the
 * bus socket, `symphony ps --json` for what the system says independently of the page.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NURSERY_FLAG } from '../nursery.js';

export const root = resolve(import.meta.dirname, '..', '..');
const bin = join(root, 'dist', 'cli', 'main.js');

export interface RunningSystem {
  child: ChildProcess;
  dir: string;
  url: string;
  token: string;
  /** The bus socket (from run.json). */
  socket: string;
  output(): string;
  ps(): { system: { pid: number; rssBytes: number }; components: { name: string; kind: string; state: string; pid: number | null; restarts: number }[] };
  status(): Promise<{ dashboard: { clients: number; queuedBytes: number; closedClients: number; droppedClients: number; droppedBatches: number; suppressedLines: number; refusedStreams: number; lastClose: string | null } }>;
  call(method: string, params?: unknown): unknown;
  stop(): Promise<void>;
}

/** `quiet`: the system's output goes nowhere (a flood would fill the test's memory); its address comes from run.json. */
export async function startSystem(args: string[] = [], setup?: (dir: string) => void, options: { quiet?: boolean } = {}): Promise<RunningSystem> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build first`);
  const dir = mkdtempSync(join(tmpdir(), 'symphony-dashboard-'));
  setup?.(dir);
  const child = spawn(process.execPath, [NURSERY_FLAG, bin, 'up', '--log', 'plain', ...args], { cwd: dir, stdio: ['ignore', options.quiet ? 'ignore' : 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.length > 1 << 20) out = out.slice(-(1 << 19)); // a flood test prints a lot: keep the tail
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 1 << 20) err = err.slice(-(1 << 19));
  });
  let url = '';
  const exited = new Promise<never>((_, rej) => child.once('exit', (code) => rej(new Error(`symphony up exited ${code}:\n${out}\n${err}`))));
  exited.catch(() => {});
  if (child.stdout) {
    url = await Promise.race([
      exited,
      new Promise<string>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no dashboard line in 30s:\n${out}\n${err}`)), 30_000);
        const look = () => {
          const m = /^symphony: dashboard (http:\/\/\S+)$/m.exec(out);
          if (m) {
            clearTimeout(timer);
            child.stdout!.off('data', look);
            res(m[1]!);
          }
        };
        child.stdout!.on('data', look);
      }),
    ]);
  }
  // run.json names the socket once the operator's console serves (just after the ready line).
  let token = '';
  let socket = '';
  for (let i = 0; i < 100 && !token; i++) {
    try {
      const run = JSON.parse(readFileSync(join(dir, '.symphony', 'run.json'), 'utf8')) as { socket: string | null; http?: string | null };
      if (run.socket) token = readFileSync(`${run.socket}.token`, 'utf8').trim();
      socket = run.socket ?? '';
      if (run.socket && !url && run.http) url = `${run.http}/`;
    } catch {
      // not written yet
    }
    if (!token) await new Promise((r) => setTimeout(r, 100));
  }
  if (!token) throw new Error(`no operator token beside the socket named in ${join(dir, '.symphony', 'run.json')}`);
  const cli = (...a: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...a, '--data', join(dir, '.symphony')], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`symphony ${a.join(' ')} exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as unknown;
  };
  return {
    child,
    dir,
    url,
    token,
    socket,
    output: () => `${out}\n${err}`,
    ps: () => cli('ps', '--json') as ReturnType<RunningSystem['ps']>,
    status: async () => (await (await fetch(`${url}status`)).json()) as Awaited<ReturnType<RunningSystem['status']>>,
    call: (method, params) => cli('call', method, JSON.stringify(params ?? {}), '--json'),
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resident memory of a process (bytes), from /proc. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}
