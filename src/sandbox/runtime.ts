/**
 * What a program needs in its filesystem view to run at all: its own binary, the shared libraries
 * the dynamic loader will open (found with ldd, asked once per program), the top-level symlinks
 * the loader's paths go through (/lib -> usr/lib on merged-/usr systems), and, for a Python
 * interpreter, its standard library. Nothing else of the host.
 */
import { execFile, spawnSync } from 'node:child_process';
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface RuntimeView {
  /** Host paths bound read-only at `to` (the same path unless a symlink had to be followed). */
  binds: { from: string; to: string }[];
  /** Symlinks recreated in the view: `path` -> `target`. */
  symlinks: { path: string; target: string }[];
}

const cache = new Map<string, RuntimeView>();

/** The view a program needs (cached per program path). */
export function runtimeView(program: string): RuntimeView {
  let view = cache.get(program);
  if (!view) {
    view = build(program, sharedLibraries(program));
    cache.set(program, view);
  }
  return view;
}

/** The same view, asking ldd without blocking the event loop (what a boot uses while other parts start). */
export async function runtimeViewAsync(program: string): Promise<RuntimeView> {
  const known = cache.get(program);
  if (known) return known;
  const libs = await new Promise<string[]>((resolve) => execFile('ldd', [program], { encoding: 'utf8', timeout: 5000 }, (err, stdout) => resolve(err ? [] : lddPaths(stdout))));
  // Asked synchronously meanwhile: one view per program, the first one made.
  let view = cache.get(program);
  if (!view) {
    view = build(program, libs);
    cache.set(program, view);
  }
  return view;
}

function build(program: string, libraries: readonly string[]): RuntimeView {
  const binds = new Map<string, string>();
  const add = (path: string) => {
    try {
      // The loader asks for `dir/name`; the file may be a symlink (libstdc++.so.6 -> .so.6.0.30):
      // the real file is bound where the loader looks, in the real directory of that name.
      const to = join(realpathSync(dirname(path)), basename(path));
      binds.set(to, realpathSync(path));
    } catch {
      // a library ldd names but that is not there: the loader will say so
    }
  };
  add(program);
  for (const lib of libraries) add(lib);
  if (/^python[0-9.]*$/.test(basename(program))) {
    const { dirs, libs } = pythonPaths(program);
    for (const d of dirs) binds.set(d, d);
    for (const lib of libs) add(lib);
  }
  const symlinks: RuntimeView['symlinks'] = [];
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      if (lstatSync(top).isSymbolicLink()) symlinks.push({ path: top, target: readlinkSync(top) });
    } catch {
      // not on this system
    }
  }
  return { binds: [...binds].map(([to, from]) => ({ from, to })), symlinks };
}

/** The absolute paths ldd lists for a program (the loader included), or none if ldd is missing. */
export function sharedLibraries(program: string): string[] {
  const r = spawnSync('ldd', [program], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? lddPaths(r.stdout) : [];
}

/** The absolute paths in ldd's output (`name => /path (addr)`, or `/path (addr)` for the loader). */
function lddPaths(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

/** A Python interpreter's standard library (and its compiled modules' libraries), from the interpreter itself. */
function pythonPaths(program: string): { dirs: string[]; libs: string[] } {
  const r = spawnSync(program, ['-S', '-c', 'import sys,sysconfig;print(sysconfig.get_paths()["stdlib"]);print(sysconfig.get_paths()["platstdlib"])'], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0) return { dirs: [], libs: [] };
  const dirs = [...new Set(r.stdout.split('\n').filter((l) => l.startsWith('/')))];
  const libs = new Set<string>();
  for (const d of dirs) {
    const dynload = join(d, 'lib-dynload');
    const ls = spawnSync('sh', ['-c', `ls "${dynload}"/*.so 2>/dev/null`], { encoding: 'utf8' });
    for (const so of ls.stdout.split('\n').filter(Boolean)) for (const lib of sharedLibraries(so)) libs.add(lib);
  }
  const real: string[] = [];
  for (const d of dirs) {
    try {
      real.push(realpathSync(d));
    } catch {
      // not there
    }
  }
  return { dirs: real, libs: [...libs] };
}
