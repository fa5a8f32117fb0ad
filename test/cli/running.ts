/**
 * Driving the compiled `symphony` bin as an operator would: a system started with `symphony up`
 * in a folder of its own, and one-shot commands against it. Nothing here talks to the system
 * except through the CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { grantsFor } from '../helpers.js';

export const root = resolve(import.meta.dirname, '..', '..');
export const bin = join(root, 'dist/cli/main.js');
export const fixtures = join(root, 'test/fixtures/console');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Started {
  child: ChildProcess;
  result: Promise<Run>;
  output(): string;
  waitFor(text: string | RegExp, ms?: number): Promise<void>;
}

/** Starts `symphony ARGS` in `cwd` (a TTY-less child, NO_COLOR). */
export function start(args: string[], cwd: string, env: Record<string, string> = {}): Started {
  const began = performance.now();
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  let stdout = '';
  let stderr = '';
  const waiters: { test: (s: string) => boolean; resolve(): void }[] = [];
  const check = () => {
    for (const w of [...waiters]) if (w.test(stdout + stderr)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  };
  child.stdout!.on('data', (d: Buffer) => ((stdout += d), check()));
  child.stderr!.on('data', (d: Buffer) => ((stderr += d), check()));
  const result = new Promise<Run>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr, ms: performance.now() - began })));
  return {
    child,
    result,
    output: () => stdout + stderr,
    waitFor(text, ms = 15_000) {
      const test = (s: string) => (typeof text === 'string' ? s.includes(text) : text.test(s));
      return new Promise((res, rej) => {
        if (test(stdout + stderr)) return res();
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${text}\n--- output ---\n${stdout}${stderr}`)), ms);
        waiters.push({ test, resolve: () => (clearTimeout(timer), res()) });
        void result.then(() => {
          if (!test(stdout + stderr)) (clearTimeout(timer), rej(new Error(`exited before ${text}\n--- output ---\n${stdout}${stderr}`)));
        });
      });
    },
  };
}

export const run = (args: string[], cwd: string, env?: Record<string, string>) => start(args, cwd, env).result;

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `symphony-${label}-`));
}

/** `symphony up` in `dir`, resolved once it prints that the system is ready and its console serves (its data folder's run.json says running). */
export async function up(dir: string, args: string[] = [], data = join(dir, '.symphony')): Promise<Started> {
  const s = start(['up', '--log', 'plain', ...args], dir);
  await s.waitFor(/system (ready|degraded) in/, 30_000);
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      if (JSON.parse(readFileSync(join(data, 'run.json'), 'utf8')).state === 'running') break;
    } catch {
      // not written yet
    }
    if (Date.now() > end) throw new Error(`run.json never said running\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return s;
}

/** Stops a system started with up() the way an operator does (SIGINT), and waits for its exit. */
export async function down(s: Started | undefined): Promise<Run | undefined> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return s?.result;
  s.child.kill('SIGINT');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
  const r = await s.result;
  clearTimeout(timer);
  return r;
}

/**
 * The console test system, written into `dir`: the bus, a component (its starts journaled), one in
 * its own process, a `command:` peer, and an Orchestra with two isolated extensions (granted what
 * their manifests ask, `system.*` included for the prober: the bus's rights let it through, the
 * operator's methods must still refuse it). Restarts: 1 within a minute, then quarantine.
 */
export function consoleSystem(dir: string): string {
  const ext = join(fixtures, 'extensions');
  const grants = grantsFor([ext]);
  const file = join(dir, 'symphony.yaml');
  const text = `components:
  bus: { use: builtin:bus }
  clock: { use: ${join(fixtures, 'clock.mjs')}, with: { journal: ${join(dir, 'clock.journal')} } }
  worker: { use: ${join(fixtures, 'worker.mjs')}, mode: process }
  echo: { command: [${process.execPath}, ${join(fixtures, 'echo-peer.mjs')}] }
  orchestra:
    use: builtin:orchestra
    needs: [bus]
    with:
      paths: [${ext}]
      restart: { max: 1, within: 60s }
      backoff: { initial: 20ms, max: 50ms }
      grants: ${JSON.stringify(grants)}
`;
  writeFileSync(file, text);
  return file;
}

export interface PsJson {
  system: { state: string; isolation: string; pid: number };
  components: { name: string; kind: string; state: string; health: string | null; pid: number | null; restarts: number; uptimeMs: number | null; rssBytes: number | null; isolation: string; error?: string | null }[];
}

export async function psJson(dir: string): Promise<PsJson> {
  const r = await run(['ps', '--json'], dir);
  if (r.code !== 0) throw new Error(`symphony ps --json exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as PsJson;
}

export function entry(ps: PsJson, name: string): PsJson['components'][number] {
  const e = ps.components.find((c) => c.name === name);
  if (!e) throw new Error(`ps lists no '${name}': ${ps.components.map((c) => c.name).join(', ')}`);
  return e;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
