#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BootError, GraphError, Kernel, type BootReport } from '../bootstrap/index.js';
import type { LoadedSystem } from '../config/index.js';
import type { HealthServer } from './health.js';
import { EventPrinter, type LogFormat } from './printer.js';
import { formatMs, parseDuration } from '../util/duration.js';

const HELP = `symphony — boot and run a Symphony system

Usage:
  symphony up [-c FILE] [--profile P] [--until NAME] [--once] [--report FILE] [--log pretty|plain|json]
  symphony check [-c FILE] [--profile P]      (also: each extension's asks against its grant)
  symphony grant EXTENSION_FOLDER ...         (prints a grant for what a manifest asks, pinned to it)
  symphony graph [-c FILE] [--profile P] [--format mermaid|dot|json]
  symphony report FILE.json [-o OUT.html]
  symphony run MELODY.yaml [-c FILE] [--profile P] [-i NAME=VALUE ...] [--json] [--report FILE]

Without -c, ./symphony.yaml (or .yml, .toml) is used if present, else the built-in default system.
Exit codes: 0 ok; 1 boot failed or a stop failed; 2 bad config or usage; 130/143 interrupted by SIGINT/SIGTERM.`;

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A usage or config problem: printed, exit 2. */
class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${JSON.parse(readFileSync(resolve(packageRoot, 'package.json'), 'utf8')).version}\n`);
    return 0;
  }
  const { values, positionals } = parse(rest);
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
    default:
      throw new UsageError(`unknown command '${command}'\n\n${HELP}`);
  }
}

type Values = ReturnType<typeof parse>['values'];

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        profile: { type: 'string' },
        until: { type: 'string' },
        once: { type: 'boolean' },
        report: { type: 'string' },
        log: { type: 'string' },
        format: { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
        input: { type: 'string', short: 'i', multiple: true },
        json: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${HELP}`);
  }
}

/** The config file to use: -c, else ./symphony.{yaml,yml,toml}, else undefined (the embedded default system). */
function configFile(values: Values): string | undefined {
  if (values.config !== undefined) return resolve(values.config);
  for (const name of ['symphony.yaml', 'symphony.yml', 'symphony.toml']) if (existsSync(name)) return resolve(name);
  return undefined;
}

async function load(values: Values, checkModules = false): Promise<LoadedSystem> {
  const { loadSystem, loadSystemText, loadSystemValue, ConfigError, formatDiagnostic } = await import('../config/index.js');
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
  // http.listen's form is checked with the config; whether it can be listened on, when it is.
  const { ListenError, serveHealth } = await import('./health.js');
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
  let health: HealthServer | undefined;
  if (system.http) {
    const optional = new Set(Object.entries(system.components).filter(([, c]) => c.optional).map(([n]) => n));
    try {
      health = await serveHealth(k, { listen: system.http.listen, hosts: system.http.hosts ?? [], optional, ...(system.busName !== undefined ? { busName: system.busName } : {}) });
    } catch (err) {
      if (err instanceof ListenError) throw new UsageError(`${system.file}: ${err.message}`);
      throw err;
    }
    process.stdout.write(`symphony: health endpoints on ${health.url} (/livez /readyz /status)\n`);
  }
  const withHttp = (r: BootReport): BootReport => (health ? { ...r, http: health.url } : r);

  // First signal: an orderly stop (a boot under way is rolled back). Second: exit at once.
  // With http.drain, SIGTERM (what Kubernetes sends) first drains a running system: /readyz answers
  // 503, so load balancers stop sending traffic, while everything, the listener included, keeps
  // serving. Ctrl-C (SIGINT) does not wait.
  const drainMs = system.http?.drain !== undefined ? parseDuration(system.http.drain)! : 0;
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
    if (!(err instanceof BootError)) throw err;
    await writeReport(values.report, withHttp(err.report));
    printer.summary(err.report);
    await health?.close();
    return signalled ? (signalled === 'SIGINT' ? 130 : 143) : 1;
  }
  await writeReport(values.report, withHttp(bootReport));
  printer.summary(bootReport);

  if (values.once || signalled) {
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
    process.stderr.write(`symphony: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
