/**
 * Confines one process the kernel is about to spawn: bubblewrap's namespaces and filesystem view,
 * the seccomp filter on top, and a cgroup bounding its memory, CPU and process count. The caller
 * spawns `command args` with the extra descriptors this asks for, then calls `started(child)`
 * before it sends anything else: the process is moved into its cgroup while a wrapper still waits
 * (nothing of the confined program has run), the filter is handed to bwrap, and only then may the
 * caller send the token, without which the program does not start its real work.
 *
 * Descriptors (in the spawned process): 3 the token (the caller's), 4 the seccomp program,
 * 5 the "go" byte the cgroup wrapper waits for.
 */
import type { ChildProcess } from 'node:child_process';
import { BWRAP, bwrapArgs, inNetView, unboundGrants } from './bwrap.js';
import { createCgroup, type Cgroup, type CgroupLimits, type LimitPressure } from './cgroup.js';
import { scratchFull } from './scratch.js';
import { probeSandbox } from './probe.js';
import { runtimeView } from './runtime.js';
import { seccompProgram, seccompSupported } from './seccomp.js';

export type IsolationPolicy = 'auto' | 'strict';
/** How a component or extension runs: confined by the OS, isolated only partly, or trusted in the kernel. */
export type IsolationLevel = 'sandboxed' | 'degraded' | 'none';

/** What the process may reach: the same keys as an extension's grants. */
export interface SandboxRequest {
  fsRead: readonly string[];
  fsWrite: readonly string[];
  net: boolean;
  childProcess: boolean;
  limits?: { memoryMb?: number; cpuPercent?: number; processes?: number };
  /** `strict`: refuse to start unconfined. `auto` (default): start degraded, with a warning. */
  policy?: IsolationPolicy;
  /** Extra paths the program's runtime needs (the host's compiled code), bound read-only. */
  runtime?: readonly string[];
}

export interface Confinement {
  command: string;
  args: string[];
  /** Environment of the spawned process itself (bwrap's is empty: the program's is set inside). */
  env: Record<string, string> | undefined;
  isolation: 'sandboxed' | 'degraded';
  /** What is weaker than asked, for a loud warning. */
  warnings: string[];
  /** Descriptors the spawn must open beyond the token's fd 3 ('pipe' or 'ignore', for fds 4 and 5). */
  extraStdio: ('pipe' | 'ignore')[];
  /** Who bounds memory: a cgroup (the whole tree) or nobody here (the caller's RSS watchdog). */
  limitsBy: 'cgroup' | 'watchdog';
  /** Right after spawn, before the token is sent. Throws if the process could not be placed. */
  started(child: ChildProcess): void;
  /** After the process exited: its cgroup is removed. */
  exited(): void;
  /** Whether its memory limit killed it (cgroup OOM). */
  memoryKilled(): boolean;
  /** The limits in force (what the cgroup was given), for the log. */
  readonly limits: { memoryMb?: number; cpuPercent: number; processes: number; scratchMb: number | undefined };
  /** How often each limit has held it back so far; undefined without a cgroup. */
  pressure(): (LimitPressure & { scratchFull: boolean }) | undefined;
}

export class SandboxUnavailableError extends Error {
  constructor(
    readonly peer: string,
    readonly reason: string,
    readonly remedy: string,
  ) {
    super(`'${peer}' is not started: isolation is strict and the sandbox is unavailable: ${reason}; ${remedy}`);
    this.name = 'SandboxUnavailableError';
  }
}

export const DEFAULT_PROCESSES = 64;
export const DEFAULT_CPU_PERCENT = 100;
const SCRATCH_MB = 64;

/**
 * `program args` confined as `request` asks, or (policy auto, sandbox unavailable) `fallback`
 * marked degraded. `env` is the program's environment (set inside the sandbox).
 */
/** The environment as the view sees it: a certificate file the view does not hold is not named (Node would warn at every start). */
function viewEnv(env: Record<string, string>, net: boolean): Record<string, string> {
  const ca = env.NODE_EXTRA_CA_CERTS;
  if (ca === undefined || (net && inNetView(ca))) return env;
  const { NODE_EXTRA_CA_CERTS: _, ...rest } = env;
  return rest;
}

export function confine(peer: string, program: string, args: readonly string[], cwd: string, env: Record<string, string>, request: SandboxRequest, fallback?: { command: string; args: string[] }): Confinement {
  const probe = probeSandbox();
  const warnings: string[] = [];
  const memoryBytes = request.limits?.memoryMb ? Math.round(request.limits.memoryMb * 1024 * 1024) : undefined;
  const limits: CgroupLimits = { memoryBytes, cpuPercent: request.limits?.cpuPercent ?? DEFAULT_CPU_PERCENT, processes: request.limits?.processes ?? DEFAULT_PROCESSES };
  let command: string;
  let commandArgs: string[];
  let spawnEnv: Record<string, string> | undefined;
  let isolation: Confinement['isolation'];
  let seccomp: Buffer | undefined;
  if (probe.available) {
    isolation = 'sandboxed';
    if (seccompSupported()) seccomp = seccompProgram({ net: request.net });
    else warnings.push(`'${peer}': no seccomp filter on ${process.arch} (it is written for x86_64): Unix sockets inside its view are not refused`);
    const view = {
      runtime: runtimeView(program),
      readOnly: [...(request.runtime ?? []), ...request.fsRead],
      writable: [...request.fsWrite],
      net: request.net,
      env: { ...viewEnv(env, request.net), HOME: '/tmp', TMPDIR: '/tmp', PATH: '/usr/bin:/bin' },
      cwd,
      scratchMb: SCRATCH_MB,
      seccompFd: seccomp ? 4 : undefined,
    };
    for (const p of unboundGrants(view)) warnings.push(`'${peer}': ${p} is not bound from the host: the sandbox has its own ${p.startsWith('/proc') ? '/proc (only its own processes)' : '/dev (minimal)'}`);
    command = BWRAP;
    commandArgs = bwrapArgs(view, program, args);
    spawnEnv = {};
  } else {
    if (request.policy === 'strict') throw new SandboxUnavailableError(peer, probe.reason, probe.remedy);
    isolation = 'degraded';
    warnings.push(`SANDBOX UNAVAILABLE: '${peer}' runs without the operating-system sandbox (${probe.reason}); ${probe.remedy}. It can see the host's processes and files its permission flags allow; set isolation: strict to refuse this.`);
    command = fallback?.command ?? program;
    commandArgs = fallback?.args ?? [...args];
    spawnEnv = env;
  }
  const cgroup = createCgroup(peer, limits);
  let group: Cgroup | undefined;
  if ('unavailable' in cgroup) {
    warnings.push(`'${peer}': no cgroup limits (${cgroup.unavailable}): its memory is watched by polling instead, and its CPU and process count are not bounded`);
  } else {
    group = cgroup;
    // A wrapper that waits for "go" on fd 5: the process is in its cgroup before it runs anything.
    commandArgs = ['-c', 'read -r _ <&5 || exit 111; exec 5<&-; exec "$@"', 'sandbox-wrapper', command, ...commandArgs];
    command = '/bin/sh';
  }
  return {
    command,
    args: commandArgs,
    env: spawnEnv,
    isolation,
    warnings,
    extraStdio: [seccomp ? 'pipe' : 'ignore', group ? 'pipe' : 'ignore'],
    limitsBy: group ? 'cgroup' : 'watchdog',
    started(child) {
      const fds = child.stdio as unknown as (NodeJS.WritableStream | null | undefined)[];
      if (seccomp) fds[4]?.end(seccomp);
      if (group && child.pid) {
        group.add(child.pid);
        fds[5]?.end('go\n');
      }
    },
    exited() {
      group?.remove();
    },
    memoryKilled() {
      return group?.oomKilled() ?? false;
    },
    limits: { memoryMb: request.limits?.memoryMb, cpuPercent: limits.cpuPercent!, processes: limits.processes!, scratchMb: isolation === 'sandboxed' ? SCRATCH_MB : undefined },
    pressure() {
      if (!group) return undefined;
      return { ...group.pressure(), scratchFull: isolation === 'sandboxed' && scratchFull(group.pids()) };
    },
  };
}
