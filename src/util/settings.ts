import * as v from 'valibot';

/*
 * A builtin's settings (its `with:`), checked against the schema its part declares: the config
 * loader reports each finding at its FILE:LINE:COL, a component started from code throws them
 * all. Either way the words are these, naming the component, the builtin and the key.
 */

/** The schema of a builtin's settings: a table with only the keys it names. */
export type SettingsSchema = v.StrictObjectSchema<v.ObjectEntries, string>;

/** Who the settings are for: `builtin:NAME` run as component `component`. */
export interface SettingsOwner {
  builtin: string;
  component: string;
}

/** One finding: where in the settings (the key itself, or its value) and what is wrong. */
export interface SettingsIssue {
  path: (string | number)[];
  isKey: boolean;
  message: string;
}

/** `(did you mean 'x'?)` for a misspelt key among the known ones, or ''. */
export type Suggest = (name: string, known: Iterable<string>) => string;

export type SettingsCheck<S extends SettingsSchema> = { ok: true; settings: v.InferOutput<S> } | { ok: false; issues: SettingsIssue[] };

/** Checks `value` (undefined: no settings) against `schema`; every finding worded for `owner`. */
export function checkSettings<S extends SettingsSchema>(schema: S, value: unknown, owner: SettingsOwner, suggest: Suggest): SettingsCheck<S> {
  const input = value ?? {};
  const parsed = v.safeParse(schema, input);
  if (parsed.success) return { ok: true, settings: withSymbols(parsed.output, input) };
  return { ok: false, issues: parsed.issues.map((issue) => describe(schema, issue, owner, suggest)) };
}

/** The settings a component was given, checked: typed by its schema, or a TypeError naming the component and each key. */
export function parseSettings<S extends SettingsSchema>(schema: S, value: unknown, owner: SettingsOwner, suggest: Suggest): v.InferOutput<S> {
  const checked = checkSettings(schema, value, owner, suggest);
  if (!checked.ok) throw new TypeError(checked.issues.map((i) => i.message).join('\n'));
  return checked.settings;
}

// Symbol keys are not settings but what travels beside them (where the config wrote them): kept.
function withSymbols<T>(output: T, input: unknown): T {
  if (typeof input !== 'object' || input === null) return output;
  for (const key of Object.getOwnPropertySymbols(input)) (output as Record<symbol, unknown>)[key] = (input as Record<symbol, unknown>)[key];
  return output;
}

function describe(schema: SettingsSchema, issue: v.BaseIssue<unknown>, { builtin, component }: SettingsOwner, suggest: Suggest): SettingsIssue {
  const path = (issue.path ?? []).map((p) => p.key as string | number);
  const isKey = issue.path?.at(-1)?.origin === 'key';
  const dotted = path.join('.');
  // valibot reports a missing required key as a key issue too: it expected the key, got nothing.
  if (isKey && issue.received === 'undefined' && issue.expected !== 'never') {
    const target = schemaAt(schema, path)?.schema;
    // A required key's description says why it is required.
    const why = target ? v.getDescription(target) : undefined;
    return { path, isKey, message: `in component '${component}' (builtin:${builtin}): missing key '${dotted}'${why ? `: ${why}` : ''}` };
  }
  if (isKey) {
    const known = knownKeys(schema, path.slice(0, -1));
    const listed = known.length ? ` (known keys: ${known.join(', ')})` : '';
    return { path, isKey, message: `unknown key '${dotted}' in the settings of builtin:${builtin} (component '${component}')${suggest(String(path.at(-1)), known)}${listed}` };
  }
  const where = path.length && !issue.message.startsWith(dotted) ? `${dotted}: ` : '';
  const received = issue.received && issue.received !== 'undefined' ? ` (got ${issue.received})` : '';
  return { path, isKey, message: `in component '${component}' (builtin:${builtin}): ${where}${issue.message}${received}` };
}

/**
 * The keys of the table at `path`, listed when a key there is unknown: for the settings themselves
 * and for each entry of a name: table record (a grant); a fixed table inside them (restart,
 * limits) has few keys and its suggestion alone says enough.
 */
function knownKeys(schema: SettingsSchema, path: readonly (string | number)[]): string[] {
  const at = schemaAt(schema, path);
  const table = at && unwrap(at.schema);
  if (!table || !('entries' in table) || !(path.length === 0 || at.viaRecord)) return [];
  return Object.keys(table.entries as v.ObjectEntries);
}

type AnySchema = v.GenericSchema & { type: string; wrapped?: AnySchema; entries?: Record<string, AnySchema>; value?: AnySchema; item?: AnySchema };

/** The schema of the value at `path` inside the settings, and whether its last step was a record's value. */
function schemaAt(schema: SettingsSchema, path: readonly (string | number)[]): { schema: AnySchema; viaRecord: boolean } | undefined {
  let at: AnySchema | undefined = schema as unknown as AnySchema;
  let viaRecord = false;
  for (const seg of path) {
    const s: AnySchema | undefined = unwrap(at);
    viaRecord = s?.type === 'record';
    at = s?.entries ? (Object.hasOwn(s.entries, seg) ? s.entries[seg] : undefined) : (s?.value ?? s?.item);
    if (!at) return undefined;
  }
  return { schema: at!, viaRecord };
}

function unwrap(s: AnySchema | undefined): AnySchema | undefined {
  while (s?.wrapped) s = s.wrapped;
  return s;
}
