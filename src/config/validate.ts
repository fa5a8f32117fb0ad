import { dirname } from 'node:path';
import * as v from 'valibot';
import { analyzeGraph, suggest, type ComponentOptions } from '../bootstrap/index.js';
import { checkSettings } from '../util/settings.js';
import { isBuiltinName } from './builtins.js';
import { ConfigError, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import type { LoadedSystem, LoadOptions } from './load.js';
import { loadDefinition, resolveUse } from './modules.js';
import { COMPONENT_KEYS, ConfigSchema, TOP_KEYS, type ComponentConfig, type SystemConfig } from './schema.js';
import { SETTINGS_SOURCE, type ConfigSource, type PathSegment, type Position } from './source.js';

type Profile = NonNullable<SystemConfig['profiles']>[string];

/**
 * The findings of one check of one file: each step adds what it finds at its position, and a step
 * whose later steps would only repeat the problem stops the check (`flush`).
 */
class Findings {
  readonly diagnostics: Diagnostic[] = [];
  constructor(
    readonly source: ConfigSource,
    readonly profileName: string | undefined,
  ) {}
  profile: Profile | undefined;
  at(pos: Position, message: string): void {
    this.diagnostics.push({ file: this.source.file, ...pos, severity: 'error', message });
  }
  /** Where a component's setting is written: in the active profile if it sets it, else in the base. */
  locate(component: string, rest: readonly PathSegment[], what: 'key' | 'value' = 'value'): Position {
    if (this.profile && hasPath(this.profile.components?.[component], rest)) {
      return this.source.locate(['profiles', this.profileName!, 'components', component, ...rest], what);
    }
    return this.source.locate(['components', component, ...rest], what);
  }
  /** Everything found so far, as the error the loader throws. */
  error(warnings: readonly Diagnostic[] = []): ConfigError {
    return new ConfigError([...sortDiagnostics(this.diagnostics), ...warnings]);
  }
  /** Throws what was found so far, if anything. */
  flush(warnings: readonly Diagnostic[] = []): void {
    if (this.diagnostics.length) throw this.error(warnings);
  }
}

/** Checks a parsed config file and resolves it into the kernel's options; every problem at its position. */
export async function validateSource(source: ConfigSource, options: LoadOptions): Promise<LoadedSystem> {
  const found = new Findings(source, options.profile);
  const config = parseConfig(found);
  found.profile = activeProfile(config, options.profile, found);
  const components = mergeComponents(config, found);
  const stages = found.profile?.stages ?? config.stages;
  await checkBuiltinSettings(components, options, found);
  carrySettingsSource(components, found);
  const busName = joinBus(components, found);
  const warnings = checkGraph(components, stages, found);
  const baseDir = dirname(source.file);
  await checkUses(components, baseDir, options, found);
  found.flush(warnings);
  return {
    file: source.file,
    baseDir,
    profile: options.profile,
    components,
    stages,
    http: found.profile?.http ?? config.http,
    warnings,
    source,
    busName,
    isolation: config.isolation ?? 'auto',
  };
}

/** The file against the schema, after the names the schema's records would silently drop. */
function parseConfig(found: Findings): SystemConfig {
  const { source } = found;
  // Names the schema's records would silently drop (or that would reach Object.prototype): refused where they are written.
  reservedNames(source, (pos, message) => found.at(pos, message));
  found.flush();
  const parsed = v.safeParse(ConfigSchema, source.value);
  if (parsed.success) return parsed.output;
  for (const issue of parsed.issues) {
    const segs = (issue.path ?? []).map((p) => p.key as PathSegment);
    const isKey = issue.path?.at(-1)?.origin === 'key';
    found.at(source.locate(segs, isKey ? 'key' : 'value'), describeIssue(issue, segs, isKey));
  }
  throw found.error();
}

/** The profile asked for, which must be defined. */
function activeProfile(config: SystemConfig, name: string | undefined, found: Findings): Profile | undefined {
  if (name === undefined) return undefined;
  const profile = config.profiles && Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined;
  if (profile) return profile;
  const known = Object.keys(config.profiles ?? {});
  found.at({ line: 1, col: 1 }, `profile '${name}' is not defined here (${known.length ? `defined: ${known.join(', ')}` : 'no profiles are defined'})${suggest(name, known)}`);
  throw found.error();
}

/** Each component, its profile's keys merged over the base, checked for what runs it and where. */
function mergeComponents(config: SystemConfig, found: Findings): Record<string, ComponentOptions> {
  const components: Record<string, ComponentOptions> = {};
  const names = new Set([...Object.keys(config.components), ...Object.keys(found.profile?.components ?? {})]);
  for (const name of names) {
    const merged = mergeComponent(config.components[name], found.profile?.components?.[name]);
    if (merged.use === undefined && merged.command === undefined) {
      found.at(found.locate(name, [], 'key'), `component '${name}' has neither use nor command: say what runs (use: builtin:NAME or a module path, or command: [program, args…])`);
    } else if (merged.use !== undefined && merged.command !== undefined) {
      found.at(found.locate(name, ['command'], 'key'), `component '${name}' has both use and command: keep one`);
    }
    if (merged.mode !== undefined && merged.command !== undefined) found.at(found.locate(name, ['mode'], 'key'), `component '${name}' is a command, which always runs as its own process: remove mode`);
    if (merged.sandbox !== undefined && merged.sandbox !== false && merged.command === undefined && merged.mode !== 'process') {
      found.at(found.locate(name, ['sandbox'], 'key'), `component '${name}': sandbox applies to command: and mode: process components (this one runs ${merged.mode === 'worker' ? 'as a worker thread' : 'in the kernel'}): remove sandbox or run it as a process`);
    }
    // The system's isolation policy reaches the Orchestra, which starts isolated extensions.
    if (config.isolation && merged.use === 'builtin:orchestra') {
      const w = (merged.with ?? {}) as Record<string, unknown>;
      if (w.isolation === undefined) merged.with = { ...w, isolation: config.isolation };
    }
    components[name] = merged as ComponentOptions;
  }
  return components;
}

/** The builtins' settings: unknown keys (with a suggestion) and wrong types, where they are written. */
async function checkBuiltinSettings(components: Record<string, ComponentOptions>, options: LoadOptions, found: Findings): Promise<void> {
  for (const [name, c] of Object.entries(components)) {
    const builtin = typeof c.use === 'string' && c.use.startsWith('builtin:') ? c.use.slice('builtin:'.length) : undefined;
    if (builtin === undefined || !isBuiltinName(builtin) || c.with === undefined || !options.settings) continue;
    const schema = await options.settings(builtin);
    const checked = schema ? checkSettings(schema, c.with, { builtin, component: name }, suggest) : undefined;
    for (const issue of checked && !checked.ok ? checked.issues : []) found.at(found.locate(name, ['with', ...issue.path], issue.isKey ? 'key' : 'value'), issue.message);
  }
}

/**
 * The Orchestra names grant problems (found only when it discovers its extensions) at their
 * position in this file: its settings carry where they were written.
 */
function carrySettingsSource(components: Record<string, ComponentOptions>, found: Findings): void {
  for (const [name, c] of Object.entries(components)) {
    if (c.use === 'builtin:orchestra' && isPlainObject(c.with)) {
      const locate = (segs: readonly PathSegment[], what?: 'key' | 'value') => found.locate(name, ['with', ...segs], what);
      components[name] = { ...c, with: { ...c.with, [SETTINGS_SOURCE]: { file: found.source.file, locate } } };
    }
  }
}

/** Components outside the kernel process (worker, process, command) reach everything through the bus: they need it. */
function joinBus(components: Record<string, ComponentOptions>, found: Findings): string | undefined {
  const busName = Object.entries(components).find(([, c]) => c.use === 'builtin:bus')?.[0];
  for (const [name, c] of Object.entries(components)) {
    // (use and command together is already reported.)
    const outside = c.command !== undefined ? (c.use === undefined ? 'a command' : undefined) : c.mode === 'worker' || c.mode === 'process' ? `mode ${c.mode}` : undefined;
    if (!outside) continue;
    if (!busName) found.at(found.locate(name, c.command !== undefined ? ['command'] : ['mode'], 'key'), `component '${name}' runs as ${outside}, which needs the bus: add a component with use: builtin:bus`);
    else if (!(c.needs ?? []).includes(busName)) components[name] = { ...c, needs: [...(c.needs ?? []), busName] };
  }
  return busName;
}

/** The graph's problems (unknown names, cycles, stages) at the entry that causes them; its warnings returned. */
function checkGraph(components: Record<string, ComponentOptions>, stages: string[] | undefined, found: Findings): Diagnostic[] {
  const graph = analyzeGraph(
    Object.entries(components).map(([name, c]) => ({ name, needs: c.needs ?? [], wants: c.wants ?? [], late: c.late ?? [], stage: c.stage })),
    stages,
  );
  for (const p of graph.problems) {
    found.at(found.locate(p.component, p.index === undefined ? [p.field] : [p.field, p.index], p.index === undefined ? 'key' : 'value'), p.message);
  }
  return graph.warnings.map((w) => ({ file: found.source.file, ...found.locate(w.component, [w.field, w.index]), severity: 'warning', message: w.message }));
}

/** Every `use:` resolves (and, for `symphony check`, imports and exports a component). */
async function checkUses(components: Record<string, ComponentOptions>, baseDir: string, options: LoadOptions, found: Findings): Promise<void> {
  await Promise.all(
    Object.entries(components).map(async ([name, c]) => {
      if (typeof c.use !== 'string') return;
      try {
        // A builtin is checked by name: loading it is the system's part, and it ships with the kernel.
        if (options.checkModules && !c.use.startsWith('builtin:')) await loadDefinition(c.use, baseDir);
        else resolveUse(c.use, baseDir);
      } catch (err) {
        found.at(found.locate(name, ['use']), `component '${name}': ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
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
