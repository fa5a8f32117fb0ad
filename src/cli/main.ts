#!/usr/bin/env node
/**
 * `symphony`: finds the command, answers --help and --version, parses the command's options and
 * hands them to the command's own module (commands/), loaded only then. Exit codes: see HELP.
 */
import { COMMANDS, HELP } from './commands.js';
import { FolderInUse, UsageError } from './errors.js';
import { parse } from './invocation.js';
import { packageVersion } from './package-root.js';

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
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const spec = COMMANDS[command];
  if (!spec) {
    // The near miss (the kernel's own suggester), loaded only for a mistake: --help imports no part.
    const { suggest } = await import('../bootstrap/index.js');
    const hint = command.startsWith('-') ? `: options come after a command (symphony COMMAND ${command})` : suggest(command, Object.keys(COMMANDS));
    throw new UsageError(`symphony: unknown command '${command}'${hint}; symphony --help lists the commands`);
  }
  // --help anywhere in its arguments: that command's help, and nothing else happens.
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${spec.help}\n`);
    return 0;
  }
  const invocation = await parse(command, spec, rest);
  return (await spec.load()).run(invocation);
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
