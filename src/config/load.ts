import { dirname, relative, resolve } from 'node:path';
import * as v from 'valibot';
import { analyzeGraph, suggest, type ComponentOptions } from '../bootstrap/index.js';
import { COMPONENT_KEYS, ConfigSchema, TOP_KEYS, type ComponentConfig, type HttpConfig, type SystemConfig } from './schema.js';
import { ConfigSyntaxError, parseConfigSource, readConfigSource, SETTINGS_SOURCE, valueSource, type ConfigSource, type PathSegment, type Position } from './source.js';
import { loadDefinition, resolveUse } from './modules.js';
import { isBuiltinName, type BuiltinName } from './builtins.js';
import { checkSettings, type SettingsSchema } from '../util/settings.js';

/** One finding about a config file, at its position. */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  severity: 'error' | 'warning';
  message: string;
}

/** `FILE:LINE:COL: message` (warnings say so), the form editors and CI annotations understand. */
export function formatDiagnostic(d: Diagnostic, cwd = process.cwd()): string {
  const rel = relative(cwd, d.file);
  const file = rel && !rel.startsWith('..') ? rel : d.file;
  return `${file}:${d.line}:${d.col}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}

/** A config file that could not be used; `diagnostics` says where and why. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(d)).join('\n'));
  }
}

/** A loaded system: kernel options (components, stages), the http setting, and where it came from. */
export interface LoadedSystem {
  file: string;
  baseDir: string;
  profile: string | undefined;
  components: Record<string, ComponentOptions>;
  stages: string[] | undefined;
  /** `false`: no HTTP listener (`up` serves one on 127.0.0.1:0 when the config says nothing). */
  http: HttpConfig | false | undefined;
  warnings: Diagnostic[];
  source: ConfigSource | undefined;
  /** The component running builtin:bus, if any (worker, process and command components go through it). */
  busName: string | undefined;
  /** `isolation:` (auto unless the config says strict). */
  isolation: 'auto' | 'strict';
}

export interface LoadOptions {
  profile?: string;
  /** Also import every `use:` module and check it exports a component (what `symphony check` does). */
  checkModules?: boolean;
  /**
   * The schema of each builtin's settings (its `with:`), given by the system from the parts that
   * declare them: a builtin's settings are checked where they are written only when it is given.
   */
  settings?: (builtin: BuiltinName) => SettingsSchema | undefined | Promise<SettingsSchema | undefined>;
}

/** Reads, validates and merges a config file. Throws ConfigError with every problem found, each at its position. */
export async function loadSystem(file: string, options: LoadOptions = {}): Promise<LoadedSystem> {
  const path = resolve(file);
  let source: ConfigSource;
  try {
    source = await readConfigSource(path);
  } catch (err) {
    throw new ConfigError([asDiagnostic(path, err)]);
  }
  return validateSource(source, options);
}

/** Same as loadSystem, for text already in memory (an embedded default, a test). */
export async function loadSystemText(file: string, text: string, options: LoadOptions = {}): Promise<LoadedSystem> {
  let source: ConfigSource;
  try {
    source = await parseConfigSource(resolve(file), text);
  } catch (err) {
    throw new ConfigError([asDiagnostic(resolve(file), err)]);
  }
  return validateSource(source, options);
}

/** Same as loadSystem, for a config that is already a value (the embedded default system). */
export async function loadSystemValue(file: string, value: unknown, options: LoadOptions = {}): Promise<LoadedSystem> {
  return validateSource(valueSource(resolve(file), value), options);
}

function asDiagnostic(file: string, err: unknown): Diagnostic {
  if (err instanceof ConfigSyntaxError) return { file, ...err.position, severity: 'error', message: err.message };
  const e = err as NodeJS.ErrnoException;
  const message = e.code === 'ENOENT' ? `config file not found` : `cannot read config file: ${e.message}`;
  return { file, line: 1, col: 1, severity: 'error', message };
}

const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/** Component and profile names `__proto__`, `constructor`, `prototype`: each refused at its key. */
function reservedNames(source: ConfigSource, at: (pos: Position, message: string) => void): void {
  const value = source.value as { components?: unknown; profiles?: unknown } | null;
  if (!value || typeof value !== 'object') return;
  const check = (record: unknown, path: PathSegment[], what: string) => {
    if (!record || typeof record !== 'object' || Array.isArray(record)) return;
    for (const key of Object.keys(record)) {
      if (RESERVED.has(key)) at(source.locate([...path, key], 'key'), `${what} '${key}' is a reserved name (it would be lost as a JavaScript object key): rename it`);
    }
  };
  check(value.components, ['components'], 'component name');
  check(value.profiles, ['profiles'], 'profile name');
  if (value.profiles && typeof value.profiles === 'object') {
    for (const [name, profile] of Object.entries(value.profiles as Record<string, unknown>)) {
      if (profile && typeof profile === 'object') check((profile as { components?: unknown }).components, ['profiles', name, 'components'], 'component name');
    }
  }
}

async function validateSource(source: ConfigSource, options: LoadOptions): Promise<LoadedSystem> {
  const file = source.file;
  const diagnostics: Diagnostic[] = [];
  const at = (pos: Position, message: string, severity: Diagnostic['severity'] = 'error') => diagnostics.push({ file, ...pos, severity, message });

  // Names the schema's records would silently drop (or that would reach Object.prototype): refused where they are written.
  reservedNames(source, at);
  if (diagnostics.length) throw new ConfigError(sortDiagnostics(diagnostics));
  const parsed = v.safeParse(ConfigSchema, source.value);
  if (!parsed.success) {
    for (const issue of parsed.issues) {
      const segs = (issue.path ?? []).map((p) => p.key as PathSegment);
      const isKey = issue.path?.at(-1)?.origin === 'key';
      at(source.locate(segs, isKey ? 'key' : 'value'), describeIssue(issue, segs, isKey));
    }
    throw new ConfigError(sortDiagnostics(diagnostics));
  }
  const config: SystemConfig = parsed.output;

  let profileConfig: NonNullable<SystemConfig['profiles']>[string] | undefined;
  if (options.profile !== undefined) {
    profileConfig = config.profiles && Object.hasOwn(config.profiles, options.profile) ? config.profiles[options.profile] : undefined;
    if (!profileConfig) {
      const known = Object.keys(config.profiles ?? {});
      at({ line: 1, col: 1 }, `profile '${options.profile}' is not defined here (${known.length ? `defined: ${known.join(', ')}` : 'no profiles are defined'})${suggest(options.profile, known)}`);
      throw new ConfigError(diagnostics);
    }
  }
  // Where a component's setting is written: in the active profile if it sets it, else in the base.
  const locate = (component: string, rest: PathSegment[], what: 'key' | 'value' = 'value'): Position => {
    if (profileConfig && hasPath(profileConfig.components?.[component], rest)) {
      return source.locate(['profiles', options.profile!, 'components', component, ...rest], what);
    }
    return source.locate(['components', component, ...rest], what);
  };

  const components: Record<string, ComponentOptions> = {};
  const names = new Set([...Object.keys(config.components), ...Object.keys(profileConfig?.components ?? {})]);
  for (const name of names) {
    const merged = mergeComponent(config.components[name], profileConfig?.components?.[name]);
    if (merged.use === undefined && merged.command === undefined) {
      at(locate(name, [], 'key'), `component '${name}' has neither use nor command: say what runs (use: builtin:NAME or a module path, or command: [program, args…])`);
    } else if (merged.use !== undefined && merged.command !== undefined) {
      at(locate(name, ['command'], 'key'), `component '${name}' has both use and command: keep one`);
    }
    if (merged.mode !== undefined && merged.command !== undefined) at(locate(name, ['mode'], 'key'), `component '${name}' is a command, which always runs as its own process: remove mode`);
    if (merged.sandbox !== undefined && merged.sandbox !== false && merged.command === undefined && merged.mode !== 'process') {
      at(locate(name, ['sandbox'], 'key'), `component '${name}': sandbox applies to command: and mode: process components (this one runs ${merged.mode === 'worker' ? 'as a worker thread' : 'in the kernel'}): remove sandbox or run it as a process`);
    }
    // The system's isolation policy reaches the Orchestra, which starts isolated extensions.
    if (config.isolation && merged.use === 'builtin:orchestra') {
      const w = (merged.with ?? {}) as Record<string, unknown>;
      if (w.isolation === undefined) merged.with = { ...w, isolation: config.isolation };
    }
    components[name] = merged as ComponentOptions;
  }
  const stages = profileConfig?.stages ?? config.stages;

  // The builtins' settings: unknown keys (with a suggestion) and wrong types, where they are written.
  for (const [name, c] of Object.entries(components)) {
    const builtin = typeof c.use === 'string' && c.use.startsWith('builtin:') ? c.use.slice('builtin:'.length) : undefined;
    if (builtin === undefined || !isBuiltinName(builtin) || c.with === undefined || !options.settings) continue;
    const schema = await options.settings(builtin);
    const checked = schema ? checkSettings(schema, c.with, { builtin, component: name }, suggest) : undefined;
    for (const issue of checked && !checked.ok ? checked.issues : []) at(locate(name, ['with', ...issue.path], issue.isKey ? 'key' : 'value'), issue.message);
  }

  // The Orchestra names grant problems (found only when it discovers its extensions) at their
  // position in this file: its settings carry where they were written.
  for (const [name, c] of Object.entries(components)) {
    if (c.use === 'builtin:orchestra' && isPlainObject(c.with)) {
      components[name] = { ...c, with: { ...c.with, [SETTINGS_SOURCE]: { file, locate: (segs: readonly PathSegment[], what?: 'key' | 'value') => locate(name, ['with', ...segs], what) } } };
    }
  }

  // Components outside the kernel process (worker, process, command) reach everything through the bus.
  const busName = Object.entries(components).find(([, c]) => c.use === 'builtin:bus')?.[0];
  for (const [name, c] of Object.entries(components)) {
    // (use and command together is already reported above.)
    const outside = c.command !== undefined ? (c.use === undefined ? 'a command' : undefined) : c.mode === 'worker' || c.mode === 'process' ? `mode ${c.mode}` : undefined;
    if (!outside) continue;
    if (!busName) at(locate(name, c.command !== undefined ? ['command'] : ['mode'], 'key'), `component '${name}' runs as ${outside}, which needs the bus: add a component with use: builtin:bus`);
    else if (!(c.needs ?? []).includes(busName)) components[name] = { ...c, needs: [...(c.needs ?? []), busName] };
  }

  const graph = analyzeGraph(
    Object.entries(components).map(([name, c]) => ({ name, needs: c.needs ?? [], wants: c.wants ?? [], late: c.late ?? [], stage: c.stage })),
    stages,
  );
  for (const p of graph.problems) {
    at(locate(p.component, p.index === undefined ? [p.field] : [p.field, p.index], p.index === undefined ? 'key' : 'value'), p.message);
  }
  const warnings: Diagnostic[] = graph.warnings.map((w) => ({ file, ...locate(w.component, [w.field, w.index]), severity: 'warning', message: w.message }));

  const baseDir = dirname(file);
  await Promise.all(
    Object.entries(components).map(async ([name, c]) => {
      if (typeof c.use !== 'string') return;
      try {
        // A builtin is checked by name: loading it is the system's part, and it ships with the kernel.
        if (options.checkModules && !c.use.startsWith('builtin:')) await loadDefinition(c.use, baseDir);
        else resolveUse(c.use, baseDir);
      } catch (err) {
        at(locate(name, ['use']), `component '${name}': ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );

  if (diagnostics.length) throw new ConfigError([...sortDiagnostics(diagnostics), ...warnings]);
  return {
    file,
    baseDir,
    profile: options.profile,
    components,
    stages,
    http: profileConfig?.http ?? config.http,
    warnings,
    source,
    busName,
    isolation: config.isolation ?? 'auto',
  };
}

function mergeComponent(base: ComponentConfig | undefined, over: ComponentConfig | undefined): ComponentConfig {
  if (!over) return { ...base };
  if (!base) return { ...over };
  const out: Record<string, unknown> = { ...base };
  for (const [k, val] of Object.entries(over)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(val) ? deepMerge(prev, val) : val;
  }
  return out as ComponentConfig;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, val] of Object.entries(b)) out[k] = isPlainObject(out[k]) && isPlainObject(val) ? deepMerge(out[k] as Record<string, unknown>, val) : val;
  return out;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function hasPath(obj: unknown, path: readonly PathSegment[]): boolean {
  if (obj === undefined) return false;
  let cur: unknown = obj;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !(String(seg) in (cur as object))) return false;
    cur = (cur as Record<string, unknown>)[String(seg)];
  }
  return true;
}

function describeIssue(issue: v.BaseIssue<unknown>, path: PathSegment[], isKey: boolean): string {
  const where = context(path);
  // valibot reports a missing required key as a key issue too: it expected the key, got nothing.
  if (isKey && issue.received === 'undefined' && issue.expected !== 'never') {
    return `${where ? `${where}: ` : ''}missing key '${String(path.at(-1))}'`;
  }
  if (isKey) {
    const key = String(path.at(-1));
    const known = path.length === 1 ? TOP_KEYS : path[0] === 'components' && path.length === 3 ? COMPONENT_KEYS : path.length === 5 && path[0] === 'profiles' && path[2] === 'components' ? COMPONENT_KEYS : [];
    return `unknown key '${key}'${where ? ` ${where}` : ''}${suggest(key, known)}${known.length ? ` (known keys: ${known.join(', ')})` : ''}`;
  }
  const received = issue.received && issue.received !== 'undefined' ? ` (got ${issue.received})` : '';
  const message = issue.message.startsWith('Invalid') ? `${path.at(-1) ?? 'value'} is not valid: ${issue.message}` : issue.message;
  return `${where ? `${where}: ` : ''}${message}${received}`;
}

/** "in component 'b'" / "in profile 'test', component 'b'" for a path into the config. */
function context(path: PathSegment[]): string {
  if (path[0] === 'components' && path.length >= 2) return `in component '${path[1]}'`;
  if (path[0] === 'profiles' && path.length >= 2) {
    return path[2] === 'components' && path.length >= 4 ? `in profile '${path[1]}', component '${path[3]}'` : `in profile '${path[1]}'`;
  }
  return '';
}

function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => a.line - b.line || a.col - b.col);
}
