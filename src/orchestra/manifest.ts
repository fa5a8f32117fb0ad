import { readFile, realpath } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
// Only the functions used, not semver's index (which loads all ~50 of its modules at every boot).
import validRange from 'semver/ranges/valid.js';
import validVersion from 'semver/functions/valid.js';
import * as v from 'valibot';
import { suggest } from '../bootstrap/index.js';
import { ConfigSyntaxError, parseConfigSource, type ConfigSource, type PathSegment, type Position } from '../config/index.js';
import { assertPattern } from '../bus/index.js';
import { manifestPin, reservedNamespace } from './grants.js';

/** A problem with an extension, at its position (`package.json:LINE:COL`) when it has one. */
export interface ExtensionProblem {
  extension: string;
  file: string;
  line: number;
  col: number;
  message: string;
  /** A warning does not keep anything from loading (a grant naming no extension); default error. */
  severity?: 'error' | 'warning';
}

export type Activation = 'onStartup' | 'onCall';

/** A validated manifest: the `symphony` field of an extension's package.json, with paths made absolute. */
export interface ExtensionManifest {
  name: string;
  version: string;
  dir: string;
  file: string;
  main: string;
  kind: 'instrument' | 'operator' | 'motif';
  execution: 'in-process' | 'isolated';
  provides: string[];
  calls: string[];
  publishes: string[];
  subscribes: string[];
  permissions: { fsRead: string[]; fsWrite: string[]; net: boolean; childProcess: boolean; workers: boolean };
  activation: Activation[];
  dependencies: Record<string, string>;
  limits: { memoryMb: number | undefined; activationMs: number; cpuPercent?: number; processes?: number };
  engine: string | undefined;
  /** `sha256:<hex>` of the manifest as written (see grants.ts): what an operator's grant is pinned to. */
  pin: string;
}

const patterns = (field: string) =>
  v.pipe(
    v.array(v.string(`each entry of ${field} must be a string`), `${field} must be a list of strings`),
    v.check((list) => list.every((p) => isValidPattern(p)), `${field} entries must be dot-separated names, with * for one segment and > (last) for the rest`),
  );

const SymphonyField = v.strictObject(
  {
    kind: v.optional(v.picklist(['instrument', 'operator', 'motif'], 'kind must be instrument, operator or motif'), 'instrument'),
    execution: v.optional(v.picklist(['in-process', 'isolated'], 'execution must be in-process or isolated'), 'isolated'),
    provides: v.optional(patterns('provides'), []),
    calls: v.optional(patterns('calls'), []),
    publishes: v.optional(patterns('publishes'), []),
    subscribes: v.optional(patterns('subscribes'), []),
    permissions: v.optional(
      v.strictObject(
        {
          fsRead: v.optional(v.array(v.string(), 'permissions.fsRead must be a list of paths'), []),
          fsWrite: v.optional(v.array(v.string(), 'permissions.fsWrite must be a list of paths'), []),
          net: v.optional(v.boolean('permissions.net must be true or false'), false),
          childProcess: v.optional(v.boolean('permissions.childProcess must be true or false'), false),
          workers: v.optional(v.boolean('permissions.workers must be true or false'), false),
        },
        'permissions must be an object { fsRead, fsWrite, net, childProcess, workers }',
      ),
      {},
    ),
    activation: v.optional(v.pipe(v.array(v.picklist(['onStartup', 'onCall'], 'activation entries must be onStartup or onCall')), v.minLength(1, 'activation must not be empty')), ['onStartup']),
    dependencies: v.optional(
      v.record(
        v.string(),
        v.pipe(
          v.string('each dependency must be a semver range'),
          v.check((r) => validRange(r) !== null, 'each dependency must be a valid semver range (e.g. ^1.2.0)'),
        ),
        'dependencies must be an object of name: semver range',
      ),
      {},
    ),
    limits: v.optional(
      v.strictObject(
        {
          memoryMb: v.optional(v.pipe(v.number('limits.memoryMb must be a number'), v.integer('limits.memoryMb must be a whole number'), v.minValue(64, 'limits.memoryMb must be at least 64 (an extension process uses about 45 MB before it does anything: less could never start)'))),
          activationMs: v.optional(v.pipe(v.number(), v.minValue(1)), 10_000),
          // Bounded by the sandbox's cgroup: percent of one CPU (default 100), tasks incl. threads (default 64).
          cpuPercent: v.optional(v.pipe(v.number('limits.cpuPercent must be a number'), v.minValue(1, 'limits.cpuPercent must be at least 1 (percent of one CPU)'), v.maxValue(6400, 'limits.cpuPercent must be at most 6400'))),
          processes: v.optional(v.pipe(v.number('limits.processes must be a number'), v.integer('limits.processes must be a whole number'), v.minValue(16, 'limits.processes must be at least 16 (Node itself runs about a dozen threads)'))),
        },
        'limits must be an object { memoryMb, activationMs, cpuPercent, processes }',
      ),
      {},
    ),
    engine: v.optional(v.pipe(v.string(), v.check((r) => validRange(r) !== null, 'engine must be a semver range over Symphony versions'))),
  },
  'symphony must be an object (the extension manifest)',
);

/** The characters of an extension's name, in the order the locale's collation puts them (punctuation, digits, letters). */
const NAME_ORDER = '_-.0123456789abcdefghijklmnopqrstuvwxyz';
const NAME_CHARACTERS = /^[a-z0-9._-]*$/;

/**
 * Orders extension names as `localeCompare` does, without it for names of the manifest's
 * alphabet: its first call loads the ICU collator (~6 ms and 3 MB at every boot). A name with
 * another character (a draft's) is compared by the locale.
 */
export function compareExtensionNames(a: string, b: string): number {
  if (!NAME_CHARACTERS.test(a) || !NAME_CHARACTERS.test(b)) return a.localeCompare(b);
  for (let i = 0; i < a.length && i < b.length; i++) {
    const d = NAME_ORDER.indexOf(a[i]!) - NAME_ORDER.indexOf(b[i]!);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const PackageJson = v.looseObject({
  name: v.pipe(v.string('name must be a string'), v.regex(/^[a-z0-9][a-z0-9._-]*$/, 'name must be lowercase letters, digits, ., _ or - (it is the extension\'s identity on the bus)')),
  version: v.pipe(v.string('version must be a string'), v.check((x) => validVersion(x) !== null, 'version must be a semver version (e.g. 1.0.0)')),
  main: v.optional(v.string('main must be a string'), 'index.js'),
  symphony: SymphonyField,
});

const SYMPHONY_KEYS = Object.keys(SymphonyField.entries);

function isValidPattern(p: string): boolean {
  try {
    assertPattern(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads and validates `<dir>/package.json`. Every problem names the file and the field, at its
 * position; a manifest is returned only when there is none.
 */
export async function readManifest(dir: string): Promise<{ manifest?: ExtensionManifest; draft?: ExtensionManifest; problems: ExtensionProblem[] }> {
  const file = join(dir, 'package.json');
  const fallbackName = dir.split('/').filter(Boolean).at(-1) ?? dir;
  const read = await readJson(file);
  if ('problem' in read) return { problems: [{ extension: fallbackName, file, ...read.problem.pos, message: read.problem.message }] };
  const { text, value } = read;
  // Positions (the YAML parser) are loaded only when there is something to point at.
  let source: ConfigSource | undefined;
  // Valid JSON the YAML parser refuses (a duplicate key, deep nesting) still gets its problems,
  // pointed at the top of the file.
  const positions = async () =>
    (source ??= await parseConfigSource(file, text).catch(() => ({ file, format: 'yaml' as const, value, locate: () => ({ line: 1, col: 1 }) })));
  const parsed = v.safeParse(PackageJson, value);
  // What can be checked on the value as written is checked whether or not the schema passed, so a
  // manifest's problems come in one run, not one round per fix.
  const found = await rawChecks(dir, value);
  const problems: ExtensionProblem[] = [];
  const name = parsed.success ? parsed.output.name : fallbackName;
  if (!parsed.success) {
    const src = await positions();
    for (const p of schemaProblems(parsed.issues)) problems.push({ extension: fallbackName, file, ...src.locate(p.path, p.at), message: p.message });
  }
  if (found.length) {
    const src = await positions();
    for (const f of found) problems.push({ extension: name, file, ...src.locate(f.path, 'value'), message: f.message });
  }
  if (!parsed.success) return { problems: sortProblems(problems) };
  const manifest = toManifest(parsed.output, value as Parameters<typeof manifestPin>[0], dir, await realpath(dir), file);
  // A manifest with problems is not loaded; its draft still has its grant reviewed (all problems in one run).
  return problems.length ? { problems: sortProblems(problems), draft: manifest } : { problems, manifest };
}

/** The manifest's text and JSON value, or the one problem that stops there (unreadable, not JSON), positioned where it can be. */
async function readJson(file: string): Promise<{ text: string; value: unknown } | { problem: { pos: Position; message: string } }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { problem: { pos: { line: 1, col: 1 }, message: `cannot read the manifest: ${(err as Error).message}` } };
  }
  try {
    return { text, value: JSON.parse(text) };
  } catch (err) {
    let pos = { line: 1, col: 1 };
    try {
      await parseConfigSource(file, text);
    } catch (e) {
      if (e instanceof ConfigSyntaxError) pos = e.position;
    }
    return { problem: { pos, message: `package.json is not valid JSON: ${(err as Error).message}` } };
  }
}

/** The schema's issues in the manifest's words: a missing field, an unknown one (with a suggestion under `symphony`), a bad value. */
function schemaProblems(issues: v.InferIssue<typeof PackageJson>[]): { path: PathSegment[]; at: 'key' | 'value'; message: string }[] {
  return issues.map((issue) => {
    const path = (issue.path ?? []).map((p) => p.key as PathSegment);
    const isKey = issue.path?.at(-1)?.origin === 'key';
    const field = path.join('.');
    let message: string;
    if (isKey && issue.received === 'undefined' && issue.expected !== 'never') {
      // valibot reports a missing required field as a key issue: it expected the key, got nothing.
      message = `missing field '${field}'`;
    } else if (isKey) {
      const key = String(path.at(-1));
      message = `unknown field '${field}'${path.length === 2 && path[0] === 'symphony' ? `${suggest(key, SYMPHONY_KEYS)} (known: ${SYMPHONY_KEYS.join(', ')})` : ''}`;
    } else if (path.length === 0 || (path.length === 1 && issue.input === undefined)) {
      message = path.length ? `missing field '${field}': ${issue.message}` : issue.message;
    } else {
      message = issue.message.startsWith('Invalid') ? `${field}: ${issue.message}` : issue.message;
    }
    return { path, at: isKey ? 'key' : 'value', message };
  });
}

/** The loaded manifest: paths made absolute against the extension's folder, the pin read from the file as written. */
function toManifest(pkg: v.InferOutput<typeof PackageJson>, raw: Parameters<typeof manifestPin>[0], dir: string, realDir: string, file: string): ExtensionManifest {
  const s = pkg.symphony;
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  return {
    name: pkg.name,
    version: pkg.version,
    dir: realDir,
    file,
    main: resolve(dir, pkg.main),
    kind: s.kind,
    execution: s.execution,
    provides: s.provides,
    calls: s.calls,
    publishes: s.publishes,
    subscribes: s.subscribes,
    permissions: { fsRead: s.permissions.fsRead.map(absolute), fsWrite: s.permissions.fsWrite.map(absolute), net: s.permissions.net, childProcess: s.permissions.childProcess, workers: s.permissions.workers },
    activation: s.activation,
    dependencies: s.dependencies,
    limits: { memoryMb: s.limits.memoryMb, activationMs: s.limits.activationMs, cpuPercent: s.limits.cpuPercent, processes: s.limits.processes },
    engine: s.engine,
    pin: manifestPin(raw),
  };
}

function sortProblems(ps: ExtensionProblem[]): ExtensionProblem[] {
  return [...ps].sort((a, b) => a.line - b.line || a.col - b.col);
}

/** Checks on the manifest as written (so they run even when the schema does not pass). */
async function rawChecks(dir: string, value: unknown): Promise<{ path: PathSegment[]; message: string }[]> {
  const found: { path: PathSegment[]; message: string }[] = [];
  if (!value || typeof value !== 'object' || Array.isArray(value)) return found;
  const pkg = value as { main?: unknown; symphony?: unknown };
  const sym = pkg.symphony && typeof pkg.symphony === 'object' && !Array.isArray(pkg.symphony) ? (pkg.symphony as Record<string, unknown>) : undefined;
  // The schema's record drops these keys without a word: a dependency on 'constructor' would vanish.
  const rawDeps = sym?.dependencies;
  if (rawDeps && typeof rawDeps === 'object') {
    for (const key of Object.keys(rawDeps)) {
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') found.push({ path: ['symphony', 'dependencies', key], message: `dependency name '${key}' is a reserved name: no extension can be called that` });
    }
  }
  const provides = Array.isArray(sym?.provides) ? (sym.provides as unknown[]) : [];
  provides.forEach((p, i) => {
    if (typeof p !== 'string') return;
    const ns = reservedNamespace(p);
    if (ns) found.push({ path: ['symphony', 'provides', i], message: `provides '${p}' ${p.startsWith(ns) ? 'is in' : 'reaches into'} the reserved namespace '${ns}' (the system's own methods): no extension may provide it, whatever its grant says` });
  });
  if (typeof pkg.main === 'string' || pkg.main === undefined) {
    const rel = (pkg.main as string | undefined) ?? 'index.js';
    const main = resolve(dir, rel);
    try {
      const realMain = await realpath(main);
      if (!isInside(await realpath(dir), realMain)) found.push({ path: ['main'], message: `main '${rel}' leads out of the extension folder (to ${realMain})` });
    } catch {
      found.push({ path: ['main'], message: `main '${rel}' does not exist (looked for ${main})` });
    }
  }
  const activation = Array.isArray(sym?.activation) ? sym.activation : ['onStartup'];
  if (sym && activation.includes('onCall') && provides.length === 0) {
    found.push({ path: ['symphony', 'activation'], message: 'activation onCall needs at least one method in provides (the first call to one of them starts the extension)' });
  }
  return found;
}

/** Where a field of a manifest is written (1:1 when the file cannot be read or parsed). */
export async function locateInManifest(file: string, path: PathSegment[]): Promise<Position> {
  try {
    return (await parseConfigSource(file, await readFile(file, 'utf8'))).locate(path, 'value');
  } catch {
    return { line: 1, col: 1 };
  }
}

export function isInside(dir: string, path: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}
