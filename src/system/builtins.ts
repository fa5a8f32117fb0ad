import type { AnyComponentDefinition } from '../bootstrap/index.js';
import type { BuiltinLoader, BuiltinName } from '../config/index.js';
import type { SettingsSchema } from '../util/settings.js';

/**
 * `builtin:NAME`: per name config knows (a name without an entry, or an entry without a name, does
 * not compile), its component and its settings schema. Each imports only when used: the schema from
 * the part's light `settings` face (a few valibot lines), the component from the part, so the
 * kernel's startup never pays for parts a config does not name.
 */
const BUILTINS = {
  bus: { component: async () => (await import('../bus/index.js')).busComponent, settings: async () => (await import('../bus/settings/index.js')).BusSettingsSchema },
  pit: { component: async () => (await import('../pit/index.js')).pitComponent, settings: async () => (await import('../pit/settings/index.js')).PitSettingsSchema },
  orchestra: { component: async () => (await import('../orchestra/index.js')).orchestraComponent, settings: async () => (await import('../orchestra/settings/index.js')).OrchestraSettingsSchema },
  conductor: { component: async () => (await import('../conductor/index.js')).conductorComponent, settings: async () => (await import('../conductor/settings/index.js')).ConductorSettingsSchema },
} satisfies Record<BuiltinName, { component: () => Promise<AnyComponentDefinition>; settings: () => Promise<SettingsSchema> }>;

export const loadBuiltin: BuiltinLoader = (name) => {
  const entry = Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined;
  if (!entry) return Promise.reject(new Error(`unknown builtin '${String(name)}' (available: ${Object.keys(BUILTINS).join(', ')})`));
  return entry.component();
};

/** The schema of `builtin:NAME`'s settings (the config loader checks `with:` against it). */
export function builtinSettings(name: BuiltinName): Promise<SettingsSchema> {
  return BUILTINS[name].settings();
}
