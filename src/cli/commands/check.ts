import type { Invocation } from '../invocation.js';
import { load } from '../system-load.js';

/** `symphony check`: the config, its modules and graph, every extension manifest and grant; starts nothing. */
export async function run({ values }: Invocation): Promise<number> {
  const system = await load(values, true);
  const n = Object.keys(system.components).length;
  process.stdout.write(`${system.file}: ok (${n} component${n === 1 ? '' : 's'}${system.profile ? `, profile ${system.profile}` : ''})\n`);
  // The extensions each Orchestra would load: asked against granted, and every problem at once.
  const { checkExtensions } = await import('../grants-report.js');
  const { formatDiagnostic } = await import('../../config/index.js');
  const found = await checkExtensions(system, process.stdout);
  for (const d of found) process.stderr.write(`${formatDiagnostic(d)}\n`);
  const errors = found.filter((d) => d.severity === 'error').length;
  if (errors) process.stderr.write(`symphony check: ${errors} problem${errors === 1 ? '' : 's'} with extensions or their grants\n`);
  return errors ? 2 : 0;
}
