// After tsc: make the CLI executable; copy the dashboard's page files (plain HTML/CSS/JS) beside its code. (The shipped JSON Schemas are not written here: a build must
// not change tracked files; `npm run schema` regenerates them and a test compares.)
import { chmodSync, cpSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
chmodSync(resolve(root, 'dist/cli/main.js'), 0o755);
cpSync(resolve(root, 'src/dashboard/page'), resolve(root, 'dist/dashboard/page'), { recursive: true });
console.log('symphony: dist/ built (the CLI is dist/cli/main.js)');
