import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { BootReport } from '../bootstrap/index.js';

/** `--report FILE`: the boot report (and what a command adds to it) as JSON; nothing without a file. */
export async function writeReport(file: string | undefined, data: BootReport | Record<string, unknown>): Promise<void> {
  if (!file) return;
  await mkdir(dirname(resolve(file)), { recursive: true });
  // Written beside it and renamed into place: whoever watches the file never reads half a report.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`);
  await rename(tmp, file);
}
