import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's folder (from dist/cli/ or src/cli/: two up). */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The version package.json says. */
export function packageVersion(): string {
  return JSON.parse(readFileSync(resolve(packageRoot, 'package.json'), 'utf8')).version;
}
