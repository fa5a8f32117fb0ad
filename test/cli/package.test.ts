/**
 * The package outside its checkout: `npm pack` gives a tarball of what a user installs; unpacked as
 * npm installs it into an empty folder's node_modules (its production dependencies beside it, and
 * nothing else of the checkout), `symphony --help`, `symphony up --once` and `import … from
 * 'symphony'` work there. (The same with a real `npm install ./symphony-*.tgz` from the registry
 * is in docs/install.md; it compiles better-sqlite3, minutes on a busy machine.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { root, tempDir } from './running.js';

const work = tempDir('package');
const app = join(work, 'app');
let files: string[] = [];
let manifest: Record<string, any> = {};

beforeAll(() => {
  // dist/ is built (npm test builds first): pack it as it is, without running prepare again.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const packed = (JSON.parse(out) as { filename: string; files: { path: string }[] }[])[0]!;
  files = packed.files.map((f) => f.path);
  // What npm install does with it: unpacked as node_modules/symphony, its bin linked.
  const pkg = join(app, 'node_modules', 'symphony');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['xzf', join(work, packed.filename), '-C', pkg, '--strip-components=1']);
  manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as Record<string, any>;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-app', private: true, type: 'module' }));
  mkdirSync(join(app, 'node_modules', '.bin'));
  symlinkSync('../symphony/dist/cli/main.js', join(app, 'node_modules', '.bin', 'symphony'));
  // Its production dependencies (the whole tree npm would install for it), linked from the
  // checkout; devDependencies are not there, so a module it needs but does not declare fails here.
  const tree = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const top = new Set<string>();
  for (const line of tree.split('\n')) {
    const rel = line.startsWith(join(root, 'node_modules') + '/') ? line.slice(join(root, 'node_modules').length + 1) : undefined;
    if (!rel) continue;
    const parts = rel.split('/');
    top.add(parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  for (const name of top) {
    if (name === 'symphony') continue;
    if (name.includes('/')) mkdirSync(join(app, 'node_modules', name.split('/')[0]!), { recursive: true });
    if (!existsSync(join(app, 'node_modules', name))) symlinkSync(join(root, 'node_modules', name), join(app, 'node_modules', name));
  }
  expect(top.has('better-sqlite3')).toBe(true);
  expect(top.has('vitest')).toBe(false);
}, 120_000);

const symphony = (args: string[], cwd = app) => spawnSync(join(app, 'node_modules', '.bin', 'symphony'), args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });

describe('the packed package', () => {
  it('is publishable: not private, typed, with its bin, engines and exports, and only what a user needs', () => {
    expect(manifest.private).not.toBe(true);
    expect(manifest.bin).toEqual({ symphony: 'dist/cli/main.js' });
    expect(manifest.engines.node).toBe('^20.10.0 || ^22.11.0 || ^24.0.0');
    for (const [entry, target] of Object.entries(manifest.exports as Record<string, string | { types: string; default: string }>)) {
      const paths = typeof target === 'string' ? [target] : [target.types, target.default];
      for (const p of paths) expect(files, `exports['${entry}'] -> ${p}`).toContain(p.replace(/^\.\//, ''));
    }
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('python/symphony_peer/__init__.py');
    expect(files).toContain('examples/symphony.yaml');
    expect(files).toContain('docs/operating.md');
    for (const f of files) expect(f, f).not.toMatch(/^(src|test|bench|scripts|node_modules|python\/tests)\/|\.map$|__pycache__|\.symphony\//);
  });

  it('installed in an empty folder: symphony --help, and up --once boots the default system there', () => {
    const help = symphony(['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^symphony — boot, run and operate a Symphony system/);
    const version = symphony(['--version']);
    expect(version.stdout.trim()).toBe(manifest.version);
    const r = symphony(['up', '--once', '--log', 'plain']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/symphony: system ready in .*\(4 components, 4 stages/);
    // Its bundled extensions ran from the installed copy, and its data folder is the app's.
    expect(r.stdout).toContain(`extension 'files': serving files under ${join(app, 'node_modules', 'symphony', 'examples', 'texts')}`);
    expect(existsSync(join(app, '.symphony', 'pit'))).toBe(true);
  }, 60_000);

  it("import … from 'symphony' works in the folder's own modules, and its types check", () => {
    writeFileSync(
      join(app, 'main.ts'),
      `import { defineComponent, kernel } from 'symphony';
const greeter = defineComponent({ async start() { return { greet: (name: string) => \`hello, \${name}\` }; } });
const k = kernel().add('greeter', greeter).build();
await k.start();
console.log(k.get('greeter').greet('you'));
await k.stop();
`,
    );
    // A TypeScript user's setup (docs/install.md): @types/node beside it, a current lib.
    mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
    if (!existsSync(join(app, 'node_modules', '@types', 'node'))) symlinkSync(join(root, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'es2023', lib: ['esnext'], module: 'nodenext', moduleResolution: 'nodenext', strict: true, outDir: 'out', skipLibCheck: true, types: ['node'] }, include: ['main.ts', 'bad.ts'] }));
    // And a type error in the user's code, caught through the package's types. One tsc run for both.
    writeFileSync(join(app, 'bad.ts'), `import { defineComponent } from 'symphony';\nexport const n: number = defineComponent;\n`);
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app, encoding: 'utf8' });
    const errors = tsc.stdout.trim().split('\n');
    expect(errors, tsc.stdout + tsc.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(/^bad\.ts\(2,14\): error TS2322: Type .* is not assignable to type 'number'/);
    const r = spawnSync(process.execPath, [join(app, 'out', 'main.js')], { cwd: app, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('hello, you');
  }, 60_000);
});

describe('the Node it runs on', () => {
  it('an older Node is refused before anything starts (exit 2, saying which it needs)', () => {
    const pretend = (v: string) => `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'${v}'})`;
    const old = spawnSync(process.execPath, ['--import', pretend('18.19.0'), join(root, 'dist/cli/main.js'), 'up'], { cwd: tempDir('old-node'), encoding: 'utf8' });
    expect(old.status).toBe(2);
    expect(old.stderr.trim()).toBe('symphony needs Node 20, 22, 24 (20.10 or newer); this is Node 18.19.0: install a current Node (see docs/install.md)');
    const odd = spawnSync(process.execPath, ['--import', pretend('23.1.0'), join(root, 'dist/cli/main.js'), '--version'], { encoding: 'utf8' });
    expect(odd.status).toBe(0);
    expect(odd.stderr).toContain('symphony: Node 23.1.0 is not a line Symphony is tested on (20, 22, 24); carrying on');
  });
});

describe('installing from the checkout', () => {
  it('is not silent: npm shows what install scripts do, and the build says what it is doing', () => {
    // The checkout's .npmrc: npm ci shows better-sqlite3's compile (minutes where no prebuilt
    // binary matches) instead of hiding it.
    const fg = execFileSync('npm', ['config', 'get', 'foreground-scripts'], { cwd: root, encoding: 'utf8' });
    expect(fg.trim()).toBe('true');
    const build = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.build as string;
    expect(build).toMatch(/^echo 'symphony: compiling src\/ into dist\/ \(tsc\)' && tsc /);
    const post = spawnSync(process.execPath, [join(root, 'scripts', 'postbuild.mjs')], { encoding: 'utf8' });
    expect(post.status, post.stderr).toBe(0);
    expect(post.stdout).toBe('symphony: dist/ built (the CLI is dist/cli/main.js)\n');
  });
});
