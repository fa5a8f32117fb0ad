import { BootError, GraphError, Kernel, type BootReport } from '../../bootstrap/index.js';
import type { LoadedSystem } from '../../config/index.js';
import { parseDuration } from '../../util/duration.js';
import type { DataFolderClaim } from '../data-folder.js';
import { UsageError } from '../errors.js';
import type { HealthServer } from '../health.js';
import type { Invocation, Values } from '../invocation.js';
import type { LogBook } from '../operator-service.js';
import { EventPrinter, type LogFormat } from '../printer.js';
import { writeReport } from '../report-file.js';
import { claimData, load } from '../system-load.js';
import { UpSignals } from '../up-signals.js';

/** `symphony up`: boot the system and run it until a signal (or, with --once, until it is ready). */
export async function run({ values }: Invocation): Promise<number> {
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

async function upClaimed(values: Values, system: LoadedSystem, claim: DataFolderClaim, log: LogFormat): Promise<number> {
  // http.listen's form is checked with the config; whether it can be listened on, when it is.
  const { dashboardSettings, ListenError, serveHealth } = await import('../health.js');
  const { kernelOptions } = await import('../../system/index.js');
  let k: Kernel;
  try {
    k = new Kernel(kernelOptions(system, values.until !== undefined ? { until: values.until } : {}));
  } catch (err) {
    if (err instanceof GraphError || err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
  const printer = new EventPrinter(process.stdout, log === 'plain' ? 'plain' : log);
  printer.attach(k);
  const { LogBook } = await import('../operator-service.js');
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
  const operator = await serveConsoleOnceListening(k, values, system, claim, logBook, health);
  const signals = new UpSignals(k, health, http?.drain !== undefined ? parseDuration(http.drain)! : 0);
  signals.listen();

  let bootReport: BootReport;
  try {
    bootReport = await k.start({ signal: signals.interrupt.signal });
  } catch (err) {
    operator.stop();
    if (!(err instanceof BootError)) throw err;
    await writeReport(values.report, withHttp(err.report));
    printer.summary(err.report);
    await health?.stop();
    return signals.signalled ? signals.code : 1;
  }
  await writeReport(values.report, withHttp(bootReport));
  printer.summary(bootReport);
  // Its own line, carrying no token: the page asks for the token before any action.
  if (health?.dashboardUrl) say(log, 'dashboard', health.dashboardUrl, `symphony: dashboard ${health.dashboardUrl}`);
  if (values.once || signals.signalled) {
    operator.stop();
    try {
      await signals.drained;
      await k.stop(values.once ? 'up --once' : `${signals.signalled} received`);
    } catch (err) {
      process.stderr.write(`symphony: ${(err as Error).message}\n`);
      return 1;
    }
    printer.finish();
    await health?.stop();
    return 0;
  }
  return serveUntilStopped(k, values, claim, printer, health, operator, signals, withHttp(bootReport));
}

/** Serves until a signal or an escalation stops the kernel; the boot report gains how the system ended. */
async function serveUntilStopped(k: Kernel, values: Values, claim: DataFolderClaim, printer: EventPrinter, health: HealthServer | undefined, operator: { stop(): void }, signals: UpSignals, bootReport: BootReport): Promise<number> {
  const keepAlive = setInterval(() => {}, 1 << 30);
  const exit = await k.done;
  operator.stop();
  claim.release();
  clearInterval(keepAlive);
  signals.endDrain();
  const stopErrors: string[] = [];
  await k.stop().catch((err: Error) => {
    stopErrors.push(err.message);
    process.stderr.write(`symphony: ${err.message}\n`);
  });
  await health?.stop();
  printer.finish();
  if (exit.code !== 0) process.stderr.write(`symphony: stopped: ${exit.reason}\n`);
  // Its component states stay those of the boot.
  await writeReport(values.report, { ...bootReport, shutdown: { reason: exit.reason, code: exit.code, atMs: Math.round(k.now() * 1000) / 1000, errors: stopErrors } });
  return exit.code;
}

/**
 * The operator's console: its methods on the bus, and where to reach it in the data folder, from
 * the moment the bus listens (so `symphony ps` shows a slow boot as it goes), not at the end of the boot.
 */
async function serveConsoleOnceListening(k: Kernel, values: Values, system: LoadedSystem, claim: DataFolderClaim, logs: LogBook, health: HealthServer | undefined): Promise<{ stop(): void }> {
  const operator = { stop: () => {} };
  const { Bus } = await import('../../bus/index.js');
  const { serveOperator } = await import('../operator-service.js');
  const serveConsole = () => {
    try {
      const bus = k.get(system.busName!);
      if (bus instanceof Bus && bus.socketPath) {
        operator.stop = serveOperator({ kernel: k, bus, components: system.components, logs });
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
  return operator;
}

/** A line of `up` about where it serves: as it reads, or with --log json as one JSON object (stdout stays JSON lines). */
function say(log: LogFormat, type: 'http' | 'dashboard', url: string, line: string): void {
  process.stdout.write(log === 'json' ? `${JSON.stringify({ type, url, message: line })}\n` : `${line}\n`);
}
