#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BootError, GraphError, Kernel, suggest, type BootReport } from '../bootstrap/index.js';
import type { LoadedSystem } from '../config/index.js';
import type { HealthServer } from './health.js';
import { EventPrinter, type LogFormat } from './printer.js';
import { formatMs, parseDuration } from '../util/duration.js';
import { claimDataFolder, configuredData, dataFolder, DataFolderInUse, type DataFolderClaim } from './data-folder.js';

const HELP = `symphony — boot, run and operate a Symphony system

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

/** Each command's options (parseArgs, strict: an option another command takes is refused here) and help. */
const COMMANDS: Record<string, { options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>; help: string }> = {
  up: {
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
    options: { config: { type: 'string', short: 'c' }, profile: { type: 'string' } },
    help: `symphony check [-c FILE] [--profile P]

Validates the config, its modules and the graph, every extension manifest the Orchestra would
load and the operator's grants; starts nothing. Every problem is printed, one per line, as
FILE:LINE:COL: message.
Exit: 0 ok; 2 problems found.`,
  },
  grant: { options: {}, help: `symphony grant EXTENSION_FOLDER ...

Prints, for each extension found, a grant for exactly what its manifest asks, pinned to that
manifest (paste it under the orchestra's with: grants: after reviewing each right).
Exit: 0; 2 no extension or a bad manifest.` },
  graph: {
    options: { config: { type: 'string', short: 'c' }, profile: { type: 'string' }, format: { type: 'string' } },
    help: `symphony graph [-c FILE] [--profile P] [--format mermaid|dot|json]

Prints the boot plan: stages, edges, late edges dashed. Exit: 0; 2 bad config.`,
  },
  report: { options: { output: { type: 'string', short: 'o' } }, help: `symphony report FILE.json [-o OUT.html]

Renders a boot report as a timeline page (waterfall, critical path). Exit: 0; 2 not a boot report.` },
  run: {
    options: { config: { type: 'string', short: 'c' }, profile: { type: 'string' }, input: { type: 'string', short: 'i', multiple: true }, json: { type: 'boolean' }, report: { type: 'string' }, data: { type: 'string' } },
    help: `symphony run MELODY.yaml [-c FILE] [--profile P] [-i NAME=VALUE ...] [--json] [--report FILE] [--data DIR]

Boots the system, runs one melody through the Conductor, prints its result, stops.
It takes the data folder like up does: with a system already running on it, use
symphony call melody.run '{"file": "MELODY.yaml"}' instead, or --data DIR.
Exit: 0 succeeded; 1 the melody failed or the data folder is in use; 2 bad input.`,
  },
  init: { options: {}, help: `symphony init [DIR]

Scaffolds a new system in DIR (default: the current folder, which must be empty): symphony.yaml,
a component, an isolated extension with its grant, a melody and a README. It boots as it is:
cd DIR && symphony up.
Exit: 0; 2 DIR is not empty (nothing is written).` },
  ps: {
    options: { config: { type: 'string', short: 'c' }, data: { type: 'string' }, socket: { type: 'string' }, json: { type: 'boolean' } },
    help: `symphony ps [-c FILE | --data DIR | --socket PATH] [--json]

Every component and extension of the running system: name, kind, state, health, pid (own
process), restarts, uptime, memory, isolation.
${WHERE}
Exit: 0; 3 no running system found (says where it looked).`,
  },
  call: {
    options: { config: { type: 'string', short: 'c' }, data: { type: 'string' }, socket: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' } },
    help: `symphony call METHOD [PARAMS_JSON] [--timeout 30s] [--json] [-c FILE | --data DIR | --socket PATH]

One bus request as the operator; prints the result as JSON (indented; one line with --json).
  symphony call orchestra.status
  symphony call text.stats '{"text": "one two"}'
${WHERE}
Exit: 0 ok; 1 the call failed (the bus error's code and message); 3 no running system.`,
  },
  restart: {
    options: { config: { type: 'string', short: 'c' }, data: { type: 'string' }, socket: { type: 'string' } },
    help: `symphony restart NAME [-c FILE | --data DIR | --socket PATH]

Restarts a component or an extension, also one supervision gave up on (quarantined or failed).
${WHERE}
Exit: 0 restarted; 1 it did not come back, or no such name (the names it knows are listed); 3 no running system.`,
  },
  logs: {
    options: { config: { type: 'string', short: 'c' }, data: { type: 'string' }, socket: { type: 'string' }, follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' }, json: { type: 'boolean' } },
    help: `symphony logs [NAME] [-f] [-n LINES] [--json] [-c FILE | --data DIR | --socket PATH]

The running system's recent log lines (all, or those of one component or extension; default
the last 200), then with -f each new one until the system stops or Ctrl-C.
${WHERE}
Exit: 0; 1 no such name; 3 no running system.`,
  },
};

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A usage or config problem: printed, exit 2. */
class UsageError extends Error {}

/** The data folder is another system's: printed, exit 1 (nothing was started). */
class FolderInUse extends Error {}

/** The Node lines Symphony is built and tested on (package.json's engines says the same). */
const NODE_LINES = [20, 22, 24];

/** Refuses a Node older than 20.10 (exit 2, before anything starts); warns on a line it is not tested on. */
function checkNode(): void {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 10)) throw new UsageError(`symphony needs Node ${NODE_LINES.join(', ')} (20.10 or newer); this is Node ${process.versions.node}: install a current Node (see docs/install.md)`);
  if (!NODE_LINES.includes(major)) process.stderr.write(`symphony: Node ${process.versions.node} is not a line Symphony is tested on (${NODE_LINES.join(', ')}); carrying on\n`);
}

async function main(argv: string[]): Promise<number> {
  checkNode();
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    process.stdout.write(`${topic && COMMANDS[topic] ? COMMANDS[topic]!.help : HELP}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${JSON.parse(readFileSync(resolve(packageRoot, 'package.json'), 'utf8')).version}\n`);
    return 0;
  }
  const spec = COMMANDS[command];
  if (!spec) {
    const hint = command.startsWith('-') ? `: options come after a command (symphony COMMAND ${command})` : suggest(command, Object.keys(COMMANDS));
    throw new UsageError(`symphony: unknown command '${command}'${hint}; symphony --help lists the commands`);
  }
  // --help anywhere in its arguments: that command's help, and nothing else happens.
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${spec.help}\n`);
    return 0;
  }
  const { values, positionals } = parse(command, rest);
  switch (command) {
    case 'up':
      return up(values);
    case 'check':
      return check(values);
    case 'grant':
      return grant(positionals);
    case 'graph':
      return graph(values);
    case 'report':
      return report(values, positionals);
    case 'run':
      return runMelody(values, positionals);
    case 'init':
      return init(positionals);
    default:
      return operate(command, values, positionals);
  }
}

interface Values {
  config?: string;
  profile?: string;
  until?: string;
  once?: boolean;
  report?: string;
  log?: string;
  format?: string;
  output?: string;
  input?: string[];
  json?: boolean;
  data?: string;
  socket?: string;
  timeout?: string;
  follow?: boolean;
  lines?: string;
}

function parse(command: string, args: string[]): { values: Values; positionals: string[] } {
  const spec = COMMANDS[command]!;
  try {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: spec.options });
    return { values: values as Values, positionals };
  } catch (err) {
    // parseArgs says "Unknown option '--jsn'": name the near miss among this command's options.
    const e = err as Error & { code?: string };
    const bad = /option '(-{1,2}[^']+)'/.exec(e.message)?.[1];
    const names = Object.entries(spec.options).flatMap(([long, o]) => [`--${long}`, ...(o.short ? [`-${o.short}`] : [])]);
    const hint = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && bad ? `${suggest(bad.split('=')[0]!, names)}; it takes ${names.length ? names.join(', ') : 'no options'} (symphony ${command} --help)` : ` (symphony ${command} --help)`;
    throw new UsageError(`symphony ${command}: ${e.message.split('\n')[0]!.replace(/\.\s.*$/, '')}${hint}`);
  }
}

/** ps, call, restart, logs: against the running system; exit 3 when there is none. */
async function operate(command: string, values: Values, positionals: string[]): Promise<number> {
  const console = await import('./console.js');
  const file = values.socket === undefined && values.data === undefined ? configFile(values) : undefined;
  // A config naming its data folder (data:) is found there; one that does not load is looked for beside it.
  const configured = file === undefined ? undefined : await import('../config/index.js').then(({ loadSystem }) => loadSystem(file).then((s) => configuredData(s.source), () => undefined));
  const where = { socket: values.socket, data: values.data, configFile: file, configured };
  const limits: Record<string, number> = { ps: 0, call: 2, restart: 1, logs: 1 };
  if (positionals.length > limits[command]!) throw new UsageError(`symphony ${command}: unexpected argument '${positionals[limits[command]!]}'\n\n${COMMANDS[command]!.help}`);
  try {
    switch (command) {
      case 'ps':
        await console.ps(where, { json: values.json }, process.stdout);
        return 0;
      case 'call': {
        const method = positionals[0];
        if (!method) throw new UsageError(`symphony call needs a method: symphony call METHOD [PARAMS_JSON]\n\n${COMMANDS.call!.help}`);
        if (values.timeout !== undefined && parseDuration(values.timeout) === undefined) throw new UsageError(`--timeout must be a duration such as 500ms, 5s or 2m (got '${values.timeout}')`);
        await console.call(where, method, positionals[1], { timeout: values.timeout, json: values.json }, process.stdout);
        return 0;
      }
      case 'restart': {
        const name = positionals[0];
        if (!name) throw new UsageError(`symphony restart needs a name: symphony restart NAME (symphony ps lists them)`);
        await console.restart(where, name, process.stdout);
        return 0;
      }
      default: {
        const lines = values.lines === undefined ? undefined : Number(values.lines);
        if (lines !== undefined && (!Number.isInteger(lines) || lines < 1)) throw new UsageError(`-n must be a whole number of lines (got '${values.lines}')`);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const how = await console.logs(where, positionals[0], { follow: values.follow, lines, json: values.json }, process.stdout, stop.signal);
        if (how === 'stopped') process.stderr.write('symphony logs: the system stopped\n');
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof console.NoSystemError) {
      process.stderr.write(`symphony ${command}: ${err.message}\n`);
      return 3;
    }
    if (err instanceof console.CallFailed) {
      if (command === 'call' && values.json) process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message, ...(err.data !== undefined ? { data: err.data } : {}) } })}\n`);
      process.stderr.write(`symphony ${command}: error ${err.code}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** The config file to use: -c, else ./symphony.{yaml,yml,toml}, else undefined (the embedded default system). */
function configFile(values: Values): string | undefined {
  if (values.config !== undefined) return resolve(values.config);
  for (const name of ['symphony.yaml', 'symphony.yml', 'symphony.toml']) if (existsSync(name)) return resolve(name);
  return undefined;
}

async function load(values: Values, checkModules = false): Promise<LoadedSystem> {
  const { loadSystem, loadSystemText, loadSystemValue, ConfigError, formatDiagnostic } = await import('../system/index.js');
  try {
    const file = configFile(values);
    const options = { profile: values.profile, checkModules };
    const builtin = resolve(packageRoot, 'examples', 'symphony.yaml');
    // check parses the embedded default's text, so its findings have positions; a boot takes the value.
    const system = file
      ? await loadSystem(file, options)
      : checkModules
        ? await loadSystemText(builtin, (await import('./default-system.js')).DEFAULT_SYSTEM, options)
        : await loadSystemValue(builtin, (await import('./default-system.js')).DEFAULT_SYSTEM_VALUE, options);
    for (const w of system.warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
    // The Pit keeps its state in the system's data folder unless its config says where.
    const data = dataFolder({ data: values.data, configFile: file, configured: configuredData(system.source) });
    for (const c of Object.values(system.components)) {
      if (c.use === 'builtin:pit' && (c.with as { dataDir?: unknown } | undefined)?.dataDir === undefined) c.with = { ...((c.with as object | undefined) ?? {}), dataDir: resolve(data, 'pit') };
    }
    return system;
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.diagnostics.map((d) => formatDiagnostic(d)).join('\n'));
    throw err;
  }
}

async function check(values: Values): Promise<number> {
  const system = await load(values, true);
  const n = Object.keys(system.components).length;
  process.stdout.write(`${system.file}: ok (${n} component${n === 1 ? '' : 's'}${system.profile ? `, profile ${system.profile}` : ''})\n`);
  // The extensions each Orchestra would load: asked against granted, and every problem at once.
  const { checkExtensions } = await import('./grants-report.js');
  const { formatDiagnostic } = await import('../config/index.js');
  const found = await checkExtensions(system, process.stdout);
  for (const d of found) process.stderr.write(`${formatDiagnostic(d)}\n`);
  const errors = found.filter((d) => d.severity === 'error').length;
  if (errors) process.stderr.write(`symphony check: ${errors} problem${errors === 1 ? '' : 's'} with extensions or their grants\n`);
  return errors ? 2 : 0;
}

/** `symphony grant DIR…`: the grant (YAML, for the orchestra's with.grants) of each extension found, pinned to its manifest. */
async function grant(positionals: string[]): Promise<number> {
  if (!positionals.length) throw new UsageError('symphony grant needs an extension folder (or a folder of them): symphony grant ./extensions/text-stats');
  const { discover, grantYaml } = await import('../orchestra/index.js');
  const { found, problems } = await discover(positionals.map((p) => resolve(p)));
  if (problems.length) throw new UsageError(problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join('\n'));
  if (!found.length) throw new UsageError(`no extension (a package.json with a symphony field) in ${positionals.join(', ')}`);
  process.stdout.write(`# Paste under the orchestra's with: grants: — review each right first: these are what the manifests ask.\n${found.map((m) => grantYaml(m)).join('\n')}\n`);
  return 0;
}

async function graph(values: Values): Promise<number> {
  const format = (values.format ?? 'mermaid') as 'mermaid' | 'dot' | 'json';
  if (!['mermaid', 'dot', 'json'].includes(format)) throw new UsageError(`--format must be mermaid, dot or json (got '${values.format}')`);
  const system = await load(values);
  const { kernelOptions } = await import('../system/index.js');
  const { renderGraph } = await import('./graph.js');
  const k = new Kernel(kernelOptions(system));
  process.stdout.write(`${renderGraph(k.plan, system.components, format)}\n`);
  return 0;
}

async function report(values: Values, positionals: string[]): Promise<number> {
  const file = positionals[0];
  if (!file) throw new UsageError('symphony report needs a report file: symphony report FILE.json [-o OUT.html]');
  let data: BootReport;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as BootReport;
  } catch (err) {
    throw new UsageError(`${file}: cannot read a boot report: ${(err as Error).message}`);
  }
  const { renderReportHtml, reportProblem } = await import('./report-html.js');
  const problem = reportProblem(data);
  if (problem) throw new UsageError(`${file}: not a boot report: ${problem.replace(/^not a boot report: /, '')}`);
  const out = values.output ?? file.replace(/\.json$/i, '') + '.html';
  try {
    await writeFile(out, renderReportHtml(data, `Symphony boot report — ${file}`));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${out}: cannot write the HTML report: ${e.code === 'ENOENT' ? 'no such directory' : e.code === 'EISDIR' ? 'is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message}${e.code ? ` (${e.code})` : ''}`);
  }
  process.stdout.write(`${out}\n`);
  return 0;
}

async function up(values: Values): Promise<number> {
  const log = (values.log ?? (process.stdout.isTTY ? 'pretty' : 'plain')) as LogFormat;
  if (!['pretty', 'plain', 'json'].includes(log)) throw new UsageError(`--log must be pretty, plain or json (got '${values.log}')`);
  const system = await load(values);
  const claim = await claimData(values, system);
  try {
    return await upClaimed(values, system, claim, log);
  } finally {
    claim.release();
  }
}

/** Takes the system's data folder (one system per folder); in use: exit 1 at once, saying by whom and what to do. */
async function claimData(values: Values, system: LoadedSystem): Promise<DataFolderClaim> {
  const data = dataFolder({ data: values.data, configFile: configFile(values), configured: configuredData(system.source) });
  try {
    const claim = await claimDataFolder(data, { config: configFile(values) ?? 'builtin:default', version: JSON.parse(readFileSync(resolve(packageRoot, 'package.json'), 'utf8')).version });
    // A second signal exits at once: the folder is still given back.
    process.once('exit', () => claim.release());
    return claim;
  } catch (err) {
    if (err instanceof DataFolderInUse) throw new FolderInUse(`symphony: ${err.message}`);
    throw new FolderInUse(`symphony: cannot use the data folder ${data} for ${system.file}: ${(err as Error).message}`);
  }
}

async function upClaimed(values: Values, system: LoadedSystem, claim: DataFolderClaim, log: LogFormat): Promise<number> {
  // http.listen's form is checked with the config; whether it can be listened on, when it is.
  const { dashboardSettings, ListenError, serveHealth } = await import('./health.js');
  const { kernelOptions } = await import('../system/index.js');
  let k: Kernel;
  try {
    k = new Kernel(kernelOptions(system, values.until !== undefined ? { until: values.until } : {}));
  } catch (err) {
    if (err instanceof GraphError || err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
  const printer = new EventPrinter(process.stdout, log === 'plain' ? 'plain' : log);
  printer.attach(k);
  const { LogBook, serveOperator } = await import('./operator-service.js');
  const logBook = new LogBook();
  logBook.attach(k);
  let health: HealthServer | undefined;
  // The listener (probes and dashboard) is on by default, on loopback; `http: false` turns it off.
  const http = system.http === false ? undefined : (system.http ?? { listen: '127.0.0.1:0' });
  if (http) {
    const optional = new Set(Object.entries(system.components).filter(([, c]) => c.optional).map(([n]) => n));
    try {
      health = await serveHealth(k, { listen: http.listen, hosts: http.hosts ?? [], optional, ...(system.busName !== undefined ? { busName: system.busName } : {}), dashboard: dashboardSettings(system.components, system.file) });
    } catch (err) {
      if (err instanceof ListenError) throw new UsageError(`${system.file}: ${err.message}`);
      throw err;
    }
    say(log, 'http', health.url, `symphony: health endpoints on ${health.url} (/livez /readyz /status)`);
  }
  const withHttp = (r: BootReport): BootReport => (health ? { ...r, http: health.url } : r);

  // The operator's console: its methods on the bus, and where to reach it in the data folder, from
  // the moment the bus listens (so `symphony ps` shows a slow boot as it goes), not at the end of the boot.
  let stopServing = () => {};
  const { Bus } = await import('../bus/index.js');
  const serveConsole = () => {
    try {
      const bus = k.get(system.busName!);
      if (bus instanceof Bus && bus.socketPath) {
        stopServing = serveOperator({ kernel: k, bus, components: system.components, logs: logBook });
        claim.update({ state: 'running', socket: bus.socketPath, http: health?.url ?? null });
        return true;
      }
    } catch (err) {
      process.stderr.write(`symphony: the console is not available: ${(err as Error).message}\n`);
    }
    return false;
  };
  if (!values.once && system.busName) {
    const off = k.on('component', (e) => {
      if (e.type === 'component' && e.component === system.busName && e.state === 'ready') {
        off();
        serveConsole();
      }
    });
  }

  // First signal: an orderly stop (a boot under way is rolled back). Second: exit at once.
  // With http.drain, SIGTERM (what Kubernetes sends) first drains a running system: /readyz answers
  // 503, so load balancers stop sending traffic, while everything, the listener included, keeps
  // serving. Ctrl-C (SIGINT) does not wait.
  const drainMs = http?.drain !== undefined ? parseDuration(http.drain)! : 0;
  let drained: Promise<void> = Promise.resolve();
  let drainTimer: NodeJS.Timeout | undefined;
  const interrupt = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    const code = sig === 'SIGINT' ? 130 : 143;
    if (signalled) {
      process.stderr.write(`symphony: second ${sig}, exiting now\n`);
      process.exit(code);
    }
    signalled = sig;
    health?.drain(`${sig} received`);
    if (k.phase === 'booting') {
      process.stderr.write(`symphony: ${sig} received, stopping (send it again to exit at once)\n`);
      interrupt.abort({ signal: sig });
    } else if (sig === 'SIGTERM' && drainMs > 0 && health && k.phase === 'running') {
      process.stderr.write(`symphony: ${sig} received, draining for ${formatMs(drainMs)} (/readyz answers 503), then stopping (send it again to exit at once)\n`);
      drained = new Promise((r) => (drainTimer = setTimeout(r, drainMs)));
      void drained.then(() => k.stop(`${sig} received`)).catch(() => {});
    } else {
      process.stderr.write(`symphony: ${sig} received, stopping (send it again to exit at once)\n`);
      void k.stop(`${sig} received`).catch(() => {});
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Started by another program (python3 -m symphony_conductor up): stop if it dies without a word.
  if (process.env.SYMPHONY_EXIT_WITH_PARENT === '1') {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent && !signalled) onSignal('SIGTERM');
    }, 250).unref();
  }

  let bootReport: BootReport;
  try {
    bootReport = await k.start({ signal: interrupt.signal });
  } catch (err) {
    stopServing();
    if (!(err instanceof BootError)) throw err;
    await writeReport(values.report, withHttp(err.report));
    printer.summary(err.report);
    await health?.close();
    return signalled ? (signalled === 'SIGINT' ? 130 : 143) : 1;
  }
  await writeReport(values.report, withHttp(bootReport));
  printer.summary(bootReport);
  // Its own line, carrying no token: the page asks for the token before any action.
  if (health?.dashboardUrl) say(log, 'dashboard', health.dashboardUrl, `symphony: dashboard ${health.dashboardUrl}`);
  if (values.once || signalled) {
    stopServing();
    try {
      await drained;
      await k.stop(values.once ? 'up --once' : `${signalled} received`);
    } catch (err) {
      process.stderr.write(`symphony: ${(err as Error).message}\n`);
      return 1;
    }
    printer.finish();
    await health?.close();
    return 0;
  }
  // Serve until a signal or an escalation stops the kernel.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const exit = await k.done;
  stopServing();
  claim.release();
  clearInterval(keepAlive);
  clearTimeout(drainTimer); // stopped during the drain (an escalation): nothing left to wait for
  const stopErrors: string[] = [];
  await k.stop().catch((err: Error) => {
    stopErrors.push(err.message);
    process.stderr.write(`symphony: ${err.message}\n`);
  });
  await health?.close();
  printer.finish();
  if (exit.code !== 0) process.stderr.write(`symphony: stopped: ${exit.reason}\n`);
  // The boot report gains how the system ended (its component states stay those of the boot).
  await writeReport(values.report, { ...withHttp(bootReport), shutdown: { reason: exit.reason, code: exit.code, atMs: Math.round(k.now() * 1000) / 1000, errors: stopErrors } });
  return exit.code;
}

/** A line of `up` about where it serves: as it reads, or with --log json as one JSON object (stdout stays JSON lines). */
function say(log: LogFormat, type: 'http' | 'dashboard', url: string, line: string): void {
  process.stdout.write(log === 'json' ? `${JSON.stringify({ type, url, message: line })}\n` : `${line}\n`);
}

/** `symphony run`: boot quietly, run one melody through the Conductor, print its result, stop. */
async function runMelody(values: Values, positionals: string[]): Promise<number> {
  const file = positionals[0];
  if (!file) throw new UsageError('symphony run needs a melody file: symphony run MELODY.yaml [-c FILE] [-i NAME=VALUE ...]');
  if (!existsSync(file)) throw new UsageError(`${file}: no such melody file`);
  // Each VALUE as the melody declares its input: a string input takes the text as it is (`-i id=123`
  // is the string '123'); other inputs parse it as JSON (numbers, booleans, lists; anything else
  // stays a string). A melody that does not read gets its error from melody.run below.
  let declared: Record<string, { type: string }> = {};
  if (values.input?.length) {
    const { readMelody } = await import('../conductor/index.js');
    declared = await readMelody(file).then(
      (m) => m.inputs,
      () => ({}),
    );
  }
  const inputs: Record<string, unknown> = {};
  for (const kv of values.input ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--input must be NAME=VALUE (got '${kv}')`);
    const name = kv.slice(0, eq);
    const raw = kv.slice(eq + 1);
    let value: unknown = raw;
    if (!Object.hasOwn(declared, name) || declared[name]!.type !== 'string') {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
    }
    inputs[name] = value;
  }
  const system = await load(values);
  const claim = await claimData(values, system).catch((err: unknown) => {
    if (err instanceof FolderInUse) err.message += `\n  A melody can run on that system: symphony call melody.run '${JSON.stringify({ file: resolve(file) })}'`;
    throw err;
  });
  try {
    return await runClaimed(values, system, file, inputs);
  } finally {
    claim.release();
  }
}

async function runClaimed(values: Values, system: LoadedSystem, file: string, inputs: Record<string, unknown>): Promise<number> {
  const { kernelOptions } = await import('../system/index.js');
  const k = new Kernel(kernelOptions(system));
  // First signal: cancel the melody (or the boot) and stop in order; second: exit at once.
  const interrupt = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) {
      process.stderr.write(`symphony run: second ${sig}, exiting now\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    signalled = sig;
    process.stderr.write(`symphony run: ${sig} received: cancelling the melody and stopping (send it again to exit at once)\n`);
    interrupt.abort({ signal: sig });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let bootReport: BootReport;
  try {
    bootReport = await k.start({ signal: interrupt.signal });
  } catch (err) {
    if (err instanceof BootError) {
      await writeReport(values.report, err.report);
      process.stderr.write(`symphony run: the system did not boot: ${err.report.failure?.message ?? err.message}\n`);
      return signalled ? (signalled === 'SIGINT' ? 130 : 143) : 1;
    }
    throw err;
  }
  try {
    const bus = k.get(system.busName ?? 'bus') as { request(method: string, params: unknown, options?: { timeout?: string; signal?: AbortSignal }): Promise<unknown> };
    let result: { state: string; outputs: unknown; reason: string; steps: Record<string, { state: string; attempts: number; note?: string; error?: string }>; decisions: unknown[]; run: string; durationMs: number; artifact: unknown };
    try {
      result = (await bus.request('melody.run', { file: resolve(file), inputs }, { timeout: '30m', signal: interrupt.signal })) as typeof result;
    } catch (err) {
      const e = err as { code?: number; message: string };
      if (signalled) {
        process.stderr.write(`symphony run: the melody was cancelled by ${signalled}\n`);
        await writeReport(values.report, { ...bootReport, melody: { state: 'cancelled', reason: `interrupted by ${signalled}` } });
        return signalled === 'SIGINT' ? 130 : 143;
      }
      if (e.code === -32602 || e.code === -32601) {
        process.stderr.write(`${e.message}\n`);
        return 2;
      }
      throw err;
    }
    await writeReport(values.report, { ...bootReport, melody: { run: result.run, state: result.state, reason: result.reason, outputs: result.outputs } });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      process.stdout.write(`melody run ${result.run}: ${result.state} in ${result.durationMs}ms${result.state === 'succeeded' ? '' : ` (${result.reason})`}\n`);
      for (const [id, st] of Object.entries(result.steps)) process.stdout.write(`  ${id.padEnd(14)} ${st.state}${st.attempts > 1 ? ` after ${st.attempts} attempts` : ''}${st.note ? ` — ${st.note}` : ''}${st.error && st.state !== 'succeeded' ? ` — ${st.error}` : ''}\n`);
      process.stdout.write(`outputs: ${JSON.stringify(result.outputs, null, 2)}\n`);
    }
    return result.state === 'succeeded' ? 0 : 1;
  } finally {
    await k.stop().catch(() => {});
  }
}

/** `symphony init [DIR]`: a new system folder from the scaffold; refused (nothing written) unless DIR is empty. */
async function init(positionals: string[]): Promise<number> {
  const { scaffold, FolderNotEmpty } = await import('./init.js');
  const dir = resolve(positionals[0] ?? '.');
  try {
    const written = await scaffold(dir);
    process.stdout.write(`${written.map((f) => `  ${f}`).join('\n')}\nsymphony init: a new system in ${dir}; boot it with: cd ${positionals[0] ?? '.'} && symphony up\n`);
    return 0;
  } catch (err) {
    if (err instanceof FolderNotEmpty) throw new UsageError(`symphony init: ${err.message}`);
    throw err;
  }
}

async function writeReport(file: string | undefined, data: BootReport | Record<string, unknown>): Promise<void> {
  if (!file) return;
  await mkdir(dirname(resolve(file)), { recursive: true });
  // Written beside it and renamed into place: whoever watches the file never reads half a report.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`);
  await rename(tmp, file);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof FolderInUse) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`symphony: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
