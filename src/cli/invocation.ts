import { parseArgs } from 'node:util';
import type { CommandSpec } from './commands.js';
import { UsageError } from './errors.js';

/** Every option any command takes (each command's own are checked by parseArgs against its spec). */
export interface Values {
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

/** One command as typed: its name, options and positional arguments. */
export interface Invocation {
  command: string;
  values: Values;
  positionals: string[];
}

/** The command's arguments, strictly by its spec; a mistake is a UsageError naming the near miss. */
export async function parse(command: string, spec: CommandSpec, args: string[]): Promise<Invocation> {
  try {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: spec.options });
    return { command, values: values as Values, positionals };
  } catch (err) {
    // parseArgs says "Unknown option '--jsn'": name the near miss among this command's options.
    const { suggest } = await import('../bootstrap/index.js');
    const e = err as Error & { code?: string };
    const bad = /option '(-{1,2}[^']+)'/.exec(e.message)?.[1];
    const names = Object.entries(spec.options).flatMap(([long, o]) => [`--${long}`, ...(o.short ? [`-${o.short}`] : [])]);
    const hint = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && bad ? `${suggest(bad.split('=')[0]!, names)}; it takes ${names.length ? names.join(', ') : 'no options'} (symphony ${command} --help)` : ` (symphony ${command} --help)`;
    throw new UsageError(`symphony ${command}: ${e.message.split('\n')[0]!.replace(/\.\s.*$/, '')}${hint}`);
  }
}
