import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
// Only the functions used, not semver's index (which loads all ~50 of its modules at every boot).
import compareVersions from 'semver/functions/compare.js';
import satisfies from 'semver/functions/satisfies.js';
import newerVersion from 'semver/functions/gt.js';
import { analyzeGraph } from '../bootstrap/index.js';
import { compareExtensionNames, isInside, readManifest, type ExtensionManifest, type ExtensionProblem } from './manifest.js';

export interface Discovery {
  /** Valid manifests, by name and version. */
  found: ExtensionManifest[];
  /** Manifests that passed the schema but have problems: never loaded, their grants still reviewed. */
  drafts: ExtensionManifest[];
  problems: ExtensionProblem[];
  /** Extension folders (real paths) in the order of the configured paths, then by folder name: who comes first. */
  order: string[];
}

/**
 * Finds extensions in the configured paths: each path is an extension folder (its package.json
 * has a `symphony` field) or a folder of them. Every manifest is validated; a folder holding a
 * symlink that leads out of it is refused.
 */
export async function discover(paths: readonly string[]): Promise<Discovery> {
  const found: ExtensionManifest[] = [];
  const drafts: ExtensionManifest[] = [];
  const problems: ExtensionProblem[] = [];
  const candidates: string[] = [];
  for (const path of paths) {
    try {
      if (!(await stat(path)).isDirectory()) throw new Error('not a folder');
    } catch (err) {
      problems.push({ extension: path, file: path, line: 1, col: 1, message: `extension path ${path} cannot be used: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}` });
      continue;
    }
    if (await hasManifest(path)) {
      candidates.push(path);
      continue;
    }
    const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const dir = join(path, entry.name);
      if ((entry.isDirectory() || entry.isSymbolicLink()) && (await hasManifest(dir))) candidates.push(dir);
    }
  }
  await Promise.all(
    candidates.map(async (dir) => {
      const escape = await symlinkOut(dir);
      if (escape) {
        problems.push({ extension: dir.split('/').at(-1)!, file: escape.link, line: 1, col: 1, message: `refused: the symlink ${escape.link} leads out of the extension folder (to ${escape.target})` });
        return;
      }
      const { manifest, draft, problems: p } = await readManifest(dir);
      problems.push(...p);
      if (manifest) found.push(manifest);
      if (draft) drafts.push(draft);
    }),
  );
  found.sort((a, b) => compareExtensionNames(a.name, b.name) || compareVersions(a.version, b.version));
  const order: string[] = [];
  for (const dir of candidates) {
    const real = await realpath(dir).catch(() => dir);
    if (!order.includes(real)) order.push(real);
  }
  return { found, drafts, problems, order };
}

async function hasManifest(dir: string): Promise<boolean> {
  try {
    const text = await readFile(join(dir, 'package.json'), 'utf8');
    return /"symphony"\s*:/.test(text);
  } catch {
    return false;
  }
}

/** The first symlink under `dir` whose target is outside it (the folder itself may be a symlink). */
export async function symlinkOut(dir: string, depth = 0, root?: string): Promise<{ link: string; target: string } | undefined> {
  const base = root ?? (await realpath(dir));
  // Fail closed: a folder nested deeper than any real extension is refused, not left unchecked.
  if (depth > 64) return { link: dir, target: 'folders nested too deep to check (over 64 levels)' };
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isSymbolicLink()) {
      let target: string;
      try {
        target = await realpath(path);
      } catch {
        target = resolve(dirname(path), await readlink(path));
      }
      if (!isInside(base, target)) return { link: path, target };
    } else if (e.isDirectory() && !(await lstat(path)).isSymbolicLink()) {
      const found = await symlinkOut(path, depth + 1, base);
      if (found) return found;
    }
  }
  return undefined;
}

export interface Resolution {
  /** What to load: one version per extension, dependencies satisfied. */
  load: ExtensionManifest[];
  problems: ExtensionProblem[];
}

/**
 * Semver resolution: per name, the highest version every dependent accepts; an extension whose
 * dependencies are missing, in conflict, or not loadable is reported and left out (with what
 * depends on it), so one bad extension never stops the others. `engine` ranges are checked
 * against the running Symphony version; dependency cycles are reported with their path.
 */
export function resolveExtensions(found: readonly ExtensionManifest[], symphonyVersion: string): Resolution {
  const problems: ExtensionProblem[] = [];
  const byName = new Map<string, ExtensionManifest[]>();
  for (const m of found) {
    if (m.engine && !satisfies(symphonyVersion, m.engine)) {
      problems.push({ extension: m.name, file: m.file, line: 1, col: 1, message: `'${m.name}@${m.version}' needs Symphony ${m.engine}, this is ${symphonyVersion}` });
      continue;
    }
    byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
  }
  // Every range anyone asks of each name.
  const wanted = new Map<string, { by: string; range: string }[]>();
  for (const versions of byName.values()) {
    for (const m of versions) for (const [dep, range] of Object.entries(m.dependencies)) wanted.set(dep, [...(wanted.get(dep) ?? []), { by: `${m.name}@${m.version}`, range }]);
  }
  const chosen = new Map<string, ExtensionManifest>();
  for (const [name, versions] of byName) {
    const ranges = wanted.get(name) ?? [];
    const fit = versions.filter((m) => ranges.every((r) => satisfies(m.version, r.range)));
    const pick = (fit.length ? fit : versions).reduce((a, b) => (newerVersion(b.version, a.version) ? b : a));
    chosen.set(name, pick);
    if (!fit.length && ranges.length) {
      const asks = ranges.map((r) => `'${r.by}' needs ${r.range}`).join(', ');
      problems.push({ extension: name, file: pick.file, line: 1, col: 1, message: `dependency conflict on '${name}': ${asks}; found ${versions.map((m) => m.version).join(', ')}, and no version satisfies them all` });
    }
  }
  // Leave out what cannot be satisfied, then what depends on it, until nothing changes.
  const bad = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const m of chosen.values()) {
      if (bad.has(m.name)) continue;
      const whys: string[] = [];
      for (const [dep, range] of Object.entries(m.dependencies)) {
        const d = chosen.get(dep);
        if (!d) whys.push(byName.has(dep) ? `depends on '${dep}' ${range}, which cannot be loaded` : `depends on '${dep}' ${range}, which is not installed`);
        else if (bad.has(dep)) whys.push(`depends on '${dep}', which cannot be loaded`);
        else if (!satisfies(d.version, range)) whys.push(`depends on '${dep}' ${range}, but ${d.version} is the version that can be loaded`);
      }
      if (whys.length) {
        bad.add(m.name);
        changed = true;
        for (const why of whys) problems.push({ extension: m.name, file: m.file, line: 1, col: 1, message: `'${m.name}@${m.version}' ${why}` });
      }
    }
  }
  const load = [...chosen.values()].filter((m) => !bad.has(m.name));
  const graph = analyzeGraph(load.map((m) => ({ name: m.name, needs: Object.keys(m.dependencies), wants: [], late: [] })));
  for (const p of graph.problems) {
    const m = chosen.get(p.component)!;
    // Extensions have no late edges: a cycle among them is broken by removing a dependency.
    const message = p.cycle ? `dependency cycle: ${p.cycle.join(' -> ')}; extensions cannot depend on each other in a circle: remove one of these dependencies` : `dependency ${p.message}`;
    problems.push({ extension: m.name, file: m.file, line: 1, col: 1, message });
  }
  const cyclic = new Set(graph.problems.flatMap((p) => p.cycle ?? []));
  return { load: load.filter((m) => !cyclic.has(m.name)), problems };
}
