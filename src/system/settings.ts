import type { LoadedSystem, LoadOptions } from '../config/index.js';
import { loadSystem as loadFile, loadSystemText as loadText, loadSystemValue as loadValue } from '../config/index.js';
import { builtinSettings } from './builtins.js';

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
