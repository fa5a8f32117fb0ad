import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { BootError, Kernel, type BootReport } from '../../bootstrap/index.js';
import type { BusApi } from '../../bus/index.js';
import type { ConductorMethods, MelodyResult } from '../../conductor/index.js';
import type { LoadedSystem } from '../../config/index.js';
import { FolderInUse, UsageError } from '../errors.js';
import type { Invocation, Values } from '../invocation.js';
import { writeReport } from '../report-file.js';
import { claimData, load } from '../system-load.js';

/** `symphony run`: boot quietly, run one melody through the Conductor, print its result, stop. */
export async function run({ values, positionals }: Invocation): Promise<number> {
  const file = positionals[0];
  if (!file) throw new UsageError('symphony run needs a melody file: symphony run MELODY.yaml [-c FILE] [-i NAME=VALUE ...]');
  if (!existsSync(file)) throw new UsageError(`${file}: no such melody file`);
  const inputs = await melodyInputs(file, values.input ?? []);
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

/**
 * `-i NAME=VALUE`, each VALUE as the melody declares its input: a string input takes the text as it
 * is (`-i id=123` is the string '123'); other inputs parse it as JSON (numbers, booleans, lists;
 * anything else stays a string). A melody that does not read gets its error from melody.run later.
 */
async function melodyInputs(file: string, given: string[]): Promise<Record<string, unknown>> {
  let declared: Record<string, { type: string }> = {};
  if (given.length) {
    const { readMelody } = await import('../../conductor/index.js');
    declared = await readMelody(file).then(
      (m) => m.inputs,
      () => ({}),
    );
  }
  const inputs: Record<string, unknown> = {};
  for (const kv of given) {
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
  return inputs;
}

async function runClaimed(values: Values, system: LoadedSystem, file: string, inputs: Record<string, unknown>): Promise<number> {
  const { kernelOptions } = await import('../../system/index.js');
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
    const bus = k.get(system.busName ?? 'bus') as BusApi;
    let result: MelodyResult;
    try {
      result = await bus.request<ConductorMethods['melody.run']['result']>('melody.run', { file: resolve(file), inputs } satisfies ConductorMethods['melody.run']['params'], { timeout: '30m', signal: interrupt.signal });
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
    printResult(result, values.json === true);
    return result.state === 'succeeded' ? 0 : 1;
  } finally {
    await k.stop().catch(() => {});
  }
}

/** The melody's result: as JSON with --json, else a line per step and the outputs. */
function printResult(result: MelodyResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  process.stdout.write(`melody run ${result.run}: ${result.state} in ${result.durationMs}ms${result.state === 'succeeded' ? '' : ` (${result.reason})`}\n`);
  for (const [id, st] of Object.entries(result.steps)) process.stdout.write(`  ${id.padEnd(14)} ${st.state}${st.attempts > 1 ? ` after ${st.attempts} attempts` : ''}${st.note ? ` — ${st.note}` : ''}${st.error && st.state !== 'succeeded' ? ` — ${st.error}` : ''}\n`);
  process.stdout.write(`outputs: ${JSON.stringify(result.outputs, null, 2)}\n`);
}
