import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { ExtensionManifest } from './manifest.js';

let netNamespaces: boolean | undefined;

/** Can this machine give a process its own empty network namespace (`unshare -rn`)? Asked once. */
export function networkIsolationAvailable(): boolean {
  if (netNamespaces === undefined) {
    const r = spawnSync('unshare', ['-rn', 'true'], { stdio: 'ignore', timeout: 5000 });
    netNamespaces = r.status === 0;
  }
  return netNamespaces;
}

/** Node's permission flag: `--experimental-permission` on Node 20 and 21, `--permission` from 22. */
export function permissionFlag(): string {
  return Number(process.versions.node.split('.')[0]) >= 22 ? '--permission' : '--experimental-permission';
}

export interface IsolatedCommand {
  /** Node's own flags and the host script: what runs inside the OS sandbox. */
  nodeArgs: string[];
  /** Without the OS sandbox: the command line that adds what it can (an empty network namespace, or the preload). */
  command: string;
  args: string[];
  /** What could not be enforced here (e.g. no network namespaces), for the log. */
  warnings: string[];
}

/**
 * The command line of an isolated extension's process: Node's permission model with read access
 * to Symphony's own compiled code, the extension's folder and its declared paths only; writes only
 * where declared; no child processes or workers unless granted; the V8 heap capped by
 * limits.memoryMb. `nodeArgs` run inside the OS sandbox (which adds its private /tmp); `command`
 * and `args` are the degraded fallback: without `net`, an empty network namespace (Node's permission
 * model cannot block the network), or where namespaces are not available a preload that blocks
 * Node's network modules, which is weaker, and the caller is told. `sandboxed`: the caller knows
 * the OS sandbox is available, so the fallback is not worked out (it would probe for namespaces).
 */
export function isolatedCommand(m: ExtensionManifest, host: { script: string; codeDir: string; noNetPreload: string }, sandboxed = false): IsolatedCommand {
  const warnings: string[] = [];
  const inProc = (p: string) => p === '/proc' || p.startsWith('/proc/');
  // One flag per path: Node 20.20 takes no comma-separated lists.
  const flags = (fsRead: readonly string[], fsWrite: readonly string[]) => {
    const node: string[] = [permissionFlag(), ...[host.codeDir, m.dir, ...fsRead].map((p) => `--allow-fs-read=${p}`)];
    for (const p of fsWrite) node.push(`--allow-fs-write=${p}`);
    if (m.permissions.childProcess) node.push('--allow-child-process');
    if (m.permissions.workers) node.push('--allow-worker');
    if (m.limits.memoryMb) node.push(`--max-old-space-size=${Math.max(8, Math.floor(m.limits.memoryMb * 0.75))}`);
    node.push('--no-warnings');
    return node;
  };
  // Inside the OS sandbox /tmp is its private scratch (a tmpfs of its own) and /proc shows only
  // the sandbox: both are its to use.
  const nodeArgs = [...flags([...m.permissions.fsRead, '/tmp'], [...m.permissions.fsWrite, '/tmp']), host.script, m.dir];
  // Without it, /tmp is the host's, and a granted /proc would open every file through
  // /proc/self/root: the permission model alone never gets them.
  const unconfinedRead = m.permissions.fsRead.filter((p) => !inProc(p));
  if (unconfinedRead.length < m.permissions.fsRead.length) warnings.push(`'${m.name}': its grant of /proc is not given without the operating-system sandbox (/proc/self/root would open the whole filesystem)`);
  const node = flags(unconfinedRead, m.permissions.fsWrite);
  const degradedArgs = [...node, host.script, m.dir];
  // Confined by the OS sandbox (the caller probed it), the fallback never runs: no namespace probe for it.
  if (m.permissions.net || sandboxed) return { nodeArgs, command: process.execPath, args: degradedArgs, warnings };
  if (networkIsolationAvailable()) return { nodeArgs, command: 'unshare', args: ['-rn', process.execPath, ...degradedArgs], warnings };
  warnings.push(`'${m.name}': network namespaces are not available here: its network is blocked inside Node only (weaker)`);
  const preloaded = [...node, `--import=${host.noNetPreload}`, host.script, m.dir];
  return { nodeArgs, command: process.execPath, args: preloaded, warnings };
}

/**
 * Resident memory of a process and its descendants in bytes (Linux /proc), or undefined when it
 * cannot be read. The tree, because a sandboxed extension runs under bwrap's processes.
 */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    let total = kb === undefined ? 0 : Number(kb) * 1024;
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim();
    for (const c of children ? children.split(' ') : []) total += (await residentBytes(Number(c))) ?? 0;
    return total;
  } catch {
    return undefined;
  }
}

/**
 * Bounds a process's whole memory (buffers too, which the heap flag does not cover): polls its
 * resident size and calls `exceeded` once it passes the limit.
 */
export function watchMemory(pid: number, limitBytes: number, exceeded: (rss: number) => void, everyMs = 100): () => void {
  let stopped = false;
  const timer = setInterval(async () => {
    const rss = await residentBytes(pid);
    if (stopped || rss === undefined) return;
    if (rss > limitBytes) {
      stopped = true;
      clearInterval(timer);
      exceeded(rss);
    }
  }, everyMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
