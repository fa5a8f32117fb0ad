/**
 * The bubblewrap command line of a confined process: its own user, pid, network (unless granted),
 * IPC, UTS and cgroup namespaces; a new session (no terminal to inject into); killed with its
 * parent; a cleared environment; and a filesystem view built from nothing: an empty tmpfs root,
 * a fresh /proc (only the sandbox's processes), a minimal /dev, the program's runtime, the paths
 * given read-only or writable, and a private scratch /tmp. Every path keeps its host name, so the
 * permission flags and the paths an extension is told about mean the same inside.
 */
import type { RuntimeView } from './runtime.js';

export const BWRAP = '/usr/bin/bwrap';

export interface BwrapView {
  runtime: RuntimeView;
  /** Bound read-only (code, the extension's folder, granted reads). Missing paths are skipped. */
  readOnly: string[];
  /** Bound writable (granted writes). */
  writable: string[];
  /** Keep the host's network (granted `net`): the resolver's and TLS's files are bound too. */
  net: boolean;
  /** Set in the cleared environment. */
  env: Record<string, string>;
  cwd: string;
  /** Size of the private scratch /tmp (tmpfs, charged to the process's memory). */
  scratchMb: number;
  /** The descriptor bwrap reads the seccomp program from, if any. */
  seccompFd?: number;
}

/** Files a process with the network needs to resolve names and check certificates. */
const NET_FILES = ['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/ssl', '/etc/ca-certificates', '/usr/share/ca-certificates', '/etc/gai.conf'];

/** True when `path` is in the view a granted network adds (so a variable naming it, such as NODE_EXTRA_CA_CERTS, still holds). */
export const inNetView = (path: string) => NET_FILES.some((f) => path === f || path.startsWith(`${f}/`));

/** Paths the sandbox makes itself: a grant never binds the host's over them (the host's /proc shows every process). */
const OWN = ['/proc', '/dev'];
const ownPath = (p: string) => OWN.some((o) => p === o || p.startsWith(`${o}/`));

/** Grants that are not bound because the sandbox provides that path itself (said in a warning by the caller). */
export function unboundGrants(view: Pick<BwrapView, 'readOnly' | 'writable'>): string[] {
  return [...view.readOnly, ...view.writable].filter(ownPath);
}

export function bwrapArgs(view: BwrapView, program: string, args: readonly string[]): string[] {
  const a: string[] = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(view.net ? [] : ['--unshare-net']),
    '--disable-userns',
    '--cap-drop',
    'ALL',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    '--hostname',
    'sandbox',
    '--tmpfs',
    '/',
    '--size',
    String(view.scratchMb * 1024 * 1024),
    '--tmpfs',
    '/tmp',
  ];
  for (const s of view.runtime.symlinks) a.push('--symlink', s.target, s.path);
  for (const b of view.runtime.binds) a.push('--ro-bind', b.from, b.to);
  if (view.net) for (const f of NET_FILES) a.push('--ro-bind-try', f, f);
  for (const p of view.readOnly) if (!ownPath(p)) a.push('--ro-bind-try', p, p);
  for (const p of view.writable) if (!ownPath(p)) a.push('--bind-try', p, p);
  // Mounted after the grants, so no grant (not even `/`) puts the host's /proc or /dev in the view:
  // /proc is fresh (only the sandbox's processes), /dev minimal.
  a.push('--proc', '/proc', '--dev', '/dev');
  // Nothing is added to the view after this: the root itself becomes read-only.
  a.push('--remount-ro', '/');
  for (const [k, v] of Object.entries(view.env)) a.push('--setenv', k, v);
  a.push('--chdir', view.cwd);
  if (view.seccompFd !== undefined) a.push('--seccomp', String(view.seccompFd));
  a.push('--', program, ...args);
  return a;
}
