import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LoadedSystem } from '../config/index.js';
import { claimDataFolder, configuredData, dataFolder, DataFolderInUse, type DataFolderClaim } from './data-folder.js';
import { FolderInUse, UsageError } from './errors.js';
import type { Values } from './invocation.js';
import { packageRoot, packageVersion } from './package-root.js';

/** The config file to use: -c, else ./symphony.{yaml,yml,toml}, else undefined (the embedded default system). */
export function configFile(values: Values): string | undefined {
  if (values.config !== undefined) return resolve(values.config);
  for (const name of ['symphony.yaml', 'symphony.yml', 'symphony.toml']) if (existsSync(name)) return resolve(name);
  return undefined;
}

/** The system a command works on, loaded (a config problem is a UsageError listing every diagnostic). */
export async function load(values: Values, checkModules = false): Promise<LoadedSystem> {
  const { loadSystem, loadSystemText, loadSystemValue, ConfigError, formatDiagnostic } = await import('../system/index.js');
  try {
    const file = configFile(values);
    const options = { profile: values.profile, checkModules };
    const builtin = resolve(packageRoot, 'examples', 'symphony.yaml');
    // check parses the embedded default's text, so its findings have positions; a boot takes the value.
    const system = file
      ? await loadSystem(file, options)
      : checkModules
        ? await loadSystemText(builtin, (await import('./default-system.js')).DEFAULT_SYSTEM, options)
        : await loadSystemValue(builtin, (await import('./default-system.js')).DEFAULT_SYSTEM_VALUE, options);
    for (const w of system.warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
    // The Pit keeps its state in the system's data folder unless its config says where.
    const data = dataFolder({ data: values.data, configFile: file, configured: configuredData(system.source) });
    for (const c of Object.values(system.components)) {
      if (c.use === 'builtin:pit' && (c.with as { dataDir?: unknown } | undefined)?.dataDir === undefined) c.with = { ...((c.with as object | undefined) ?? {}), dataDir: resolve(data, 'pit') };
    }
    return system;
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.diagnostics.map((d) => formatDiagnostic(d)).join('\n'));
    throw err;
  }
}

/** Takes the system's data folder (one system per folder); in use: exit 1 at once, saying by whom and what to do. */
export async function claimData(values: Values, system: LoadedSystem): Promise<DataFolderClaim> {
  const data = dataFolder({ data: values.data, configFile: configFile(values), configured: configuredData(system.source) });
  try {
    const claim = await claimDataFolder(data, { config: configFile(values) ?? 'builtin:default', version: packageVersion() });
    // A second signal exits at once: the folder is still given back.
    process.once('exit', () => claim.release());
    return claim;
  } catch (err) {
    if (err instanceof DataFolderInUse) throw new FolderInUse(`symphony: ${err.message}`);
    throw new FolderInUse(`symphony: cannot use the data folder ${data} for ${system.file}: ${(err as Error).message}`);
  }
}
