// The package as a user installs it, for real: `npm pack`, then in an empty folder `npm install
// ./symphony-*.tgz` from the registry (better-sqlite3 fetched, or compiled: minutes), then
// `npx symphony --help`, `npx symphony up --once` and `import { defineComponent } from 'symphony'`.
// test/cli/package.test.ts checks the same quickly with the checkout's dependencies; this is the
// slow, whole one (npm run check:install). Exit 0 when every step passed; each step is timed.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'symphony-install-'));
const keep = process.argv.includes('--keep');

function step(what, command, args, cwd, check = () => true) {
  const began = performance.now();
  process.stderr.write(`check-install: ${what} …\n`);
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 20 * 60_000 });
  const s = ((performance.now() - began) / 1000).toFixed(1);
  if (r.status !== 0 || !check(r.stdout)) {
    process.stderr.write(`check-install: ${what} FAILED after ${s}s (exit ${r.status ?? r.signal})\n${r.stdout}\n${r.stderr}\n`);
    process.exit(1);
  }
  process.stderr.write(`check-install: ${what}: ok in ${s}s\n`);
  return r.stdout;
}

const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }))[0];
const app = join(work, 'app');
execFileSync('mkdir', [app]);
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-app', private: true, type: 'module' }));
step(`npm install ${packed.filename} (from the registry)`, 'npm', ['install', join(work, packed.filename), '--no-audit', '--no-fund'], app);
step('npx symphony --help', 'npx', ['--no-install', 'symphony', '--help'], app, (out) => out.startsWith('symphony — '));
step('npx symphony up --once', 'npx', ['--no-install', 'symphony', 'up', '--once', '--log', 'plain'], app, (out) => /system ready in/.test(out));
writeFileSync(join(app, 'main.js'), "import { defineComponent, kernel } from 'symphony';\nconst k = kernel().add('a', defineComponent({ async start() { return 'hello'; } })).build();\nawait k.start();\nconsole.log(k.get('a'));\nawait k.stop();\n");
step("import … from 'symphony'", process.execPath, [join(app, 'main.js')], app, (out) => out.trim() === 'hello');
process.stderr.write(`check-install: the package installs and runs outside its checkout${keep ? ` (kept in ${app})` : ''}\n`);
if (!keep) rmSync(work, { recursive: true, force: true });
