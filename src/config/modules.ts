import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isComponentDefinition, type AnyComponentDefinition } from '../bootstrap/index.js';
import { builtinNames, isBuiltinName, type BuiltinLoader, type BuiltinName } from './builtins.js';

/** Where a `use:` string points: a builtin, a file, or a package, with what to import. */
export type ResolvedUse =
  | { kind: 'builtin'; name: BuiltinName }
  | { kind: 'module'; specifier: string; url: string; exportName: string };

/** A `use:` that cannot be resolved or does not export a component. */
export class ModuleLoadError extends Error {
  override name = 'ModuleLoadError';
}

/**
 * Resolves `use` relative to `baseDir` (the config file's folder): `builtin:NAME`; `./x.mjs`,
 * `../x.js` or an absolute path; or a package name. A `#name` suffix picks a named export instead
 * of the default one.
 */
export function resolveUse(use: string, baseDir: string): ResolvedUse {
  if (use.startsWith('builtin:')) {
    const name = use.slice('builtin:'.length);
    if (!isBuiltinName(name)) {
      throw new ModuleLoadError(`unknown builtin '${name}' (available: ${builtinNames().join(', ') || 'none'})`);
    }
    return { kind: 'builtin', name };
  }
  const hash = use.lastIndexOf('#');
  const specifier = hash > 0 ? use.slice(0, hash) : use;
  const exportName = hash > 0 ? use.slice(hash + 1) : 'default';
  if (specifier.startsWith('.') || isAbsolute(specifier)) {
    const file = resolve(baseDir, specifier);
    if (!existsSync(file)) throw new ModuleLoadError(`module '${specifier}' does not exist (looked for ${file})`);
    if (statSync(file).isDirectory()) throw new ModuleLoadError(`module '${specifier}' is a folder (${file}); name the file`);
    return { kind: 'module', specifier, url: pathToFileURL(file).href, exportName };
  }
  try {
    const file = createRequire(resolve(baseDir, 'symphony.config')).resolve(specifier);
    return { kind: 'module', specifier, url: pathToFileURL(file).href, exportName };
  } catch {
    // require's resolution misses packages that only export for `import` (ESM-only): look again with import's conditions.
    const file = resolveForImport(specifier, baseDir);
    if (file) return { kind: 'module', specifier, url: pathToFileURL(file).href, exportName };
    throw new ModuleLoadError(`package '${specifier}' is not installed where ${baseDir} can find it (npm install ${packageName(specifier)})`);
  }
}

function packageName(specifier: string): string {
  return specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
}

/** The file `import(specifier)` would load from `baseDir`, by the package's `exports` (import, node, default) or its main. */
function resolveForImport(specifier: string, baseDir: string): string | undefined {
  const name = packageName(specifier);
  const subpath = `.${specifier.slice(name.length)}`;
  for (let dir = resolve(baseDir); ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', name);
    const pkgFile = join(pkgDir, 'package.json');
    if (existsSync(pkgFile)) {
      let pkg: { exports?: unknown; main?: string; module?: string };
      try {
        pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as typeof pkg;
      } catch {
        return undefined;
      }
      const target = pkg.exports !== undefined ? exportTarget(pkg.exports, subpath) : subpath === '.' ? (pkg.main ?? 'index.js') : subpath;
      const file = target === undefined ? undefined : resolve(pkgDir, target);
      return file && existsSync(file) ? file : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function exportTarget(exports: unknown, subpath: string): string | undefined {
  const isSubpathMap = exports !== null && typeof exports === 'object' && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith('.'));
  const entry = isSubpathMap ? (exports as Record<string, unknown>)[subpath] : subpath === '.' ? exports : undefined;
  return conditional(entry);
}

function conditional(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry)) {
    for (const e of entry) {
      const t = conditional(e);
      if (t) return t;
    }
    return undefined;
  }
  if (entry && typeof entry === 'object') {
    for (const [condition, value] of Object.entries(entry)) {
      if (condition === 'import' || condition === 'node' || condition === 'default') {
        const t = conditional(value);
        if (t) return t;
      }
    }
  }
  return undefined;
}

/**
 * Imports what `use` points at and checks it is a component definition. A `builtin:NAME` is
 * loaded by `builtins`, which the system gives (config does not import the parts it configures).
 */
export async function loadDefinition(use: string, baseDir: string, builtins?: BuiltinLoader): Promise<AnyComponentDefinition> {
  const target = resolveUse(use, baseDir);
  if (target.kind === 'builtin') {
    if (!builtins) throw new ModuleLoadError(`'${use}' is a part of the system: load it through the system's loader (kernelOptions or loadComponent from the system), not the config layer's`);
    return builtins(target.name);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(target.url)) as Record<string, unknown>;
  } catch (err) {
    throw new ModuleLoadError(`cannot load '${target.specifier}': ${err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err)}`, { cause: err });
  }
  const def = mod[target.exportName];
  if (def === undefined) {
    const names = Object.keys(mod).filter((k) => isComponentDefinition(mod[k]));
    throw new ModuleLoadError(
      `'${target.specifier}' has no ${target.exportName === 'default' ? 'default export' : `export '${target.exportName}'`}${names.length ? ` (it exports components as: ${names.join(', ')}; use '${target.specifier}#${names[0]}')` : ''}`,
    );
  }
  if (!isComponentDefinition(def)) {
    throw new ModuleLoadError(`'${target.specifier}' does not export a component: its ${target.exportName === 'default' ? 'default export' : `export '${target.exportName}'`} needs a start() function (and optional health(), stop())`);
  }
  return def;
}
