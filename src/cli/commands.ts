/**
 * The symphony command's commands: each one's options (parseArgs, strict: an option another command
 * takes is refused there), its help, and the module that runs it (loaded only when it runs, so
 * `--help` and a usage error import nothing of the system).
 */
import type { Invocation } from './invocation.js';

export interface CommandSpec {
  options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
  help: string;
  load: () => Promise<{ run: (cli: Invocation) => Promise<number> }>;
}

export const HELP = `symphony — boot, run and operate a Symphony system

Usage:
  symphony up [-c FILE] [--profile P] [--until NAME] [--once] [--report FILE] [--log pretty|plain|json] [--data DIR]
  symphony check [-c FILE] [--profile P]      (also every extension's manifest and its grant)
  symphony grant EXTENSION_FOLDER ...         (prints a grant for what a manifest asks, pinned to it)
  symphony graph [-c FILE] [--profile P] [--format mermaid|dot|json]
  symphony report FILE.json [-o OUT.html]
  symphony run MELODY.yaml [-c FILE] [--profile P] [-i NAME=VALUE ...] [--json] [--report FILE] [--data DIR]
  symphony init [DIR]                         (a new system folder that boots as it is)
On a running system (found from -c FILE or ./symphony.yaml, --data DIR or --socket PATH):
  symphony ps [--json]
  symphony call METHOD [PARAMS_JSON] [--timeout 5s] [--json]
  symphony restart NAME
  symphony logs [NAME] [-f] [-n LINES] [--json]

symphony COMMAND --help says more about one command.
Without -c, ./symphony.yaml (or .yml, .toml) is used if present, else the built-in default system.
Exit codes: 0 ok; 1 boot, stop or call failed; 2 bad config or usage; 3 no running system found;
130/143 interrupted by SIGINT/SIGTERM.`;

const WHERE = `Finding the running system: --socket PATH, else the data folder (--data DIR, else the config's
data: key, else .symphony/ beside -c FILE or ./symphony.yaml, else ./.symphony for the built-in
default system), whose run.json names the socket; the operator's token is read from
SOCKET.token (mode 0600).`;

export const COMMANDS: Record<string, CommandSpec> = {
  up: {
    load: () => import('./commands/up.js'),
    options: { config: { type: 'string', short: 'c' }, profile: { type: 'string' }, until: { type: 'string' }, once: { type: 'boolean' }, report: { type: 'string' }, log: { type: 'string' }, data: { type: 'string' } },
    help: `symphony up [-c FILE] [--profile P] [--until NAME] [--once] [--report FILE] [--log pretty|plain|json] [--data DIR]

Boots the system and runs it until SIGINT/SIGTERM, then stops everything in reverse order.
  -c FILE         the config (default ./symphony.yaml, .yml or .toml, else the built-in default system)
  --profile P     apply a profile of the config
  --until NAME    boot only NAME and what it needs
  --once          boot, wait until ready, stop gracefully, exit
  --report FILE   write the boot report (JSON) when the boot ends
  --log FORMAT    pretty (live stage view on a TTY), plain (one line per transition) or json
  --data DIR      the data folder (default: the config's data:, else .symphony/ beside the config, or ./.symphony)
One system per data folder: a second up on the same folder fails at once.
Exit: 0 clean stop; 1 boot failed (after rollback), a stop failed, or the data folder is in use;
2 bad config or usage; 130/143 interrupted.`,
  },
  check: {
    load: () => import('./commands/check.js'),
    options: { config: { type: 'string', short: 'c' }, profile: { type: 'string' } },
    help: `symphony check [-c FILE] [--profile P]

Validates the config, its modules and the graph, every extension manifest the Orchestra would
load and the operator's grants; starts nothing. Every problem is printed, one per line, as
FILE:LINE:COL: message.
Exit: 0 ok; 2 problems found.`,
  },
  grant: {
    load: () => import('./commands/grant.js'),
    options: {},
    help: `symphony grant EXTENSION_FOLDER ...

Prints, for each extension found, a grant for exactly what its manifest asks, pinned to that
manifest (paste it under the orchestra's with: grants: after reviewing each right).
Exit: 0; 2 no extension or a bad manifest.`,
  },
  graph: {
    load: () => import('./commands/graph.js'),
    options: { config: { type: 'string', short: 'c' }, profile: { type: 'string' }, format: { type: 'string' } },
    help: `symphony graph [-c FILE] [--profile P] [--format mermaid|dot|json]

Prints the boot plan: stages, edges, late edges dashed. Exit: 0; 2 bad config.`,
  },
  report: {
    load: () => import('./commands/report.js'),
    options: { output: { type: 'string', short: 'o' } },
    help: `symphony report FILE.json [-o OUT.html]

Renders a boot report as a timeline page (waterfall, critical path). Exit: 0; 2 not a boot report.`,
  },
  run: {
    load: () => import('./commands/run.js'),
    options: { config: { type: 'string', short: 'c' }, profile: { type: 'string' }, input: { type: 'string', short: 'i', multiple: true }, json: { type: 'boolean' }, report: { type: 'string' }, data: { type: 'string' } },
    help: `symphony run MELODY.yaml [-c FILE] [--profile P] [-i NAME=VALUE ...] [--json] [--report FILE] [--data DIR]

Boots the system, runs one melody through the Conductor, prints its result, stops.
It takes the data folder like up does: with a system already running on it, use
symphony call melody.run '{"file": "MELODY.yaml"}' instead, or --data DIR.
Exit: 0 succeeded; 1 the melody failed or the data folder is in use; 2 bad input.`,
  },
  init: {
    load: () => import('./commands/init.js'),
    options: {},
    help: `symphony init [DIR]

Scaffolds a new system in DIR (default: the current folder, which must be empty): symphony.yaml,
a component, an isolated extension with its grant, a melody and a README. It boots as it is:
cd DIR && symphony up.
Exit: 0; 2 DIR is not empty (nothing is written).`,
  },
  ps: {
    load: () => import('./commands/operate.js'),
    options: { config: { type: 'string', short: 'c' }, data: { type: 'string' }, socket: { type: 'string' }, json: { type: 'boolean' } },
    help: `symphony ps [-c FILE | --data DIR | --socket PATH] [--json]

Every component and extension of the running system: name, kind, state, health, pid (own
process), restarts, uptime, memory, isolation.
${WHERE}
Exit: 0; 3 no running system found (says where it looked).`,
  },
  call: {
    load: () => import('./commands/operate.js'),
    options: { config: { type: 'string', short: 'c' }, data: { type: 'string' }, socket: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' } },
    help: `symphony call METHOD [PARAMS_JSON] [--timeout 30s] [--json] [-c FILE | --data DIR | --socket PATH]

One bus request as the operator; prints the result as JSON (indented; one line with --json).
  symphony call orchestra.status
  symphony call text.stats '{"text": "one two"}'
${WHERE}
Exit: 0 ok; 1 the call failed (the bus error's code and message); 3 no running system.`,
  },
  restart: {
    load: () => import('./commands/operate.js'),
    options: { config: { type: 'string', short: 'c' }, data: { type: 'string' }, socket: { type: 'string' } },
    help: `symphony restart NAME [-c FILE | --data DIR | --socket PATH]

Restarts a component or an extension, also one supervision gave up on (quarantined or failed).
${WHERE}
Exit: 0 restarted; 1 it did not come back, or no such name (the names it knows are listed); 3 no running system.`,
  },
  logs: {
    load: () => import('./commands/operate.js'),
    options: { config: { type: 'string', short: 'c' }, data: { type: 'string' }, socket: { type: 'string' }, follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' }, json: { type: 'boolean' } },
    help: `symphony logs [NAME] [-f] [-n LINES] [--json] [-c FILE | --data DIR | --socket PATH]

The running system's recent log lines (all, or those of one component or extension; default
the last 200), then with -f each new one until the system stops or Ctrl-C.
${WHERE}
Exit: 0; 1 no such name; 3 no running system.`,
  },
};
