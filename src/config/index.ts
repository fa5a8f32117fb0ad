/**
 * The config layer: YAML and TOML files (one schema, profiles), checked with every finding at its
 * FILE:LINE:COL, and turned into kernel options with `use:` resolved relative to the file.
 */
export { ConfigError, formatDiagnostic, kernelOptions, loadSystem, loadSystemText, loadSystemValue, type Diagnostic, type LoadOptions, type LoadedSystem } from './load.js';
export { loadDefinition, resolveUse, ModuleLoadError, type ResolvedUse } from './modules.js';
export { builtinNames } from './builtins.js';
export { ConfigSchema, ComponentSchema, parseListen, type ComponentConfig, type HttpConfig, type SystemConfig } from './schema.js';
export { ConfigSyntaxError, parseConfigSource, type ConfigSource, type PathSegment, type Position } from './source.js';
