import * as v from 'valibot';
import { count, duration, limitsSchema, patternList, table } from '../../util/schemas.js';

/**
 * `with:` of `builtin:orchestra` (docs/extensions.md, docs/grants.md): the one declaration of its
 * settings and of a grant. The config loader checks a file's `with:` against it (each mistake at
 * its position), the component parses its settings with it, and OrchestraSettings and Grant are
 * inferred from it. A light face: the system reads it without loading the Orchestra.
 */

const PIN = /^sha256:[0-9a-f]{64}$/;
const PIN_MESSAGE = 'manifest must be the pin of the manifest granted: sha256:<64 hex digits> (symphony grant PATH prints it)';
const pin = v.pipe(v.string(`${PIN_MESSAGE}, or any`), v.check((x) => x === 'any' || PIN.test(x), `${PIN_MESSAGE}, or any`));
const patterns = (what: string) => patternList(what, 'method or topic patterns');
const paths = (what: string) => v.array(v.string(`each entry of ${what} must be a path`), `${what} must be a list of paths (relative to this file, or absolute)`);
const ceilings = () => limitsSchema('limits', { memoryMb: 64, processes: 16 });

/** One extension's grant: what the operator lets it have; its manifest only asks. */
export const GrantSchema = v.strictObject(
  {
    /**
     * `sha256:<hex>` of the manifest this grant was given for (a list when several versions of the
     * extension are installed side by side), or `any`: not pinned, any manifest within the grant.
     * Its description is what a config missing it is told.
     */
    manifest: v.pipe(
      v.union([pin, v.pipe(v.array(pin, 'manifest must be a pin or a list of pins'), v.minLength(1, 'manifest must not be an empty list'))], `${PIN_MESSAGE}, a list of pins, or any`),
      v.description('a grant is pinned to the manifest it was given for (symphony grant PATH prints the pin)'),
    ),
    execution: v.optional(v.picklist(['isolated', 'in-process'], 'execution must be isolated or in-process (in-process is full trust)')),
    provides: v.optional(patterns('provides')),
    calls: v.optional(patterns('calls')),
    publishes: v.optional(patterns('publishes')),
    subscribes: v.optional(patterns('subscribes')),
    fsRead: v.optional(paths('fsRead')),
    fsWrite: v.optional(paths('fsWrite')),
    net: v.optional(v.boolean('net must be true or false')),
    childProcess: v.optional(v.boolean('childProcess must be true or false')),
    workers: v.optional(v.boolean('workers must be true or false')),
    /** Ceilings of what the manifest may ask, and (artifactsBytes) its Artifact Store quota. */
    limits: v.optional(
      v.strictObject(
        {
          ...ceilings().entries,
          // What the extension may keep in the Artifact Store (the Pit's artifacts.quotaBytes is the default).
          artifactsBytes: v.optional(v.pipe(v.number('limits.artifactsBytes must be a number of bytes'), v.integer('limits.artifactsBytes must be a whole number of bytes'), v.minValue(1, 'limits.artifactsBytes must be at least 1'))),
        },
        'limits must be a table { memoryMb, cpuPercent, processes, artifactsBytes }',
      ),
    ),
  },
  'each grant must be a table { manifest, execution, provides, calls, publishes, subscribes, fsRead, fsWrite, net, childProcess, workers, limits }',
);

export const OrchestraSettingsSchema = v.strictObject(
  {
    /** Folders of extensions (or extension folders), relative to `baseDir`. */
    paths: v.optional(v.array(v.string('each entry of paths must be a folder'), 'paths must be a list of folders')),
    /** Reload an extension when its folder changes (debounced). Default false. */
    watch: v.optional(v.boolean('watch must be true or false')),
    /** Restarts per extension within the window before it is quarantined (default 5 within 60s). */
    restart: v.optional(v.strictObject({ max: v.optional(count('restart.max')), within: v.optional(duration) }, 'restart must be a table { max, within }')),
    /** Backoff between restarts (default 100ms doubling to 5s, with jitter). */
    backoff: v.optional(v.strictObject({ initial: v.optional(duration), max: v.optional(duration) }, 'backoff must be a table { initial, max }')),
    /** Settings handed to each extension as ctx.config, by name. */
    config: v.optional(table('config')),
    /** What the operator grants each extension, by name (docs/grants.md): a manifest only asks. */
    grants: v.optional(v.record(v.string(), GrantSchema, 'grants must be a table of extension name: grant')),
    /** `strict`: isolated extensions the OS sandbox cannot confine are refused (the config's top-level `isolation`). */
    isolation: v.optional(v.picklist(['auto', 'strict'], 'isolation must be auto or strict')),
    /** Ceilings of an isolated extension whose grant sets none: what it may ask and gets when it asks nothing (256 MB, 100% of a core, 64 processes). */
    limits: v.optional(ceilings()),
  },
  'the settings of builtin:orchestra must be a table',
);

/** The settings of `builtin:orchestra`, as checked. */
export type OrchestraSettings = v.InferOutput<typeof OrchestraSettingsSchema>;
/** One extension's grant, as checked. */
export type Grant = v.InferOutput<typeof GrantSchema>;
