import * as v from 'valibot';
import { count, table } from '../../util/schemas.js';

/**
 * `with:` of `builtin:pit` (docs/pit.md): the one declaration of its settings. The config loader
 * checks a file's `with:` against it (each mistake at its position), the component parses its
 * settings with it, and PitSettings is inferred from it. A light face: the system reads it
 * without loading the Pit.
 */
export const PitSettingsSchema = v.strictObject(
  {
    /** Where the Pit keeps durable state (default `.symphony/pit` in the working directory). */
    dataDir: v.optional(v.string('dataDir must be a folder')),
    /** Events buffered for the Conductor until it is ready (default 10,000; the oldest are dropped). */
    bufferEvents: v.optional(count('bufferEvents')),
    // Each extension's own table: the extension checks it when the Pit starts (with the field named).
    pool: v.optional(table('pool')),
    dag: v.optional(table('dag')),
    artifacts: v.optional(table('artifacts')),
    arbiter: v.optional(table('arbiter')),
    stale: v.optional(table('stale')),
  },
  'the settings of builtin:pit must be a table',
);

/** The settings of `builtin:pit`, as checked. */
export type PitSettings = v.InferOutput<typeof PitSettingsSchema>;
