import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { Invocation } from '../invocation.js';

/** `symphony grant DIR…`: the grant (YAML, for the orchestra's with.grants) of each extension found, pinned to its manifest. */
export async function run({ positionals }: Invocation): Promise<number> {
  if (!positionals.length) throw new UsageError('symphony grant needs an extension folder (or a folder of them): symphony grant ./extensions/text-stats');
  const { discover, grantYaml } = await import('../../orchestra/index.js');
  const { found, problems } = await discover(positionals.map((p) => resolve(p)));
  if (problems.length) throw new UsageError(problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join('\n'));
  if (!found.length) throw new UsageError(`no extension (a package.json with a symphony field) in ${positionals.join(', ')}`);
  process.stdout.write(`# Paste under the orchestra's with: grants: — review each right first: these are what the manifests ask.\n${found.map((m) => grantYaml(m)).join('\n')}\n`);
  return 0;
}
