import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type { AnyComponentDefinition, ComponentEvent, Kernel, KernelEvent } from '../src/index.js';
import { manifestPin, type Grant } from '../src/orchestra/grants.js';

/** Records the order of starts and stops across components, to assert on ordering. */
export class Journal {
  readonly entries: string[] = [];
  add(entry: string): void {
    this.entries.push(entry);
  }
  /** Entries with the given prefix, without it: `of('stop')` → ['c', 'b', 'a']. */
  of(prefix: string): string[] {
    return this.entries.filter((e) => e.startsWith(`${prefix}:`)).map((e) => e.slice(prefix.length + 1));
  }
}

/** A component that records its start and stop and returns a small instance. */
export function recorded(journal: Journal, name: string, extra: Partial<AnyComponentDefinition> = {}): AnyComponentDefinition {
  return {
    async start() {
      journal.add(`start:${name}`);
      return { name, stopped: false };
    },
    async stop(instance: { stopped: boolean }) {
      instance.stopped = true;
      journal.add(`stop:${name}`);
    },
    ...extra,
  };
}

/** Collects every event a kernel emits. */
export function collect(k: Kernel<any>): KernelEvent[] {
  const events: KernelEvent[] = [];
  k.on('event', (e) => events.push(e));
  return events;
}

export function transitions(events: KernelEvent[], component?: string): string[] {
  return events
    .filter((e): e is ComponentEvent => e.type === 'component' && (component === undefined || e.component === component))
    .map((e) => (component === undefined ? `${e.component}:${e.state}` : e.state));
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` is true (polling), or fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/**
 * Grants giving every extension under `paths` (extension folders, or folders of them; relative to
 * `baseDir`) exactly what its manifest asks, pinned to it: for tests whose subject is not grants
 * (the grants tests write theirs literally). Several versions of one name get one grant with both pins.
 */
export function grantsFor(paths: readonly string[], baseDir = process.cwd()): Record<string, Grant> {
  const out: Record<string, Grant> = {};
  const manifestOf = (dir: string): Record<string, unknown> | undefined => {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
      return pkg && typeof pkg === 'object' && pkg.symphony && typeof pkg.symphony === 'object' ? pkg : undefined;
    } catch {
      return undefined;
    }
  };
  const add = (dir: string, pkg: Record<string, unknown>) => {
    const s = pkg.symphony as Record<string, any>;
    const name = String(pkg.name);
    const strings = (x: unknown) => (Array.isArray(x) ? x.filter((e): e is string => typeof e === 'string') : []);
    const g = (out[name] ??= { manifest: [] as string[], execution: 'isolated' });
    (g.manifest as string[]).push(manifestPin({ name: pkg.name, version: pkg.version, symphony: pkg.symphony }));
    if (s.execution === 'in-process') g.execution = 'in-process';
    for (const key of ['provides', 'calls', 'publishes', 'subscribes'] as const) if (strings(s[key]).length) g[key] = [...new Set([...(g[key] ?? []), ...strings(s[key])])];
    const perms = (s.permissions ?? {}) as Record<string, unknown>;
    for (const key of ['fsRead', 'fsWrite'] as const) if (strings(perms[key]).length) g[key] = [...(g[key] ?? []), ...strings(perms[key]).map((p) => resolvePath(dir, p))];
    for (const key of ['net', 'childProcess', 'workers'] as const) if (perms[key] === true) g[key] = true;
    const mb = (s.limits as { memoryMb?: unknown } | undefined)?.memoryMb;
    if (typeof mb === 'number') g.limits = { memoryMb: Math.max(mb, g.limits?.memoryMb ?? 0) };
  };
  for (const p of paths) {
    const dir = resolvePath(baseDir, p);
    const own = manifestOf(dir);
    if (own) {
      add(dir, own);
      continue;
    }
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const e of entries) {
      const pkg = manifestOf(join(dir, e));
      if (pkg) add(join(dir, e), pkg);
    }
  }
  return out;
}
