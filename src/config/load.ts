import { resolve } from 'node:path';
import type { ComponentOptions } from '../bootstrap/index.js';
import type { HttpConfig } from './schema.js';
import { ConfigSyntaxError, parseConfigSource, readConfigSource, valueSource, type ConfigSource } from './source.js';
import type { BuiltinName } from './builtins.js';
import type { SettingsSchema } from '../util/settings.js';
import { ConfigError, type Diagnostic } from './diagnostics.js';
import { validateSource } from './validate.js';

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
