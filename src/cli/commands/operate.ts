/** ps, call, restart, logs: against the running system (found through its data folder or socket); exit 3 when there is none. */
import { parseDuration } from '../../util/duration.js';
import { COMMANDS } from '../commands.js';
import { configuredData } from '../data-folder.js';
import { UsageError } from '../errors.js';
import type { Invocation } from '../invocation.js';
import { configFile } from '../system-load.js';

type Console = typeof import('../console.js');
type Where = Parameters<Console['ps']>[0];

/** Positional arguments each takes at most. */
const LIMITS: Record<string, number> = { ps: 0, call: 2, restart: 1, logs: 1 };

/** Each command against the console found at `where`. */
const OPERATIONS: Record<string, (console: Console, where: Where, cli: Invocation) => Promise<void>> = {
  ps: (console, where, { values }) => console.ps(where, { json: values.json }, process.stdout),
  async call(console, where, { values, positionals }) {
    const method = positionals[0];
    if (!method) throw new UsageError(`symphony call needs a method: symphony call METHOD [PARAMS_JSON]\n\n${COMMANDS.call!.help}`);
    if (values.timeout !== undefined && parseDuration(values.timeout) === undefined) throw new UsageError(`--timeout must be a duration such as 500ms, 5s or 2m (got '${values.timeout}')`);
    await console.call(where, method, positionals[1], { timeout: values.timeout, json: values.json }, process.stdout);
  },
  async restart(console, where, { positionals }) {
    const name = positionals[0];
    if (!name) throw new UsageError(`symphony restart needs a name: symphony restart NAME (symphony ps lists them)`);
    await console.restart(where, name, process.stdout);
  },
  async logs(console, where, { values, positionals }) {
    const lines = values.lines === undefined ? undefined : Number(values.lines);
    if (lines !== undefined && (!Number.isInteger(lines) || lines < 1)) throw new UsageError(`-n must be a whole number of lines (got '${values.lines}')`);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const how = await console.logs(where, positionals[0], { follow: values.follow, lines, json: values.json }, process.stdout, stop.signal);
    if (how === 'stopped') process.stderr.write('symphony logs: the system stopped\n');
  },
};

export async function run(cli: Invocation): Promise<number> {
  const { command, values, positionals } = cli;
  const console = await import('../console.js');
  const file = values.socket === undefined && values.data === undefined ? configFile(values) : undefined;
  // A config naming its data folder (data:) is found there; one that does not load is looked for beside it.
  const configured = file === undefined ? undefined : await import('../../config/index.js').then(({ loadSystem }) => loadSystem(file).then((s) => configuredData(s.source), () => undefined));
  const where: Where = { socket: values.socket, data: values.data, configFile: file, configured };
  if (positionals.length > LIMITS[command]!) throw new UsageError(`symphony ${command}: unexpected argument '${positionals[LIMITS[command]!]}'\n\n${COMMANDS[command]!.help}`);
  try {
    await OPERATIONS[command]!(console, where, cli);
    return 0;
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
