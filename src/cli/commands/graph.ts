import { Kernel } from '../../bootstrap/index.js';
import { UsageError } from '../errors.js';
import type { Invocation } from '../invocation.js';
import { load } from '../system-load.js';

/** `symphony graph`: the boot plan (stages, edges, late edges dashed) as mermaid, dot or JSON. */
export async function run({ values }: Invocation): Promise<number> {
  const format = (values.format ?? 'mermaid') as 'mermaid' | 'dot' | 'json';
  if (!['mermaid', 'dot', 'json'].includes(format)) throw new UsageError(`--format must be mermaid, dot or json (got '${values.format}')`);
  const system = await load(values);
  const { kernelOptions } = await import('../../system/index.js');
  const { renderGraph } = await import('../graph.js');
  const k = new Kernel(kernelOptions(system));
  process.stdout.write(`${renderGraph(k.plan, system.components, format)}\n`);
  return 0;
}
