/**
 * Resource limits that bound a whole process tree (heap, native buffers, tmpfs pages, threads,
 * children): one cgroup per confined process, under a `symphony-<kernel pid>` group nested in
 * the kernel's own cgroup, with cgroup v2 (memory.max, memory.swap.max, pids.max, cpu.max) or the
 * v1 controllers (memory.limit_in_bytes and memsw, pids.max, cpu.cfs_quota_us). Where neither
 * can be written, `createCgroup` says why and the caller falls back to polling the resident size.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupLimits {
  memoryBytes?: number;
  /** Percent of one CPU (100 = one core). */
  cpuPercent?: number;
  /** Tasks (processes and threads) the tree may hold. */
  processes?: number;
}

export interface Cgroup {
  readonly version: 1 | 2;
  /** The directories written (one per v1 controller, one for v2). */
  readonly paths: string[];
  /** Moves a process (and, from then on, every child it forks) in. */
  add(pid: number): void;
  /** Whether the kernel's OOM killer struck inside this group. */
  oomKilled(): boolean;
  /** How often each limit has held it back so far (counters the kernel keeps; 0 where unreadable). */
  pressure(): LimitPressure;
  /** The processes in the group now. */
  pids(): number[];
  /** Removes the group (after its processes are gone; retried briefly). */
  remove(): void;
}

/** Times a limit held the group back, from the kernel's own counters. */
export interface LimitPressure {
  /** CPU periods in which it was throttled at its quota (cpu.stat nr_throttled). */
  cpuThrottled: number;
  /** Forks refused at pids.max (pids.events max). */
  processesRefused: number;
  /** Allocations that hit the memory limit (v1 memory.failcnt, v2 memory.events max). */
  memoryHits: number;
}

const ROOT = '/sys/fs/cgroup';
/** statfs f_type of the two cgroup filesystems (linux/magic.h). */
const CGROUP_SUPER_MAGIC = 0x27e0eb;
const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * Whether `dir` is really on a cgroup filesystem of that version: /proc/self/mounts lists a
 * mount even when something else was mounted over it (a tmpfs there takes mkdir and writes
 * silently, and no limit would hold), so the filesystem itself is asked.
 */
function onCgroupFs(dir: string, version: 1 | 2): boolean {
  try {
    return statfsSync(dir).type === (version === 2 ? CGROUP2_SUPER_MAGIC : CGROUP_SUPER_MAGIC);
  } catch {
    return false;
  }
}

/** A group the kernel made: its interface files exist as soon as it is created (a plain folder has none). */
function assertKernelMade(dir: string): void {
  if (!existsSync(join(dir, 'cgroup.procs'))) throw new Error(`${dir} has no cgroup.procs: it is not a cgroup the kernel made`);
}
let sequence = 0;

/** Where each controller is mounted and the kernel's own place in it. */
function layout(): { version: 2; dir: string } | { version: 1; dirs: Record<'memory' | 'pids' | 'cpu', string> } | undefined {
  const own = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').map((l) => l.split(':'));
  if (existsSync(join(ROOT, 'cgroup.controllers')) && onCgroupFs(ROOT, 2)) {
    const path = own.find((f) => f[0] === '0')?.[2] ?? '/';
    return { version: 2, dir: join(ROOT, path) };
  }
  const dirs: Partial<Record<'memory' | 'pids' | 'cpu', string>> = {};
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  for (const controller of ['memory', 'pids', 'cpu'] as const) {
    const mount = mounts.map((l) => l.split(' ')).find((f) => f[2] === 'cgroup' && f[3]!.split(',').includes(controller));
    const mine = own.find((f) => f[1]!.split(',').includes(controller));
    if (!mount || !mine || !onCgroupFs(mount[1]!, 1)) continue;
    dirs[controller] = join(mount[1]!, mine[2]!);
  }
  if (!dirs.memory || !dirs.pids) return undefined;
  return { version: 1, dirs: dirs as Record<'memory' | 'pids' | 'cpu', string> };
}

/** Removes the groups of kernels that are gone (SIGKILLed before they could clean up). */
function sweep(parent: string): void {
  try {
    for (const d of readdirSync(parent)) {
      const pid = /^symphony-(\d+)$/.exec(d)?.[1];
      if (!pid || Number(pid) === process.pid || existsSync(`/proc/${pid}`)) continue;
      const dir = join(parent, d);
      for (const child of readdirSync(dir, { withFileTypes: true })) if (child.isDirectory()) tryRmdir(join(dir, child.name));
      tryRmdir(dir);
    }
  } catch {
    // best effort
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

const swept = new Set<string>();

function groupDir(parent: string, name: string): string {
  if (!swept.has(parent)) {
    swept.add(parent);
    sweep(parent);
  }
  const mine = join(parent, `symphony-${process.pid}`);
  mkdirSync(mine, { recursive: true });
  const dir = join(mine, `${name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}-${++sequence}`);
  mkdirSync(dir);
  assertKernelMade(dir);
  return dir;
}

/** A cgroup with these limits for `name`, or the reason none can be made here. */
export function createCgroup(name: string, limits: CgroupLimits): Cgroup | { unavailable: string } {
  let l: ReturnType<typeof layout>;
  try {
    l = layout();
  } catch (err) {
    return { unavailable: `cannot read the cgroup layout: ${(err as Error).message}` };
  }
  if (!l) return { unavailable: 'no cgroup v2 hierarchy and no v1 memory and pids controllers are mounted (a cgroup filesystem, by its statfs type)' };
  const made: string[] = [];
  try {
    if (l.version === 2) {
      // v2 allows no processes in a group whose controllers are delegated: the kernel's group
      // keeps its processes, so the controllers are enabled on symphony-<pid>, its child.
      const mine = join(l.dir, `symphony-${process.pid}`);
      if (!swept.has(l.dir)) {
        swept.add(l.dir);
        sweep(l.dir);
      }
      mkdirSync(mine, { recursive: true });
      writeFileSync(join(l.dir, 'cgroup.subtree_control'), '+memory +pids +cpu');
      writeFileSync(join(mine, 'cgroup.subtree_control'), '+memory +pids +cpu');
      const dir = join(mine, `${name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}-${++sequence}`);
      mkdirSync(dir);
      made.push(dir);
      assertKernelMade(dir);
      if (limits.memoryBytes) {
        writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
        if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
      }
      if (limits.processes) writeFileSync(join(dir, 'pids.max'), String(limits.processes));
      if (limits.cpuPercent) writeFileSync(join(dir, 'cpu.max'), `${Math.round(limits.cpuPercent * 1000)} 100000`);
      return group(2, made, () => /^oom_kill (\d+)/m.exec(readFileSync(join(dir, 'memory.events'), 'utf8'))?.[1] ?? '0', () => ({
        cpuThrottled: counter(join(dir, 'cpu.stat'), /^nr_throttled (\d+)/m),
        processesRefused: counter(join(dir, 'pids.events'), /^max (\d+)/m),
        memoryHits: counter(join(dir, 'memory.events'), /^max (\d+)/m),
      }));
    }
    const memory = groupDir(l.dirs.memory, name);
    made.push(memory);
    if (limits.memoryBytes) {
      writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // With swap accounting, memory+swap too: otherwise the limit only moves pages to swap.
      if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      writeFileSync(join(memory, 'memory.swappiness'), '0');
    }
    const pids = groupDir(l.dirs.pids, name);
    made.push(pids);
    if (limits.processes) writeFileSync(join(pids, 'pids.max'), String(limits.processes));
    if (l.dirs.cpu && limits.cpuPercent) {
      const cpu = groupDir(l.dirs.cpu, name);
      made.push(cpu);
      writeFileSync(join(cpu, 'cpu.cfs_period_us'), '100000');
      writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(limits.cpuPercent * 1000))));
    }
    const cpu = made.find((d) => d.startsWith(l.dirs.cpu ?? '\0'));
    return group(1, made, () => /^oom_kill (\d+)/m.exec(readFileSync(join(memory, 'memory.oom_control'), 'utf8'))?.[1] ?? readFileSync(join(memory, 'memory.failcnt'), 'utf8').trim(), () => ({
      cpuThrottled: cpu ? counter(join(cpu, 'cpu.stat'), /^nr_throttled (\d+)/m) : 0,
      processesRefused: counter(join(pids, 'pids.events'), /^max (\d+)/m),
      memoryHits: counter(join(memory, 'memory.failcnt'), /^(\d+)/),
    }));
  } catch (err) {
    for (const d of made.reverse()) tryRmdir(d);
    return { unavailable: `cannot create a cgroup (${(err as Error).message})` };
  }
}

/** A number in a cgroup file (0 when the file or the line is absent). */
function counter(file: string, re: RegExp): number {
  try {
    return Number(re.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function group(version: 1 | 2, paths: string[], oomCount: () => string, pressure: () => LimitPressure): Cgroup {
  const killed = () => {
    try {
      return Number(oomCount()) > 0;
    } catch {
      return false;
    }
  };
  /** Read before the group is removed: asked after, the answer is still there. */
  let killedAtRemoval: boolean | undefined;
  return {
    version,
    paths,
    add(pid: number) {
      for (const p of paths) writeFileSync(join(p, 'cgroup.procs'), String(pid));
    },
    oomKilled() {
      return killedAtRemoval ?? killed();
    },
    pressure,
    pids() {
      try {
        return readFileSync(join(paths[0]!, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    },
    remove() {
      killedAtRemoval ??= killed();
      // The group empties as the kernel reaps its last task; a few tries cover that.
      const pending = [...paths];
      const attempt = (n: number) => {
        for (let i = pending.length - 1; i >= 0; i--) if (tryRmdir(pending[i]!)) pending.splice(i, 1);
        if (pending.length && n < 20) setTimeout(() => attempt(n + 1), 50).unref();
      };
      attempt(0);
    },
  };
}
