import type { AnyComponentDefinition } from '../bootstrap/index.js';

/**
 * The names `builtin:NAME` may give, in the order errors list them. Config knows them (it checks
 * their settings, schema.ts); loading one is the system's part (src/system/builtins.ts), which
 * must give a loader for each of these names and no other.
 */
export const BUILTIN_NAMES = ['bus', 'pit', 'orchestra', 'conductor'] as const;
export type BuiltinName = (typeof BUILTIN_NAMES)[number];

/** Loads the definition of one builtin (given by the system). */
export type BuiltinLoader = (name: BuiltinName) => Promise<AnyComponentDefinition>;

export function builtinNames(): string[] {
  return [...BUILTIN_NAMES];
}

export function isBuiltinName(name: string): name is BuiltinName {
  return (BUILTIN_NAMES as readonly string[]).includes(name);
}
