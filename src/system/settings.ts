import type { BuiltinName, LoadedSystem, LoadOptions } from '../config/index.js';
import { loadSystem as loadFile, loadSystemText as loadText, loadSystemValue as loadValue } from '../config/index.js';
import type { SettingsSchema } from '../util/settings.js';

/**
 * The settings schema of each builtin, from the part that declares it (its light `settings` face:
 * a few valibot lines, not the part), imported only when a config names that builtin. The config
 * loader checks `with:` against them; a name without a schema, or a schema without a name, does
 * not compile.
 */
const SETTINGS = {
  bus: async () => (await import('../bus/settings/index.js')).BusSettingsSchema,
  pit: async () => (await import('../pit/settings/index.js')).PitSettingsSchema,
  orchestra: async () => (await import('../orchestra/settings/index.js')).OrchestraSettingsSchema,
  conductor: async () => (await import('../conductor/settings/index.js')).ConductorSettingsSchema,
} satisfies Record<BuiltinName, () => Promise<SettingsSchema>>;

/** The schema of `builtin:NAME`'s settings. */
export function builtinSettings(name: BuiltinName): Promise<SettingsSchema> {
  return SETTINGS[name]();
}

const withBuiltins = (options: LoadOptions): LoadOptions => ({ settings: builtinSettings, ...options });

/** Reads, validates and merges a config file, the builtins' settings included. Throws ConfigError with every problem found, each at its position. */
export function loadSystem(file: string, options: LoadOptions = {}): Promise<LoadedSystem> {
  return loadFile(file, withBuiltins(options));
}

/** Same as loadSystem, for text already in memory (an embedded default, a test). */
export function loadSystemText(file: string, text: string, options: LoadOptions = {}): Promise<LoadedSystem> {
  return loadText(file, text, withBuiltins(options));
}

/** Same as loadSystem, for a config that is already a value (the embedded default system). */
export function loadSystemValue(file: string, value: unknown, options: LoadOptions = {}): Promise<LoadedSystem> {
  return loadValue(file, value, withBuiltins(options));
}
