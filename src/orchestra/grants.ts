import { createHash } from 'node:crypto';
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { PathSegment, Position } from '../config/index.js';
import type { ExtensionManifest, ExtensionProblem } from './manifest.js';
import type { Grant } from './settings/index.js';

// Declared with the Orchestra's settings (the schema the config is checked with); named here too, where grants are reviewed.
export type { Grant };

/**
 * Grants: a manifest only asks; the operator's config (the Orchestra's `with.grants`, one entry
 * per extension name) decides. An extension is loaded only when everything its manifest asks is
 * inside its grant and the grant is pinned to this very manifest; what it then runs with is what
 * it asked (never more than granted), with the operator's memory ceiling where it asked none.
 */

/** The limits a grant may cap: a manifest asks, the grant's ceiling bounds it. */
const LIMIT_KEYS = ['memoryMb', 'cpuPercent', 'processes'] as const;
type LimitKey = (typeof LIMIT_KEYS)[number];

/** Where the Orchestra's settings were written: positions of `with.<path>` in the config file. */
export interface SettingsSource {
  file: string;
  locate(path: readonly PathSegment[], what?: 'key' | 'value'): Position;
}

/** The key the config layer attaches a settings' source under (kept by spreads, unseen by JSON). */
export const SETTINGS_SOURCE: unique symbol = Symbol.for('symphony.settingsSource') as never;

export function settingsSource(settings: unknown): SettingsSource | undefined {
  return settings && typeof settings === 'object' ? ((settings as Record<symbol, SettingsSource | undefined>)[SETTINGS_SOURCE] ?? undefined) : undefined;
}

/**
 * The system's own namespaces: no extension may provide a method in them, whatever its grant says
 * (an extension serving `conductor.report` would become the maestro; one serving `melody.run`
 * would break the boot).
 */
export const RESERVED_NAMESPACES = ['symphony.', '$/', 'kernel.', 'bus.', 'pit.', 'pool.', 'dag.', 'artifacts.', 'arbiter.', 'stale.', 'orchestra.', 'conductor.', 'melody.'] as const;

/** The reserved namespace a `provides` pattern reaches into (it matches one of its names), if any. */
export function reservedNamespace(pattern: string): string | undefined {
  const first = pattern.split('.')[0]!;
  const wild = first === '*' || first === '>';
  for (const ns of RESERVED_NAMESPACES) {
    if (ns === '$/') {
      // `$/cancelRequest` is one segment: a wildcard first segment matches it too.
      if (wild || first.startsWith('$/')) return ns;
    } else if (patternsOverlap(pattern, `${ns}>`)) {
      return ns;
    }
  }
  return undefined;
}

/** True when some concrete name matches both patterns (`*` one segment, `>` one or more trailing). */
export function patternsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    // Both ended together; or one ran out while the other still needs a segment.
    if (p === undefined || q === undefined) return p === q;
    // `>` matches one or more segments, and the other has at least one here.
    if (p === '>' || q === '>') return true;
    if (p !== '*' && q !== '*' && p !== q) return false;
  }
}

/** True when every name `asked` matches is also matched by `granted`. */
export function patternCovers(granted: string, asked: string): boolean {
  const g = granted.split('.');
  const a = asked.split('.');
  for (let i = 0; i < g.length; i++) {
    if (g[i] === '>') return a.length > i;
    if (i >= a.length) return false;
    if (a[i] === '>') return false; // only a `>` covers a `>`
    if (g[i] !== '*' && (a[i] === '*' || g[i] !== a[i])) return false;
  }
  return a.length === g.length;
}

/** JSON with every object's keys sorted (arrays keep their order): the pin's canonical form. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The pin of a manifest: sha256 of the canonical JSON of `{ name, version, symphony }` as written in package.json. */
export function manifestPin(pkg: { name: unknown; version: unknown; symphony: unknown }): string {
  return `sha256:${createHash('sha256').update(canonicalJson({ name: pkg.name, version: pkg.version, symphony: pkg.symphony })).digest('hex')}`;
}

/** One right a manifest asks for, as it is named in a grant. */
interface Ask {
  right: keyof Grant;
  /** The manifest field it comes from (for its position in package.json). */
  field: PathSegment[];
  value: string | boolean | number;
  granted: boolean;
}

/** Asked against granted, for one extension: what `symphony check` prints and the Orchestra decides on. */
export interface GrantReview {
  name: string;
  version: string;
  dir: string;
  pin: string;
  /** Each right the manifest asks for, and whether its grant gives it. */
  asks: Ask[];
  grant: Grant | undefined;
  /** The manifest with its effective rights, when it may load. */
  effective: ExtensionManifest | undefined;
  problems: ExtensionProblem[];
}

export interface GrantOptions {
  /** Relative grant paths (fsRead, fsWrite) are relative to this folder: the config file's. */
  baseDir: string;
  source?: SettingsSource | undefined;
  /** The operator's ceilings for isolated extensions whose grant sets none (defaultCeilings()). */
  ceilings?: Ceilings;
}

export type Ceilings = Record<LimitKey, number>;

/**
 * What an isolated extension may ask at most, and gets when it asks nothing, unless its grant's
 * limits say otherwise: a manifest cannot ask its way to an unbounded process. The Orchestra's
 * `limits` setting changes them for every extension; a grant's `limits` for one.
 */
export const DEFAULT_CEILINGS: Readonly<Ceilings> = Object.freeze({ memoryMb: 256, cpuPercent: 100, processes: 64 });

/** The operator's ceilings: the Orchestra's `limits` setting over DEFAULT_CEILINGS. */
export function defaultCeilings(settings: { limits?: Partial<Ceilings> }): Ceilings {
  return { ...DEFAULT_CEILINGS, ...Object.fromEntries(Object.entries(settings.limits ?? {}).filter(([, v]) => v !== undefined)) };
}

/** Grant options from the Orchestra's settings. */
export function grantOptions(settings: { limits?: Partial<Ceilings> }, baseDir: string): GrantOptions {
  return { baseDir, source: settingsSource(settings), ceilings: defaultCeilings(settings) };
}

const LISTS = ['provides', 'calls', 'publishes', 'subscribes'] as const;
const FLAGS = ['net', 'childProcess', 'workers'] as const;

/** The grants table of the Orchestra's settings, as given (the config layer checked its shape). */
export function grantsOf(settings: { grants?: unknown }): Record<string, Grant> {
  const g = settings.grants;
  return g && typeof g === 'object' && !Array.isArray(g) ? (g as Record<string, Grant>) : {};
}

/** Where a grant (or a field of it) is written, or where one should be added. */
function grantPosition(options: GrantOptions, grants: Record<string, Grant>, name: string, field?: string): { file: string; line: number; col: number; where: string } {
  const src = options.source;
  const has = Object.hasOwn(grants, name);
  // A missing entry falls back to the nearest written one: `grants`, else `with`.
  const path: PathSegment[] = has ? ['grants', name, ...(field && Object.hasOwn(grants[name]!, field) ? [field] : [])] : ['grants'];
  const where = has ? `grants.${name}${field ? `.${field}` : ''}` : 'grants';
  if (!src) return { file: '(the orchestra settings)', line: 1, col: 1, where };
  return { file: src.file, ...src.locate(path, 'key'), where };
}

/** Reviews one manifest against its grant: every ask not granted is a problem at the grant, all in one pass. */
export function reviewGrant(m: ExtensionManifest, grants: Record<string, Grant>, options: GrantOptions): GrantReview {
  const grant = Object.hasOwn(grants, m.name) ? grants[m.name] : undefined;
  const asks: Ask[] = [];
  const problems: ExtensionProblem[] = [];
  const at = (field: string | undefined, message: string) => {
    const p = grantPosition(options, grants, m.name, field);
    problems.push({ extension: m.name, file: p.file, line: p.line, col: p.col, message });
  };
  const g: Partial<Grant> = grant ?? {};
  const inProcess = m.execution === 'in-process';
  asks.push({ right: 'execution', field: ['symphony', 'execution'], value: m.execution, granted: !inProcess || g.execution === 'in-process' });
  for (const list of LISTS) {
    m[list].forEach((p, i) => asks.push({ right: list, field: ['symphony', list, i], value: p, granted: (g[list] ?? []).some((x) => patternCovers(x, p)) }));
  }
  const grantedPaths = (key: 'fsRead' | 'fsWrite') => (g[key] ?? []).map((p) => real(isAbsolute(p) ? p : resolve(options.baseDir, p)));
  for (const key of ['fsRead', 'fsWrite'] as const) {
    const allowed = grantedPaths(key);
    m.permissions[key].forEach((p, i) => asks.push({ right: key, field: ['symphony', 'permissions', key, i], value: p, granted: allowed.some((a) => isInside(a, real(p))) }));
  }
  for (const flag of FLAGS) if (m.permissions[flag]) asks.push({ right: flag, field: ['symphony', 'permissions', flag], value: true, granted: g[flag] === true });
  // Each limit the manifest asks is bounded by the operator's ceiling for it: its grant's, else
  // (isolated) the Orchestra's default one. In-process code has no process to bound.
  const ceilings = inProcess ? undefined : (options.ceilings ?? DEFAULT_CEILINGS);
  const ceilingOf = (key: LimitKey) => g.limits?.[key] ?? ceilings?.[key];
  for (const key of LIMIT_KEYS) {
    const asked = m.limits[key];
    const ceiling = ceilingOf(key);
    if (asked !== undefined) asks.push({ right: 'limits', field: ['symphony', 'limits', key], value: asked, granted: ceiling === undefined || asked <= ceiling });
  }

  if (!grant) {
    const p = grantPosition(options, grants, m.name);
    problems.push({
      extension: m.name,
      file: p.file,
      line: p.line,
      col: p.col,
      message: `extension '${m.name}' (${m.file}) has no grant, so it is not loaded: a manifest only asks, the operator grants. To grant what it asks, add under the orchestra's with.grants:\n${grantYaml(m, '  ')}`,
    });
    return { name: m.name, version: m.version, dir: m.dir, pin: m.pin, asks, grant, effective: undefined, problems };
  }
  const pins = Array.isArray(grant.manifest) ? grant.manifest : grant.manifest === undefined ? [] : [grant.manifest];
  if (!pins.includes('any') && !pins.includes(m.pin)) {
    const changes = asks.filter((a) => !a.granted).map((a) => `${a.right} ${JSON.stringify(a.value)}`);
    const unused = LISTS.flatMap((l) => (g[l] ?? []).filter((x) => !m[l].some((p) => patternCovers(x, p))).map((x) => `${l} ${JSON.stringify(x)}`));
    at(
      'manifest',
      `extension '${m.name}': its manifest (${m.file}) is not the one this grant was given for (${pins.length ? pins.join(', ') : 'no pin'}); it is now ${m.pin}. ` +
        `It asks beyond the grant: ${changes.length ? changes.join(', ') : 'nothing'}; granted but no longer asked: ${unused.length ? unused.join(', ') : 'nothing'}. ` +
        `Review it and set ${grantPosition(options, grants, m.name).where}.manifest: ${m.pin}`,
    );
  }
  for (const a of asks.filter((x) => !x.granted)) {
    const why =
      a.right === 'execution'
        ? `it asks to run in-process, which is full trust (no sandbox): grant it with grants.${m.name}.execution: in-process, or make it isolated`
        : a.right === 'limits'
          ? g.limits?.[a.field[2] as LimitKey] !== undefined
            ? `it asks limits.${String(a.field[2])} ${a.value}, over the grant's ceiling of ${g.limits[a.field[2] as LimitKey]}: raise grants.${m.name}.limits.${String(a.field[2])} or lower the manifest's`
            : `it asks limits.${String(a.field[2])} ${a.value}, over the operator's default ceiling of ${ceilings?.[a.field[2] as LimitKey]} for isolated extensions (its grant sets none): grant it with grants.${m.name}.limits.${String(a.field[2])}: ${a.value}, raise the orchestra's limits.${String(a.field[2])}, or lower the manifest's`
          : `it asks ${a.right} ${JSON.stringify(a.value)}, which its grant does not give: add it to grants.${m.name}.${a.right} if you trust it with that`;
    at(a.right, `extension '${m.name}' refused: ${why}`);
  }
  if (problems.length) return { name: m.name, version: m.version, dir: m.dir, pin: m.pin, asks, grant, effective: undefined, problems };
  const effective: ExtensionManifest = {
    ...m,
    provides: [...m.provides],
    calls: [...m.calls],
    publishes: [...m.publishes],
    subscribes: [...m.subscribes],
    permissions: { ...m.permissions, fsRead: [...m.permissions.fsRead], fsWrite: [...m.permissions.fsWrite] },
    // What it asked, else its ceiling: an isolated extension always runs bounded.
    limits: { ...m.limits, memoryMb: m.limits.memoryMb ?? ceilingOf('memoryMb'), cpuPercent: m.limits.cpuPercent ?? ceilingOf('cpuPercent'), processes: m.limits.processes ?? ceilingOf('processes') },
  };
  return { name: m.name, version: m.version, dir: m.dir, pin: m.pin, asks, grant, effective, problems };
}

/** Grants naming no extension that was found: warnings at the grant (a typo, or a removed extension). */
export function unusedGrants(found: readonly { name: string }[], grants: Record<string, Grant>, options: GrantOptions): ExtensionProblem[] {
  const names = new Set(found.map((m) => m.name));
  return Object.keys(grants)
    .filter((name) => !names.has(name))
    .map((name) => {
      const p = grantPosition(options, grants, name);
      return { extension: name, file: p.file, line: p.line, col: p.col, severity: 'warning' as const, message: `a grant for extension '${name}', but no extension of that name was found in the orchestra's paths (a typo, or an extension that was removed): it grants nothing` };
    });
}

/**
 * Two extensions providing one method (or overlapping patterns): the one that comes later (in the
 * order of the orchestra's paths) is refused, naming both; the first keeps serving.
 */
export function refuseDuplicates(ordered: readonly ExtensionManifest[]): { keep: ExtensionManifest[]; problems: ExtensionProblem[] } {
  const keep: ExtensionManifest[] = [];
  const problems: ExtensionProblem[] = [];
  for (const m of ordered) {
    const clash = keep.flatMap((k) => (k.name === m.name ? [] : m.provides.flatMap((p) => k.provides.filter((q) => patternsOverlap(p, q)).map((q) => ({ k, p, q })))))[0];
    if (clash) {
      problems.push({ extension: m.name, file: m.file, line: 1, col: 1, message: `extension '${m.name}' refused: it provides '${clash.p}', which overlaps '${clash.q}' provided by '${clash.k.name}' (${clash.k.file}), loaded first; two extensions cannot serve one method: remove it from one of them` });
    } else {
      keep.push(m);
    }
  }
  return { keep, problems };
}

/** A ready-to-paste grant (YAML) giving exactly what a manifest asks, pinned to it. */
export function grantYaml(m: ExtensionManifest, indent = ''): string {
  const list = (xs: readonly string[]) => `[${xs.map((x) => yamlScalar(x)).join(', ')}]`;
  const lines = [`${m.name}:`, `  manifest: ${m.pin}`, `  execution: ${m.execution}`];
  for (const l of LISTS) if (m[l].length) lines.push(`  ${l}: ${list(m[l])}`);
  for (const k of ['fsRead', 'fsWrite'] as const) if (m.permissions[k].length) lines.push(`  ${k}: ${list(m.permissions[k])}`);
  for (const f of FLAGS) if (m.permissions[f]) lines.push(`  ${f}: true`);
  const limits = askedLimits(m);
  if (limits) lines.push(`  limits: { ${Object.entries(limits).map(([k, n]) => `${k}: ${n}`).join(', ')} }`);
  return lines.map((l) => indent + l).join('\n');
}

/** A grant giving exactly what a manifest asks (the value `grantYaml` writes). */
export function grantFor(m: ExtensionManifest): Grant {
  const g: Grant = { manifest: m.pin, execution: m.execution };
  for (const l of LISTS) if (m[l].length) g[l] = [...m[l]];
  for (const k of ['fsRead', 'fsWrite'] as const) if (m.permissions[k].length) g[k] = [...m.permissions[k]];
  for (const f of FLAGS) if (m.permissions[f]) g[f] = true;
  const limits = askedLimits(m);
  if (limits) g.limits = limits;
  return g;
}

/** The limits a manifest asks (memory, CPU, processes), as a grant gives them; undefined when it asks none. */
function askedLimits(m: ExtensionManifest): Partial<Record<(typeof LIMIT_KEYS)[number], number>> | undefined {
  const asked = LIMIT_KEYS.filter((k) => m.limits[k] !== undefined).map((k) => [k, m.limits[k]!] as const);
  return asked.length ? Object.fromEntries(asked) : undefined;
}

function yamlScalar(s: string): string {
  return /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|~)$/i.test(s) ? s : JSON.stringify(s);
}

function isInside(dir: string, path: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * The path with every link resolved. One that does not exist yet is its deepest existing folder,
 * resolved, with the rest appended: `data/escape/x`, where `data/escape` links to `/secret`, is
 * `/secret/x`, never a path inside `data/` (the mount made later would follow the link).
 */
function real(p: string, hops = 0): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    // A link whose target does not exist (yet) leads where its target would be.
    const link = hops < 40 && lstatSync(abs, { throwIfNoEntry: false })?.isSymbolicLink();
    if (link) return real(resolve(dirname(abs), readlinkSync(abs)), hops + 1);
    const parent = dirname(abs);
    return parent === abs ? abs : join(real(parent, hops), basename(abs));
  }
}
