import type { AnyComponentDefinition } from '../bootstrap/index.js';

/**
 * `builtin:NAME` components. Each entry imports its part only when used, so the kernel's startup
 * never pays for parts a config does not name.
 */
const BUILTINS: Record<string, () => Promise<AnyComponentDefinition>> = {
  bus: async () => (await import('../bus/index.js')).busComponent,
  pit: async () => (await import('../pit/index.js')).pitComponent,
  orchestra: async () => (await import('../orchestra/index.js')).orchestraComponent,
  conductor: async () => (await import('../conductor/index.js')).conductorComponent,
};

export function builtinNames(): string[] {
  return Object.keys(BUILTINS);
}

export function loadBuiltin(name: string): Promise<AnyComponentDefinition> {
  const load = BUILTINS[name];
  if (!load) return Promise.reject(new Error(`unknown builtin '${name}' (available: ${builtinNames().join(', ') || 'none'})`));
  return load();
}
