/**
 * The system: the top part, which assembles the others. It knows every builtin (builtins.ts) and
 * turns a loaded config into kernel options whose modes run through the bus (assemble.ts). The
 * CLI builds on it; nothing below imports it.
 */
export { kernelOptions, loadComponent } from './assemble.js';
export { builtinSettings, loadBuiltin } from './builtins.js';
export { loadSystem, loadSystemText, loadSystemValue } from './settings.js';
export { builtinNames, ConfigError, formatDiagnostic, type Diagnostic, type LoadOptions, type LoadedSystem } from '../config/index.js';
