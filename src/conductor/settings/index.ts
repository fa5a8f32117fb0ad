import * as v from 'valibot';

/**
 * `with:` of `builtin:conductor` (docs/conductor.md): the one declaration of its settings. The
 * config loader checks a file's `with:` against it (each mistake at its position), the component
 * parses its settings with it, and ConductorSettings is inferred from it. A light face: the
 * system reads it without loading the Conductor.
 */
export const ConductorSettingsSchema = v.strictObject(
  {
    /** `builtin` (default), `remote` (ask `conductor.decide` on the bus: the Python Conductor), or a method name. */
    policy: v.optional(v.string('policy must be builtin, remote or a bus method')),
    /** How long the remote policy may take before the built-in answer is used (ms, default 1000). */
    policyTimeoutMs: v.optional(v.pipe(v.number('policyTimeoutMs must be a number of milliseconds'), v.minValue(0, 'policyTimeoutMs must be >= 0'))),
    /**
     * Folders (relative to the config file) whose melody files a caller may name in `melody.run` /
     * `melody.validate { file }` (default: `melodies` beside the config). The kernel itself (the
     * CLI's `symphony run FILE`) may name any file the operator gives it.
     */
    melodies: v.optional(v.array(v.string('each entry of melodies must be a folder'), 'melodies must be a list of folders (relative to this file) whose melody files callers may name')),
  },
  'the settings of builtin:conductor must be a table',
);

/** The settings of `builtin:conductor`, as checked. */
export type ConductorSettings = v.InferOutput<typeof ConductorSettingsSchema>;
