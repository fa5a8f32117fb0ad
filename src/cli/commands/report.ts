import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { BootReport } from '../../bootstrap/index.js';
import { UsageError } from '../errors.js';
import type { Invocation } from '../invocation.js';

/** `symphony report FILE.json`: a boot report as a timeline page (waterfall, critical path). */
export async function run({ values, positionals }: Invocation): Promise<number> {
  const file = positionals[0];
  if (!file) throw new UsageError('symphony report needs a report file: symphony report FILE.json [-o OUT.html]');
  let data: BootReport;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as BootReport;
  } catch (err) {
    throw new UsageError(`${file}: cannot read a boot report: ${(err as Error).message}`);
  }
  const { renderReportHtml, reportProblem } = await import('../report-html.js');
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
