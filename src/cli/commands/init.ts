import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { Invocation } from '../invocation.js';

/** `symphony init [DIR]`: a new system folder from the scaffold; refused (nothing written) unless DIR is empty. */
export async function run({ positionals }: Invocation): Promise<number> {
  const { scaffold, FolderNotEmpty } = await import('../init.js');
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
