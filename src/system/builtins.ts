import type { AnyComponentDefinition } from '../bootstrap/index.js';
import type { BuiltinLoader, BuiltinName } from '../config/index.js';

/**
 * `builtin:NAME` components: one loader per name config knows (a name without a loader, or a
 * loader without a name, does not compile). Each imports its part only when used, so the kernel's
 * startup never pays for parts a config does not name.
 */
const BUILTINS = {
  bus: async () => (await import('../bus/index.js')).busComponent,
  pit: async () => (await import('../pit/index.js')).pitComponent,
  orchestra: async () => (await import('../orchestra/index.js')).orchestraComponent,
  conductor: async () => (await import('../conductor/index.js')).conductorComponent,
} satisfies Record<BuiltinName, () => Promise<AnyComponentDefinition>>;

export const loadBuiltin: BuiltinLoader = (name) => {
  const load = Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined;
  if (!load) return Promise.reject(new Error(`unknown builtin '${String(name)}' (available: ${Object.keys(BUILTINS).join(', ')})`));
  return load();
};
