/**
 * What a process holds, counted from the outside of the code under test: libuv handles and
 * requests by type (process.getActiveResourcesInfo), open file descriptors and sockets
 * (/proc/self/fd), child processes (/proc/<pid>/stat whose parent is this process), and the heap.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface Snapshot {
  resources: Record<string, number>;
  fds: number;
  sockets: number;
  children: number[];
  heapUsed: number;
}

export function childrenOf(pid = process.pid): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may contain spaces and parentheses, so parse after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

export function snapshot(): Snapshot {
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    fds++;
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed while listing
    }
  }
  return { resources, fds, sockets, children: childrenOf(), heapUsed: process.memoryUsage().heapUsed };
}

/** What `after` holds beyond `before`: a line per kind of leak (empty when nothing leaked). */
export function leaks(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const [type, n] of Object.entries(after.resources)) {
    const was = before.resources[type] ?? 0;
    if (n > was) out.push(`${n - was} more ${type}`);
  }
  if (after.fds > before.fds) out.push(`${after.fds - before.fds} more file descriptor(s)`);
  if (after.sockets > before.sockets) out.push(`${after.sockets - before.sockets} more socket(s)`);
  const extra = after.children.filter((c) => !before.children.includes(c));
  if (extra.length) out.push(`${extra.length} child process(es) left: ${extra.join(', ')}`);
  return out;
}

/** Lets timers and I/O callbacks run out, then collects (with --expose-gc). */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
  (globalThis as { gc?: () => void }).gc?.();
}

/** Waits until nothing leaks compared with `baseline` (resources close asynchronously), up to `ms`. */
export async function settledLeaks(baseline: Snapshot, ms = 2000): Promise<string[]> {
  const end = Date.now() + ms;
  let found: string[] = [];
  do {
    await settle();
    found = leaks(baseline, snapshot());
    if (!found.length) return found;
    await new Promise((r) => setTimeout(r, 20));
  } while (Date.now() < end);
  return found;
}
