import * as v from 'valibot';
import { EXECUTION_MODES, modeList, RESTART_TYPES, SHUTDOWN_KINDS, STRATEGY_NAMES, STRATEGY_SUMMARIES } from '../bootstrap/index.js';
import { parseDuration } from '../util/duration.js';
import { count, duration, limitsSchema, patternList } from '../util/schemas.js';

/*
 * The one schema of a Symphony config file (YAML and TOML alike). The JSON Schema shipped in
 * schema/symphony.schema.json is generated from it (scripts/postbuild.mjs), so editors and the
 * kernel never disagree.
 */

/** `http.listen`: HOST:PORT (the host may be a bracketed IPv6 address; port 0-65535, 0 picks a free one), or undefined. */
export function parseListen(listen: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]\s]+)\]|([^\s[\]:]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  return m && port <= 65535 ? { host: m[1] ?? m[2]!, port } : undefined;
}

const SHUTDOWN_MESSAGE = `stopTimeout must be a duration (a number of milliseconds or a string such as "250ms", "5s"), ${SHUTDOWN_KINDS.join(' or ')}`;
const names = (what: string) => v.array(v.string(`each entry of ${what} must be a component name`), `${what} must be a list of component names`);

const paths = (what: string) => v.array(v.string(`each entry of sandbox.${what} must be a path`), `sandbox.${what} must be a list of paths`);

/** A `command:` or `mode: process` component's OS sandbox: the grant keys of an isolated extension. */
const SandboxSchema = v.union(
  [
    v.boolean(),
    v.strictObject(
      {
        fsRead: v.optional(paths('fsRead')),
        fsWrite: v.optional(paths('fsWrite')),
        net: v.optional(v.boolean('sandbox.net must be true or false')),
        childProcess: v.optional(v.boolean('sandbox.childProcess must be true or false')),
        limits: v.optional(limitsSchema('sandbox.limits', { memoryMb: 16, processes: 8 })),
      },
      'sandbox must be true, false or a table { fsRead, fsWrite, net, childProcess, limits }',
    ),
  ],
  'sandbox must be true, false or a table { fsRead, fsWrite, net, childProcess, limits }',
);

export const componentEntries = {
  use: v.optional(v.pipe(v.string('use must be a string: builtin:NAME, a module path, or a package name'), v.description('builtin:NAME, a module path relative to this file (optionally #exportName), or a package name. Its default export is a component definition.'))),
  command: v.optional(v.pipe(v.array(v.string(), 'command must be a list of strings, e.g. [python3, -m, my_peer]'), v.minLength(1, 'command must not be empty'), v.description('Instead of use: an external process (any language) that joins the bus over its stdio.'))),
  needs: v.optional(v.pipe(names('needs'), v.description('Hard dependencies: started and healthy before this one starts.'))),
  wants: v.optional(v.pipe(names('wants'), v.description('Soft dependencies: ordered before this one when present; their failure does not stop it.'))),
  late: v.optional(v.pipe(names('late'), v.description('Deferred handles to components that start later; the only legal way to close a cycle.'))),
  mode: v.optional(v.pipe(v.picklist(EXECUTION_MODES, `mode must be ${modeList()}`), v.description('Where the component runs.'))),
  optional: v.optional(v.pipe(v.boolean('optional must be true or false'), v.description('Failure leaves the system degraded instead of failing the boot.'))),
  timeout: v.optional(v.pipe(duration, v.description('Start deadline (default 10s).'))),
  stopTimeout: v.optional(
    v.pipe(
      v.union([v.number(), v.string()], SHUTDOWN_MESSAGE),
      v.check((x) => (SHUTDOWN_KINDS as readonly unknown[]).includes(x) || parseDuration(x) !== undefined, SHUTDOWN_MESSAGE),
      v.description('Shutdown, as in OTP: the stop deadline (default 5s); brutal_kill: the stop is told at once (its signal already aborted) and not waited for; infinity: waited for without a deadline.'),
    ),
  ),
  retries: v.optional(v.pipe(count('retries'), v.description('Start attempts after the first, with exponential backoff and jitter (default 0).'))),
  backoff: v.optional(v.strictObject({ initial: v.optional(duration), max: v.optional(duration) }, 'backoff must be a table { initial, max }')),
  health: v.optional(
    v.strictObject(
      {
        timeout: v.optional(v.pipe(duration, v.description('Deadline of one probe (default 1s).'))),
        interval: v.optional(v.pipe(duration, v.description('Time between liveness probes after the boot (default 5s).'))),
        threshold: v.optional(v.pipe(count('health.threshold'), v.description('Failed probes in a row before the component counts as unhealthy (default 3).'))),
      },
      'health must be a table { timeout, interval, threshold }',
    ),
  ),
  restart: v.optional(
    v.strictObject(
      {
        strategy: v.optional(
          v.pipe(
            v.picklist([...STRATEGY_NAMES, 'never'], `restart.strategy must be ${[...STRATEGY_NAMES, 'never'].join(', ')}`),
            v.description(`Which components a restart takes: ${STRATEGY_NAMES.map((n) => `${n} (${STRATEGY_SUMMARIES[n]})`).join(', ')}. never: no restart (restart type temporary).`),
          ),
        ),
        type: v.optional(
          v.pipe(
            v.picklist(RESTART_TYPES, `restart.type must be ${RESTART_TYPES.join(', ')}`),
            v.description('permanent: always restarted; transient: restarted unless it ended normally (ctx.exit()); temporary: never restarted. Default permanent when a strategy is given, else temporary.'),
          ),
        ),
        max: v.optional(v.pipe(count('restart.max'), v.description('Restarts allowed within `within` before escalating (default 3).'))),
        within: v.optional(v.pipe(duration, v.description('The window for `max` (default 30s).'))),
      },
      'restart must be a table { strategy, type, max, within }',
    ),
  ),
  stage: v.optional(v.pipe(v.union([v.pipe(v.number(), v.integer(), v.minValue(0)), v.string()], 'stage must be a stage index or a label from stages'), v.description('Explicit stage: an index, or a label from the top-level stages list.'))),
  with: v.optional(v.pipe(v.unknown(), v.description('Free-form settings handed to the component as ctx.config.'))),
  sandbox: v.optional(
    v.pipe(
      SandboxSchema,
      v.description("For command: and mode: process components: run inside the operating-system sandbox (true for the defaults: no network, no files beyond the program's runtime and its folder; or a table of grants, the keys of an isolated extension's permissions and limits)."),
    ),
  ),
};

export const ComponentSchema = v.strictObject(componentEntries, 'each component must be a table of settings');

/**
 * An entry of `http.hosts`: a host name the health endpoints answer for besides the loopback names
 * and IP literals, `*.DOMAIN` for its subdomains, either with `:PORT` to allow only that port; or
 * `*` alone, any Host (turns the DNS-rebinding guard off: for a proxy that rewrites Host).
 */
export const HOST_PATTERN = /^(?:\*|(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.?(?::\d{1,5})?)$/i;

const HttpSchema = v.strictObject(
  {
    listen: v.pipe(
      v.string('http.listen must be HOST:PORT'),
      v.check((x) => parseListen(x) !== undefined, 'http.listen must be HOST:PORT with a port 0 to 65535, e.g. 127.0.0.1:8080 (port 0 picks a free one)'),
      v.description('Where /livez, /readyz, /status and the dashboard (/) are served, e.g. 127.0.0.1:0 (port 0 picks a free port; the default). http: false serves nothing.'),
    ),
    hosts: v.optional(
      v.pipe(
        v.array(
          v.pipe(
            v.string('each entry of http.hosts must be a host name'),
            v.check((x) => HOST_PATTERN.test(x), 'each entry of http.hosts must be a host name, *.DOMAIN or *, optionally with :PORT, e.g. symphony.internal or *.svc.cluster.local'),
          ),
          'http.hosts must be a list of host names',
        ),
        v.description('Host names the endpoints answer for besides localhost, *.localhost and IP literals (a request naming any other Host gets 421: no DNS rebinding). *.DOMAIN allows subdomains, :PORT one port, * any Host.'),
      ),
    ),
    drain: v.optional(v.pipe(duration, v.description('On SIGTERM, how long /readyz answers 503 while everything keeps serving, before the system stops (default 0: stop at once). Set it to what your load balancer needs to stop sending traffic, e.g. "5s".'))),
  },
  'http must be a table { listen, hosts, drain }',
);

/**
 * `false`, or what `schema` takes. A union as the JSON Schema sees it, but a value other than
 * `false` is checked by `schema` alone, so a mistake inside the table is reported where it is
 * written (a plain union would only say that neither option matched).
 */
function falseOr<S extends v.GenericSchema>(schema: S, message: string) {
  const union = v.union([v.literal(false), schema], message);
  const no = v.literal(false, message);
  return {
    ...union,
    '~run'(dataset: Parameters<typeof union['~run']>[0], config: Parameters<typeof union['~run']>[1]) {
      return (dataset.value === false || typeof dataset.value !== 'object' ? no['~run'](dataset, config) : schema['~run'](dataset, config)) as ReturnType<typeof union['~run']>;
    },
  } as typeof union;
}

/** `nats://HOST:PORT` or `tls://HOST:PORT`, nothing else (credentials go in their own keys, from secrets). */
function isServerUrl(x: string): boolean {
  if (/\s/.test(x)) return false;
  let u: URL;
  try {
    u = new URL(x);
  } catch {
    return false;
  }
  return (u.protocol === 'nats:' || u.protocol === 'tls:') && u.hostname !== '' && !u.username && !u.password && (u.pathname === '' || u.pathname === '/') && !u.search && !u.hash;
}
const SECRET = /^(?:env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/;
const secret = (what: string) => v.pipe(v.string(`cluster.${what} must be env:NAME or file:PATH`), v.regex(SECRET, `cluster.${what} must be env:NAME or file:PATH (the secret itself is never written in the config)`));

/** `cluster`: this kernel is a node of a system spanning several machines, joined through NATS (docs/cluster.md). */
const ClusterSchema = v.strictObject(
  {
    node: v.pipe(v.string('cluster.node must be a name'), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'cluster.node must be a name of letters, digits, - and _ (at most 64)'), v.description("This node's name, unique in the cluster.")),
    servers: v.pipe(
      v.array(
        v.pipe(v.string('each entry of cluster.servers must be a NATS URL'), v.check(isServerUrl, 'each entry of cluster.servers must be a NATS URL nats://HOST:PORT (or tls://HOST:PORT), without user or password in it')),
        'cluster.servers must be a list of NATS URLs, e.g. [nats://127.0.0.1:4222]',
      ),
      v.minLength(1, 'cluster.servers must list at least one NATS server'),
      v.description('NATS servers to connect to; the client fails over between them.'),
    ),
    user: v.optional(v.pipe(v.string('cluster.user must be a string'), v.description("The node's NATS user (with password)."))),
    password: v.optional(v.pipe(secret('password'), v.description("The NATS user's password: env:NAME or file:PATH."))),
    nkey: v.optional(v.pipe(secret('nkey'), v.description("The node's NATS nkey seed: env:NAME or file:PATH."))),
    prefix: v.optional(v.pipe(v.string('cluster.prefix must be a string'), v.regex(/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/, 'cluster.prefix must be dot-separated words'), v.description('Every subject of the cluster starts with it (default symphony).'))),
    heartbeat: v.optional(v.pipe(duration, v.description('Heartbeat interval between nodes (default 250ms); a node silent for four is gone.'))),
    connectTimeout: v.optional(v.pipe(duration, v.description('How long the boot waits for a NATS server (default 5s).'))),
    accept: v.optional(v.pipe(patternList('cluster.accept', 'method patterns'), v.description('Methods of this node other nodes may call (default all: >).'))),
    optional: v.optional(v.pipe(v.boolean('cluster.optional must be true or false'), v.description('A node that cannot join leaves the system degraded instead of failing the boot.'))),
  },
  'cluster must be a table { node, servers, user, password, nkey, prefix, heartbeat, connectTimeout, accept, optional }',
);

/** The `cluster` table as loaded. */
export type ClusterConfig = v.InferOutput<typeof ClusterSchema>;

/** The `http` table as loaded. */
export type HttpConfig = v.InferOutput<typeof HttpSchema>;

const sections = {
  components: v.record(v.string(), ComponentSchema, 'components must be a table of name: settings'),
  stages: v.optional(v.pipe(v.array(v.string(), 'stages must be a list of labels'), v.description('Stage labels, in order, that components may name in stage:.'))),
  // On by default (127.0.0.1:0); `false` turns the listener (probes and dashboard) off.
  http: v.optional(falseOr(HttpSchema, 'http must be a table { listen, hosts, drain }, or false to serve no HTTP at all')),
};

export const ProfileSchema = v.strictObject(
  {
    components: v.optional(sections.components),
    stages: sections.stages,
    http: sections.http,
  },
  'each profile must be a table (components, stages, http)',
);

export const ConfigSchema = v.strictObject(
  {
    $schema: v.optional(v.string()),
    ...sections,
    cluster: v.optional(ClusterSchema),
    isolation: v.optional(
      v.pipe(
        v.picklist(['auto', 'strict'], 'isolation must be auto or strict'),
        v.description('auto (default): where the OS sandbox cannot be set up, isolated code still runs, with a loud warning, reported degraded. strict: it is refused instead.'),
      ),
    ),
    profiles: v.optional(v.pipe(v.record(v.string(), ProfileSchema, 'profiles must be a table of name: overrides'), v.description('Named overrides, merged over the base with --profile NAME.'))),
    data: v.optional(
      v.pipe(
        v.string('data must be a folder path (relative to the config file)'),
        v.minLength(1, 'data must be a folder path (relative to the config file), not empty'),
        v.description("The system's data folder: its state (the Pit's databases and artifacts) and, while it runs, run.json (where to reach it; also its lock: one system per folder). Relative to the config file; default .symphony beside it. symphony up --data DIR overrides it."),
      ),
    ),
  },
  'a config file must be a table with components (and optionally stages, http, profiles)',
);

export type ComponentConfig = v.InferOutput<typeof ComponentSchema>;
export type SystemConfig = v.InferOutput<typeof ConfigSchema>;
export const COMPONENT_KEYS = Object.keys(componentEntries);
export const TOP_KEYS = ['$schema', 'components', 'stages', 'http', 'isolation', 'cluster', 'profiles', 'data'];
