/**
 * The config layer: YAML and TOML files (one schema, profiles), checked with every finding at its
 * FILE:LINE:COL, with `use:` resolved relative to the file. It imports the kernel and nothing it
 * configures: turning a loaded system into a running one is the system's part (src/system).
 */
export { ConfigError, formatDiagnostic, type Diagnostic } from './diagnostics.js';
export { loadSystem, loadSystemText, loadSystemValue, type LoadOptions, type LoadedSystem } from './load.js';
export { loadDefinition, resolveUse, ModuleLoadError, type ResolvedUse } from './modules.js';
export { BUILTIN_NAMES, builtinNames, isBuiltinName, type BuiltinLoader, type BuiltinName } from './builtins.js';
export { ConfigSchema, ComponentSchema, parseListen, type ComponentConfig, type HttpConfig, type SystemConfig } from './schema.js';
export { ConfigSyntaxError, parseConfigSource, SETTINGS_SOURCE, type ConfigSource, type PathSegment, type Position } from './source.js';
