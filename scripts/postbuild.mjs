// After tsc: make the CLI executable. (The shipped JSON Schemas are not written here: a build must
// not change tracked files; `npm run schema` regenerates them and a test compares.)
import { chmodSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
chmodSync(resolve(root, 'dist/cli/main.js'), 0o755);
