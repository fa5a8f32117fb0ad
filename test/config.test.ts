import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BootError, ConfigError, createKernel, formatDiagnostic, kernelOptions, loadSystem, Kernel } from '../src/index.js';

const fixtures = resolve(import.meta.dirname, 'fixtures/cli');
const dir = mkdtempSync(join(tmpdir(), 'symphony-config-'));
writeFileSync(join(dir, 'noop.mjs'), readFileSync(join(fixtures, 'noop.mjs')));
writeFileSync(join(dir, 'not-a-component.mjs'), readFileSync(join(fixtures, 'not-a-component.mjs')));
writeFileSync(join(dir, 'named.mjs'), readFileSync(join(fixtures, 'named.mjs')));

/** Writes a config file and returns what loading it reports, as FILE:LINE:COL lines (file name only). */
async function problems(name: string, text: string, options: { profile?: string; checkModules?: boolean } = {}): Promise<string[]> {
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    await loadSystem(file, options);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.diagnostics.map((d) => formatDiagnostic(d, dir));
  }
}

describe('config: YAML', () => {
  it('reports an unknown key at its line and column, with a suggestion', async () => {
    expect(await problems('u.yaml', 'components:\n  a: { use: ./noop.mjs }\n  b: { use: ./noop.mjs, needz: [a] }\n')).toEqual([
      "u.yaml:3:25: unknown key 'needz' in component 'b' (did you mean 'needs'?) (known keys: use, command, needs, wants, late, mode, optional, timeout, stopTimeout, retries, backoff, health, restart, stage, with, sandbox)",
    ]);
  });

  it("refuses component and profile names a JavaScript object would lose ('constructor', 'prototype', '__proto__'), at their key; and profiles are its own, not inherited", async () => {
    expect(await problems('r.yaml', 'components:\n  constructor: { use: ./noop.mjs }\n  b: { use: ./noop.mjs, needs: [constructor] }\n')).toEqual([
      "r.yaml:2:3: component name 'constructor' is a reserved name (it would be lost as a JavaScript object key): rename it",
    ]);
    expect(await problems('r2.yaml', 'components:\n  a: { use: ./noop.mjs }\nprofiles:\n  prototype: {}\n')).toEqual([
      "r2.yaml:4:3: profile name 'prototype' is a reserved name (it would be lost as a JavaScript object key): rename it",
    ]);
    expect(await problems('r3.yaml', 'components:\n  a: { use: ./noop.mjs }\nprofiles:\n  dev: {}\n', { profile: 'toString' })).toEqual([
      "r3.yaml:1:1: profile 'toString' is not defined here (defined: dev)",
    ]);
  });

  it('loads a package that only exports for import (ESM-only), as import() would', async () => {
    const pkg = join(dir, 'node_modules', 'esm-only-component');
    mkdirSync(join(pkg, 'lib'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'esm-only-component', type: 'module', exports: { '.': { import: './lib/index.js' } } }));
    writeFileSync(join(pkg, 'lib', 'index.js'), 'export default { async start() { return { esm: true }; } };\n');
    expect(await problems('esm.yaml', 'components:\n  a: { use: esm-only-component }\n', { checkModules: true })).toEqual([]);
    expect(await problems('esm2.yaml', 'components:\n  a: { use: not-installed-anywhere }\n', { checkModules: true })).toEqual([
      expect.stringMatching(/^esm2.yaml:2:13: component 'a': package 'not-installed-anywhere' is not installed/),
    ]);
  });

  it('checks http.listen: HOST:PORT with a port 0 to 65535', async () => {
    expect(await problems('h.yaml', 'http: { listen: localhost }\ncomponents:\n  a: { use: ./noop.mjs }\n')).toEqual([
      'h.yaml:1:17: http.listen must be HOST:PORT with a port 0 to 65535, e.g. 127.0.0.1:8080 (port 0 picks a free one) (got "localhost")',
    ]);
    expect(await problems('h2.yaml', 'http: { listen: "127.0.0.1:65536" }\ncomponents:\n  a: { use: ./noop.mjs }\n')).toHaveLength(1);
    expect(await problems('h3.yaml', 'http: { listen: "[::1]:0" }\ncomponents:\n  a: { use: ./noop.mjs }\n')).toEqual([]);
  });

  it("checks the builtins' settings: unknown keys with a suggestion, wrong types, at their position", async () => {
    expect(
      await problems(
        'bw.yaml',
        'components:\n  bus: { use: builtin:bus, with: { maxFrameBytes: big, listne: none } }\n  orchestra: { use: builtin:orchestra, needs: [bus], with: { paths: ./ext, watch: "no" } }\n',
      ),
    ).toEqual([
      'bw.yaml:2:51: in component \'bus\' (builtin:bus): maxFrameBytes must be a number (got "big")',
      "bw.yaml:2:56: unknown key 'listne' in the settings of builtin:bus (component 'bus') (did you mean 'listen'?) (known keys: listen, token, maxFrameBytes, maxInFlight, maxOutputBytes, heartbeat, defaultTimeout, maxPeerBytes, maxPendingHellos, helloTimeout)",
      'bw.yaml:3:69: in component \'orchestra\' (builtin:orchestra): paths must be a list of folders (got "./ext")',
      'bw.yaml:3:83: in component \'orchestra\' (builtin:orchestra): watch must be true or false (got "no")',
    ]);
  });

  it('reads a TOML or YAML file that starts with a byte order mark', async () => {
    expect(await problems('bom.toml', '\ufeff[components.a]\nuse = "./noop.mjs"\n')).toEqual([]);
    expect(await problems('bom.yaml', '\ufeffcomponents:\n  a: { use: ./noop.mjs }\n')).toEqual([]);
  });

  it('reports a missing key as missing, not unknown', async () => {
    expect(await problems('m.yaml', 'stages: [infra]\n')).toEqual(["m.yaml:1:1: missing key 'components'"]);
  });

  it('reports wrong types and bad durations at the value', async () => {
    const text = ['components:', '  a:', '    use: ./noop.mjs', '    retries: three', '    timeout: 5 parsecs', '    health: { threshold: -1 }', '    needs: a'].join('\n');
    expect(await problems('types.yaml', text)).toEqual([
      `types.yaml:4:14: in component 'a': retries must be a whole number (got "three")`,
      `types.yaml:5:14: in component 'a': must be a duration: a number of milliseconds or a string such as "250ms", "5s", "2m" (got "5 parsecs")`,
      `types.yaml:6:26: in component 'a': health.threshold must be >= 0 (got -1)`,
      `types.yaml:7:12: in component 'a': needs must be a list of component names (got "a")`,
    ]);
  });

  it('names the execution modes where a mode is written, and so does the kernel for one given in code', async () => {
    const text = ['components:', '  a:', '    use: ./noop.mjs', '    mode: thread'].join('\n');
    expect(await problems('mode.yaml', text)).toEqual([`mode.yaml:4:11: in component 'a': mode must be in-process, worker or process (got "thread")`]);
    const noop = { start: () => ({}) };
    expect(() => createKernel({ components: { a: { use: noop, mode: 'thread' as 'worker' } } })).toThrow(new TypeError("component 'a': mode must be in-process, worker or process"));
  });

  it('reports malformed YAML at its position', async () => {
    const [line] = await problems('bad.yaml', 'components:\n  a: { use: ./noop.mjs\n  b: [\n');
    expect(line).toMatch(/^bad\.yaml:\d+:\d+: YAML: /);
  });

  it('reports a duplicate key', async () => {
    expect((await problems('dup.yaml', 'components:\n  a: { use: ./noop.mjs }\n  a: { use: ./noop.mjs }\n'))[0]).toMatch(/^dup\.yaml:3:3: YAML: Map keys must be unique/);
  });

  it('reports a cycle at the first edge, printed as a path', async () => {
    const [line] = await problems('cycle.yaml', 'components:\n  a: { use: ./noop.mjs, needs: [c] }\n  b: { use: ./noop.mjs, needs: [a] }\n  c: { use: ./noop.mjs, needs: [b] }\n');
    expect(line).toMatch(/^cycle\.yaml:2:33: cycle: a -> c -> b -> a; .*make one of these late \(a -> c, c -> b, b -> a\)/);
  });

  it('reports a missing dependency at its entry in the list, and warns about an absent want', async () => {
    const out = await problems('missing.yaml', 'components:\n  cache: { use: ./noop.mjs }\n  users:\n    use: ./noop.mjs\n    needs:\n      - db\n      - cahce\n    wants: [metrics]\n');
    expect(out).toEqual([
      "missing.yaml:6:9: missing dependency 'db' of 'users'",
      "missing.yaml:7:9: missing dependency 'cahce' of 'users' (did you mean 'cache'?)",
      "missing.yaml:8:13: warning: 'users' wants 'metrics', which is not configured (ignored)",
    ]);
  });

  it('reports modules that do not exist or export no component, at the use value', async () => {
    const text = [
      'components:',
      '  a: { use: ./nowhere.mjs }',
      '  b: { use: ./not-a-component.mjs }',
      '  c: { use: ./named.mjs }',
      '  d: { use: ./named.mjs#primary }',
      '  e: { use: no-such-package-xyz }',
      '  f: { use: builtin:nope }',
    ].join('\n');
    const out = await problems('mods.yaml', text, { checkModules: true });
    expect(out).toEqual([
      expect.stringMatching(/^mods\.yaml:2:13: component 'a': module '\.\/nowhere\.mjs' does not exist \(looked for .*nowhere\.mjs\)$/),
      "mods.yaml:3:13: component 'b': './not-a-component.mjs' does not export a component: its default export needs a start() function (and optional health(), stop())",
      "mods.yaml:4:13: component 'c': './named.mjs' has no default export (it exports components as: primary; use './named.mjs#primary')",
      "mods.yaml:6:13: component 'e': package 'no-such-package-xyz' is not installed where " + dir + ' can find it (npm install no-such-package-xyz)',
      "mods.yaml:7:13: component 'f': unknown builtin 'nope' (available: " + (await import('../src/config/index.js')).builtinNames().join(', ').replace(/^$/, 'none') + ')',
    ]);
  });

  it('requires use or command, not both', async () => {
    expect(await problems('use.yaml', 'components:\n  a: { needs: [] }\n  b: { use: ./noop.mjs, command: [python3] }\n')).toEqual([
      "use.yaml:2:3: component 'a' has neither use nor command: say what runs (use: builtin:NAME or a module path, or command: [program, args…])",
      "use.yaml:3:25: component 'b' has both use and command: keep one",
    ]);
  });
});

describe('config: TOML', () => {
  it('is the same schema, with positions in tables and inline tables', async () => {
    const text = ['[components.a]', 'use = "./noop.mjs"', '', '[components.b]', 'use = "./noop.mjs"', 'needz = ["a"]', 'health = { timeout = "soon" }'].join('\n');
    expect(await problems('u.toml', text)).toEqual([
      `u.toml:6:1: unknown key 'needz' in component 'b' (did you mean 'needs'?) (known keys: use, command, needs, wants, late, mode, optional, timeout, stopTimeout, retries, backoff, health, restart, stage, with, sandbox)`,
      `u.toml:7:22: in component 'b': must be a duration: a number of milliseconds or a string such as "250ms", "5s", "2m" (got "soon")`,
    ]);
  });

  it('reports malformed TOML at its position', async () => {
    expect((await problems('bad.toml', '[components.a]\nuse = "./noop.mjs\n'))[0]).toMatch(/^bad\.toml:2:\d+: TOML: /);
  });

  it('loads and boots', async () => {
    const file = join(dir, 'ok.toml');
    writeFileSync(file, '[components.a]\nuse = "./noop.mjs"\n[components.b]\nuse = "./noop.mjs"\nneeds = ["a"]\ntimeout = "2s"\n');
    const system = await loadSystem(file);
    const k = new Kernel(kernelOptions(system));
    const report = await k.start();
    expect(report.components.map((c) => [c.name, c.stage, c.state])).toEqual([['a', 0, 'ready'], ['b', 1, 'ready']]);
    await k.stop();
  });
});

describe('config: profiles', () => {
  const text = [
    'components:',
    '  a: { use: ./noop.mjs, timeout: 1s, with: { level: 1, keep: yes } }',
    '  b: { use: ./noop.mjs, needs: [a] }',
    'profiles:',
    '  test:',
    '    components:',
    '      a: { with: { level: 2 } }',
    '      extra: { use: ./noop.mjs, needs: [b] }',
    '  broken:',
    '    components:',
    '      b: { needs: [zz] }',
  ].join('\n');

  it('merges a profile over the base (deeply for tables, replacing lists)', async () => {
    const file = join(dir, 'profiles.yaml');
    writeFileSync(file, text);
    const base = await loadSystem(file);
    expect(Object.keys(base.components)).toEqual(['a', 'b']);
    const test = await loadSystem(file, { profile: 'test' });
    expect(Object.keys(test.components)).toEqual(['a', 'b', 'extra']);
    expect(test.components.a).toEqual({ use: './noop.mjs', timeout: '1s', with: { level: 2, keep: 'yes' } });
  });

  it("points at the profile's line when the profile is at fault, and names unknown profiles", async () => {
    expect(await problems('profiles.yaml', text, { profile: 'broken' })).toEqual(["profiles.yaml:11:20: missing dependency 'zz' of 'b'"]);
    expect(await problems('profiles.yaml', text, { profile: 'tset' })).toEqual(["profiles.yaml:1:1: profile 'tset' is not defined here (defined: test, broken) (did you mean 'test'?)"]);
  });
});

describe('programmatic createKernel with module paths', () => {
  it('resolves use strings relative to baseDir', async () => {
    const k = createKernel({ baseDir: dir, components: { a: { use: './named.mjs#primary' } } });
    await k.start();
    expect(k.get('a')).toBe('primary');
    await k.stop();
  });

  it('fails the boot before starting anything when a required module cannot load', async () => {
    const k = createKernel({ baseDir: dir, components: { a: { use: './noop.mjs' }, b: { use: './missing.mjs', needs: ['a'] } } });
    const err = (await k.start().catch((e: unknown) => e)) as BootError;
    expect(err.report.failure).toMatchObject({ component: 'b', phase: 'start', message: expect.stringMatching(/^ModuleLoadError: module '\.\/missing\.mjs' does not exist/) });
    expect(err.report.components.map((c) => c.state)).toEqual(['pending', 'failed']);
  });

  it('loads packages from node_modules next to the config', async () => {
    const pkg = join(dir, 'node_modules', 'fake-component');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'fake-component', type: 'module', main: 'index.js' }));
    writeFileSync(join(pkg, 'index.js'), 'export default { async start() { return "from a package"; } };');
    const k = createKernel({ baseDir: dir, components: { p: { use: 'fake-component' } } });
    await k.start();
    expect(k.get('p')).toBe('from a package');
    await k.stop();
  });
});

describe('JSON Schema', () => {
  it('ships, generated from the same schema, with every component key described', () => {
    const schema = JSON.parse(readFileSync(resolve(import.meta.dirname, '../schema/symphony.schema.json'), 'utf8'));
    const component = schema.properties.components.additionalProperties;
    expect(Object.keys(component.properties)).toEqual(['use', 'command', 'needs', 'wants', 'late', 'mode', 'optional', 'timeout', 'stopTimeout', 'retries', 'backoff', 'health', 'restart', 'stage', 'with', 'sandbox']);
    expect(component.additionalProperties).toBe(false);
    expect(component.properties.needs.description).toMatch(/Hard dependencies/);
    expect(schema.properties.profiles).toBeDefined();
  });
});

describe('the embedded default system', () => {
  it('is examples/symphony.yaml, as text and as a value', async () => {
    const { DEFAULT_SYSTEM, DEFAULT_SYSTEM_VALUE } = await import('../src/cli/default-system.js');
    const { parse } = await import('yaml');
    expect(DEFAULT_SYSTEM).toBe(readFileSync(resolve(import.meta.dirname, '../examples/symphony.yaml'), 'utf8'));
    expect(parse(DEFAULT_SYSTEM)).toEqual(DEFAULT_SYSTEM_VALUE);
  });
});
