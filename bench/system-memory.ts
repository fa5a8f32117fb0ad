/**
 * The kernel process's memory from outside, as the kernel reads it: /proc/PID/status at the moment
 * the system says it is ready, split into what is the process's own (RssAnon: the V8 heap,
 * compiled code, malloc) and what is file-backed and shared (RssFile: pages of the node binary and
 * of native modules the parts touched), beside a bare Node process read the same way.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessMemory {
  rssBytes: number;
  anonBytes: number;
  fileBytes: number;
  threads: number;
}

/** /proc/PID/status's resident figures (Linux). */
export function processMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rssBytes: kb('VmRSS'), anonBytes: kb('RssAnon'), fileBytes: kb('RssFile'), threads: kb('Threads') / 1024 };
}

/** A bare `node` that has started and printed a line (what the kernel's process has before it loads anything). */
export function bareMemory(): Promise<ProcessMemory> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', 'console.log("up"); setTimeout(() => {}, 2000)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.once('error', reject);
    child.stdout.once('data', () => {
      resolve(processMemory(child.pid!));
      child.kill('SIGKILL');
    });
  });
}

/**
 * `symphony up` serving (not --once, so nothing stops before it is read), read at its "system
 * ready" line, then stopped with SIGTERM. No dashboard page is open.
 */
export function systemMemoryAtReady(cli: string, cwd: string, dataDir: string): Promise<ProcessMemory> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'up', '--log', 'json', '--data', join(dataDir, 'data')], { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    let read: ProcessMemory | undefined;
    child.once('error', reject);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (read || !/"type":"system","state":"ready"/.test(out)) return;
      read = processMemory(child.pid!);
      child.kill('SIGTERM');
    });
    child.once('exit', (code) => (read ? resolve(read) : reject(new Error(`symphony up exited (${code}) before it was ready`))));
  });
}
