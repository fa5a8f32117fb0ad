/**
 * The rights an extension gets, checked on grants.ts's functions directly (no kernel, no
 * process): pattern coverage, reserved namespaces, overlapping provides, the pin, the ceilings,
 * and every refusal with its exact message and position. Fast enough for the mutation run
 * (stryker/orchestra.config.mjs), where each mutant of grants.ts runs these.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigSource } from '../../src/config/index.js';
import {
  canonicalJson,
  DEFAULT_CEILINGS,
  defaultCeilings,
  grantFor,
  grantOptions,
  grantsOf,
  grantYaml,
  manifestPin,
  patternCovers,
  patternsOverlap,
  refuseDuplicates,
  reservedNamespace,
  reviewGrant,
  SETTINGS_SOURCE,
  settingsSource,
  unusedGrants,
  type Grant,
  type GrantOptions,
  type SettingsSource,
} from '../../src/orchestra/grants.js';
import type { ExtensionManifest } from '../../src/orchestra/manifest.js';

const tmp = mkdtempSync(join(tmpdir(), 'symphony-grants-mutants-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PIN = `sha256:${'a'.repeat(64)}`;
const OTHER_PIN = `sha256:${'b'.repeat(64)}`;

/** A validated manifest as readManifest returns it, asking nothing unless told. */
function manifest(over: Partial<ExtensionManifest> & { name?: string } = {}): ExtensionManifest {
  const name = over.name ?? 'ext';
  return {
    name,
    version: '1.0.0',
    dir: `/exts/${name}`,
    file: `/exts/${name}/package.json`,
    main: `/exts/${name}/index.js`,
    kind: 'instrument',
    execution: 'isolated',
    provides: [],
    calls: [],
    publishes: [],
    subscribes: [],
    activation: ['onStartup'],
    dependencies: {},
    engine: undefined,
    pin: PIN,
    ...over,
    permissions: { fsRead: [], fsWrite: [], net: false, childProcess: false, workers: false, ...over.permissions },
    limits: { memoryMb: undefined, activationMs: 10_000, ...over.limits },
  };
}

const opts = (o: Partial<GrantOptions> = {}): GrantOptions => ({ baseDir: tmp, ...o });
const messages = (r: { problems: { message: string }[] }) => r.problems.map((p) => p.message);

describe('pattern coverage: an asked pattern is covered only by a granted one at least as wide', () => {
  const cases: [granted: string, asked: string, covers: boolean][] = [
    ['a.b', 'a.b', true],
    ['a.b', 'a.c', false],
    ['a.b', 'a', false],
    ['a', 'a.b', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a.*', true],
    ['a.*', 'a.>', false],
    ['a.*', 'a', false],
    ['a.*', 'a.b.c', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.b.d', false],
    ['a.*.c', 'a.*.c', true],
    ['a.b.c', 'a.*.c', false],
    ['*', 'a', true],
    ['*', '*', true],
    ['*', '>', false],
    ['*', 'a.b', false],
    ['a.>', 'a.b', true],
    ['a.>', 'a.b.c.d', true],
    ['a.>', 'a.*', true],
    ['a.>', 'a.>', true],
    ['a.>', 'a', false],
    ['a.>', 'b.c', false],
    ['a.>', '>', false],
    ['a.b.>', 'a.>', false],
    ['>', 'a', true],
    ['>', '>', true],
    ['>', '*', true],
    ['>', 'a.b.c', true],
    ['a.b', '>', false],
    ['a.b', '*.b', false],
    ['*.b', 'a.b', true],
    ['a.*', '*.b', false],
  ];
  for (const [g, a, yes] of cases) {
    it(`${g} ${yes ? 'covers' : 'does not cover'} ${a}`, () => expect(patternCovers(g, a)).toBe(yes));
  }
});

describe('overlapping patterns: some concrete name matches both', () => {
  const cases: [string, string, boolean][] = [
    ['a.b', 'a.b', true],
    ['a.b', 'a.c', false],
    ['a', 'a.b', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a.b.c', false],
    ['*.b', 'a.*', true],
    ['*.b', 'a.c', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['a.>', 'a', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'b.>', false],
    ['a.>', '*.x', true],
    ['>', 'a', true],
    ['>', 'a.b.c', true],
    ['a.b.>', 'a.*', false],
    ['a.b.>', 'a.*.c', true],
  ];
  for (const [a, b, yes] of cases) {
    it(`${a} ${yes ? 'overlaps' : 'does not overlap'} ${b}, both ways round`, () => {
      expect(patternsOverlap(a, b)).toBe(yes);
      expect(patternsOverlap(b, a)).toBe(yes);
    });
  }
});

describe('reserved namespaces', () => {
  it('names the namespace each pattern reaches into, and only for those that do', () => {
    const cases: [string, string | undefined][] = [
      ['symphony.x', 'symphony.'],
      ['kernel.ran', 'kernel.'],
      ['bus.stats', 'bus.'],
      ['pit.status', 'pit.'],
      ['pool.define', 'pool.'],
      ['dag.run', 'dag.'],
      ['artifacts.put', 'artifacts.'],
      ['arbiter.acquire', 'arbiter.'],
      ['stale.sweep', 'stale.'],
      ['orchestra.status', 'orchestra.'],
      ['conductor.report', 'conductor.'],
      ['melody.run', 'melody.'],
      ['melody.>', 'melody.'],
      ['melody.*', 'melody.'],
      ['melody.a.b', 'melody.'],
      // A wildcard first segment reaches the first reserved namespace in the list.
      ['>', 'symphony.'],
      ['*.run', 'symphony.'],
      ['*.>', 'symphony.'],
      // `$/cancelRequest` is one segment: only a one-segment wildcard, or `$/...`, reaches it.
      ['*', '$/'],
      ['$/cancelRequest', '$/'],
      ['$/x.y', '$/'],
      ['kernel', undefined],
      ['melody', undefined],
      ['melodyx.run', undefined],
      ['my.melody.run', undefined],
      ['text.stats', undefined],
      ['files.>', undefined],
      ['x$/y', undefined],
      ['a.*', undefined],
    ];
    expect(cases.map(([p]) => [p, reservedNamespace(p)])).toEqual(cases);
  });
});

describe('the pin: the meaning of a manifest, not its formatting', () => {
  const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

  it('canonical JSON sorts keys at every depth, keeps array order, drops undefined keys, writes undefined as null', () => {
    expect(canonicalJson({ b: [2, { d: 1, c: 'x' }], a: null })).toBe('{"a":null,"b":[2,{"c":"x","d":1}]}');
    expect(canonicalJson({ z: 1, y: undefined, x: [3, 1, 2] })).toBe('{"x":[3,1,2],"z":1}');
    expect(canonicalJson([undefined, 'a"b', true, 1.5])).toBe('[null,"a\\"b",true,1.5]');
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson('s')).toBe('"s"');
    expect(canonicalJson(0)).toBe('0');
    expect(canonicalJson({ 'k"': { b: {}, a: [] } })).toBe('{"k\\"":{"a":[],"b":{}}}');
  });

  it('is sha256 of the canonical {name, version, symphony}: other package.json fields and key order do not count', () => {
    const pkg = { version: '1.0.0', main: 'index.js', type: 'module', name: 'x', symphony: { provides: ['x.a'], calls: ['kernel.ran'] } };
    const pin = sha('{"name":"x","symphony":{"calls":["kernel.ran"],"provides":["x.a"]},"version":"1.0.0"}');
    expect(manifestPin(pkg)).toBe(pin);
    expect(pin).toBe('sha256:f6ede022421e83db0ceeb8974d4839e4cbbe147c9c755492e35c7d9723781ed2');
    expect(manifestPin({ ...pkg, main: 'other.js', description: 'more' } as typeof pkg)).toBe(pin);
    expect(manifestPin({ symphony: { calls: ['kernel.ran'], provides: ['x.a'] }, name: 'x', version: '1.0.0' })).toBe(pin);
  });

  it('changes with anything the manifest asks, its name or its version', () => {
    const pkg = { name: 'x', version: '1.0.0', symphony: { provides: ['x.a'], calls: ['kernel.ran'] } };
    const pin = manifestPin(pkg);
    const variants = [
      { ...pkg, name: 'y' },
      { ...pkg, version: '1.0.1' },
      { ...pkg, symphony: { ...pkg.symphony, calls: ['kernel.ran', 'kernel.secret'] } },
      { ...pkg, symphony: { ...pkg.symphony, calls: ['kernel.secret', 'kernel.ran'].reverse().reverse() } },
      { ...pkg, symphony: { ...pkg.symphony, permissions: { net: true } } },
      { ...pkg, symphony: undefined },
    ];
    const pins = variants.map(manifestPin);
    expect(new Set([pin, ...pins]).size).toBe(variants.length + 1);
    expect(manifestPin({ ...pkg, symphony: undefined })).toBe(sha('{"name":"x","version":"1.0.0"}'));
  });
});

describe('ceilings and settings', () => {
  it('defaults to 256 MB, one CPU and 64 tasks; the orchestra setting replaces only what it sets', () => {
    expect(DEFAULT_CEILINGS).toEqual({ memoryMb: 256, cpuPercent: 100, processes: 64 });
    expect(Object.isFrozen(DEFAULT_CEILINGS)).toBe(true);
    expect(defaultCeilings({})).toEqual({ memoryMb: 256, cpuPercent: 100, processes: 64 });
    expect(defaultCeilings({ limits: { cpuPercent: 50, memoryMb: undefined } })).toEqual({ memoryMb: 256, cpuPercent: 50, processes: 64 });
    expect(defaultCeilings({ limits: { memoryMb: 1024, cpuPercent: 400, processes: 16 } })).toEqual({ memoryMb: 1024, cpuPercent: 400, processes: 16 });
  });

  it('grant options carry the base folder, the settings source and the ceilings', () => {
    const source: SettingsSource = { file: '/etc/s.yaml', locate: () => ({ line: 7, col: 3 }) };
    const settings = { limits: { processes: 20 }, [SETTINGS_SOURCE]: source };
    expect(grantOptions(settings, '/etc')).toEqual({ baseDir: '/etc', source, ceilings: { memoryMb: 256, cpuPercent: 100, processes: 20 } });
    expect(grantOptions({}, '/x')).toEqual({ baseDir: '/x', source: undefined, ceilings: DEFAULT_CEILINGS });
  });

  it('finds the settings source only on an object that has one', () => {
    const source: SettingsSource = { file: 'f', locate: () => ({ line: 1, col: 1 }) };
    expect(settingsSource({ [SETTINGS_SOURCE]: source })).toBe(source);
    expect(settingsSource({})).toBeUndefined();
    expect(settingsSource(null)).toBeUndefined();
    expect(settingsSource('x')).toBeUndefined();
    expect(settingsSource(undefined)).toBeUndefined();
  });

  it('reads the grants table only when it is an object (not a list, a string or null)', () => {
    const g = { a: { manifest: 'any' } };
    expect(grantsOf({ grants: g })).toBe(g);
    expect(grantsOf({ grants: [g] })).toEqual({});
    expect(grantsOf({ grants: 'a' })).toEqual({});
    expect(grantsOf({ grants: null })).toEqual({});
    expect(grantsOf({})).toEqual({});
  });
});

describe('reviewing a manifest against its grant', () => {
  it('without a grant: refused, with a ready-to-paste grant in the message; an inherited name is no grant', () => {
    for (const name of ['ext', 'constructor', 'toString', '__proto__']) {
      const m = manifest({ name, provides: ['e.x'] });
      const r = reviewGrant(m, {}, opts());
      expect(r.effective).toBeUndefined();
      expect(r.grant).toBeUndefined();
      expect(r.problems).toEqual([
        {
          extension: name,
          file: '(the orchestra settings)',
          line: 1,
          col: 1,
          message: `extension '${name}' (/exts/${name}/package.json) has no grant, so it is not loaded: a manifest only asks, the operator grants. To grant what it asks, add under the orchestra's with.grants:\n  ${name}:\n    manifest: ${PIN}\n    execution: isolated\n    provides: [e.x]`,
        },
      ]);
      expect(r.asks).toEqual([
        { right: 'execution', field: ['symphony', 'execution'], value: 'isolated', granted: true },
        { right: 'provides', field: ['symphony', 'provides', 0], value: 'e.x', granted: false },
      ]);
    }
  });

  it('lists every right asked, with its manifest field, and whether the grant gives it', () => {
    const m = manifest({
      provides: ['e.a', 'e.b'],
      calls: ['kernel.ran'],
      publishes: ['e.done'],
      subscribes: ['other.*'],
      permissions: { fsRead: ['/data/in'], fsWrite: ['/data/out'], net: true, childProcess: true, workers: true },
      limits: { memoryMb: 128, activationMs: 10_000, cpuPercent: 50, processes: 32 },
    });
    const g: Grant = { manifest: PIN, provides: ['e.*'], calls: ['kernel.>'], subscribes: ['other.x'], fsRead: ['/data'], net: true, workers: false, limits: { memoryMb: 128 } };
    const r = reviewGrant(m, { ext: g }, opts());
    expect(r.asks).toEqual([
      { right: 'execution', field: ['symphony', 'execution'], value: 'isolated', granted: true },
      { right: 'provides', field: ['symphony', 'provides', 0], value: 'e.a', granted: true },
      { right: 'provides', field: ['symphony', 'provides', 1], value: 'e.b', granted: true },
      { right: 'calls', field: ['symphony', 'calls', 0], value: 'kernel.ran', granted: true },
      { right: 'publishes', field: ['symphony', 'publishes', 0], value: 'e.done', granted: false },
      { right: 'subscribes', field: ['symphony', 'subscribes', 0], value: 'other.*', granted: false },
      { right: 'fsRead', field: ['symphony', 'permissions', 'fsRead', 0], value: '/data/in', granted: true },
      { right: 'fsWrite', field: ['symphony', 'permissions', 'fsWrite', 0], value: '/data/out', granted: false },
      { right: 'net', field: ['symphony', 'permissions', 'net'], value: true, granted: true },
      { right: 'childProcess', field: ['symphony', 'permissions', 'childProcess'], value: true, granted: false },
      { right: 'workers', field: ['symphony', 'permissions', 'workers'], value: true, granted: false },
      { right: 'limits', field: ['symphony', 'limits', 'memoryMb'], value: 128, granted: true },
      { right: 'limits', field: ['symphony', 'limits', 'cpuPercent'], value: 50, granted: true },
      { right: 'limits', field: ['symphony', 'limits', 'processes'], value: 32, granted: true },
    ]);
    expect(messages(r)).toEqual([
      `extension 'ext' refused: it asks publishes "e.done", which its grant does not give: add it to grants.ext.publishes if you trust it with that`,
      `extension 'ext' refused: it asks subscribes "other.*", which its grant does not give: add it to grants.ext.subscribes if you trust it with that`,
      `extension 'ext' refused: it asks fsWrite "/data/out", which its grant does not give: add it to grants.ext.fsWrite if you trust it with that`,
      `extension 'ext' refused: it asks childProcess true, which its grant does not give: add it to grants.ext.childProcess if you trust it with that`,
      `extension 'ext' refused: it asks workers true, which its grant does not give: add it to grants.ext.workers if you trust it with that`,
    ]);
    expect(r.effective).toBeUndefined();
    expect(r).toMatchObject({ name: 'ext', version: '1.0.0', dir: '/exts/ext', pin: PIN, grant: g });
  });

  it('flags not asked are not listed, and a flag granted as anything but true is not given', () => {
    const m = manifest({ permissions: { fsRead: [], fsWrite: [], net: true, childProcess: false, workers: false } });
    expect(reviewGrant(m, { ext: { manifest: PIN, childProcess: true, workers: true } }, opts()).asks.map((a) => a.right)).toEqual(['execution', 'net']);
    const loose = reviewGrant(m, { ext: { manifest: PIN, net: 'yes' as never } }, opts());
    expect(messages(loose)).toEqual([`extension 'ext' refused: it asks net true, which its grant does not give: add it to grants.ext.net if you trust it with that`]);
  });

  it('grants exactly what was asked when everything is covered: never more, and its own copies', () => {
    const m = manifest({ provides: ['e.a'], calls: ['kernel.ran'], publishes: ['p.x'], subscribes: ['s.*'], permissions: { fsRead: ['/data/in'], fsWrite: ['/data/out'], net: false, childProcess: false, workers: false } });
    const g: Grant = { manifest: PIN, provides: ['e.>', 'more.x'], calls: ['>'], publishes: ['p.x'], subscribes: ['>'], fsRead: ['/'], fsWrite: ['/'], net: true, childProcess: true, workers: true, limits: { memoryMb: 512, cpuPercent: 300, processes: 100 } };
    const r = reviewGrant(m, { ext: g }, opts());
    expect(r.problems).toEqual([]);
    expect(r.effective).toEqual({
      ...m,
      permissions: { fsRead: ['/data/in'], fsWrite: ['/data/out'], net: false, childProcess: false, workers: false },
      limits: { memoryMb: 512, activationMs: 10_000, cpuPercent: 300, processes: 100 },
    });
    for (const k of ['provides', 'calls', 'publishes', 'subscribes'] as const) expect(r.effective![k]).not.toBe(m[k]);
    expect(r.effective!.permissions).not.toBe(m.permissions);
    expect(r.effective!.permissions.fsRead).not.toBe(m.permissions.fsRead);
    expect(r.effective!.permissions.fsWrite).not.toBe(m.permissions.fsWrite);
  });

  it('an isolated extension asking no limits runs at the ceilings: the grant\'s, else the operator\'s, else the defaults', () => {
    const m = manifest();
    const limits = (g: Grant, o = opts()) => reviewGrant(m, { ext: g }, o).effective!.limits;
    expect(limits({ manifest: PIN })).toEqual({ memoryMb: 256, activationMs: 10_000, cpuPercent: 100, processes: 64 });
    expect(limits({ manifest: PIN }, opts({ ceilings: { memoryMb: 90, cpuPercent: 20, processes: 17 } }))).toEqual({ memoryMb: 90, activationMs: 10_000, cpuPercent: 20, processes: 17 });
    expect(limits({ manifest: PIN, limits: { cpuPercent: 30 } }, opts({ ceilings: { memoryMb: 90, cpuPercent: 20, processes: 17 } }))).toEqual({ memoryMb: 90, activationMs: 10_000, cpuPercent: 30, processes: 17 });
    const asked = manifest({ limits: { memoryMb: 70, activationMs: 500, cpuPercent: 5, processes: 16 } });
    expect(reviewGrant(asked, { ext: { manifest: PIN } }, opts()).effective!.limits).toEqual({ memoryMb: 70, activationMs: 500, cpuPercent: 5, processes: 16 });
  });

  it('a limit asked at its ceiling is granted; one over it is refused, naming whose ceiling it is', () => {
    const at = manifest({ limits: { memoryMb: 256, activationMs: 10_000, cpuPercent: 100, processes: 64 } });
    expect(reviewGrant(at, { ext: { manifest: PIN } }, opts()).problems).toEqual([]);
    const over = manifest({ limits: { memoryMb: 257, activationMs: 10_000, cpuPercent: 101, processes: 65 } });
    expect(messages(reviewGrant(manifest({ limits: { memoryMb: 300, activationMs: 10_000 } }), { ext: { manifest: PIN } }, opts()))).toEqual([
      "extension 'ext' refused: it asks limits.memoryMb 300, over the operator's default ceiling of 256 for isolated extensions (its grant sets none): grant it with grants.ext.limits.memoryMb: 300, raise the orchestra's limits.memoryMb, or lower the manifest's",
    ]);
    expect(messages(reviewGrant(over, { ext: { manifest: PIN, limits: { cpuPercent: 100 } } }, opts({ ceilings: { memoryMb: 256, cpuPercent: 400, processes: 64 } })))).toEqual([
      "extension 'ext' refused: it asks limits.memoryMb 257, over the operator's default ceiling of 256 for isolated extensions (its grant sets none): grant it with grants.ext.limits.memoryMb: 257, raise the orchestra's limits.memoryMb, or lower the manifest's",
      "extension 'ext' refused: it asks limits.cpuPercent 101, over the grant's ceiling of 100: raise grants.ext.limits.cpuPercent or lower the manifest's",
      "extension 'ext' refused: it asks limits.processes 65, over the operator's default ceiling of 64 for isolated extensions (its grant sets none): grant it with grants.ext.limits.processes: 65, raise the orchestra's limits.processes, or lower the manifest's",
    ]);
  });

  it('in-process code has no process to bound: no default ceiling, but a grant\'s own ceiling still holds', () => {
    const m = manifest({ execution: 'in-process', limits: { memoryMb: 100_000, activationMs: 10_000 } });
    const free = reviewGrant(m, { ext: { manifest: PIN, execution: 'in-process' } }, opts());
    expect(free.problems).toEqual([]);
    expect(free.effective!.limits).toEqual({ memoryMb: 100_000, activationMs: 10_000, cpuPercent: undefined, processes: undefined });
    expect(reviewGrant(manifest({ execution: 'in-process' }), { ext: { manifest: PIN, execution: 'in-process' } }, opts()).effective!.limits).toEqual({ memoryMb: undefined, activationMs: 10_000, cpuPercent: undefined, processes: undefined });
    const capped = reviewGrant(m, { ext: { manifest: PIN, execution: 'in-process', limits: { memoryMb: 512 } } }, opts());
    expect(messages(capped)).toEqual(["extension 'ext' refused: it asks limits.memoryMb 100000, over the grant's ceiling of 512: raise grants.ext.limits.memoryMb or lower the manifest's"]);
  });

  it('in-process only with an in-process grant; an isolated one needs no execution in its grant', () => {
    const m = manifest({ execution: 'in-process' });
    const refused = reviewGrant(m, { ext: { manifest: PIN } }, opts());
    expect(messages(refused)).toEqual(["extension 'ext' refused: it asks to run in-process, which is full trust (no sandbox): grant it with grants.ext.execution: in-process, or make it isolated"]);
    expect(messages(reviewGrant(m, { ext: { manifest: PIN, execution: 'isolated' } }, opts()))).toEqual(messages(refused));
    expect(reviewGrant(m, { ext: { manifest: PIN, execution: 'in-process' } }, opts()).problems).toEqual([]);
    expect(reviewGrant(manifest(), { ext: { manifest: PIN, execution: 'isolated' } }, opts()).problems).toEqual([]);
  });

  it('files: a granted folder covers what is inside it, not a sibling sharing its prefix, nor a symlink leading out', () => {
    const data = join(tmp, 'data');
    mkdirSync(join(data, 'in'), { recursive: true });
    mkdirSync(join(tmp, 'data2'), { recursive: true });
    mkdirSync(join(tmp, 'secret'), { recursive: true });
    symlinkSync(join(tmp, 'secret'), join(data, 'escape'));
    symlinkSync(data, join(tmp, 'data-link'));
    const ask = (paths: string[], g: Omit<Grant, 'manifest'>, o = opts()) => reviewGrant(manifest({ permissions: { fsRead: paths, fsWrite: [], net: false, childProcess: false, workers: false } }), { ext: { manifest: PIN, ...g } }, o).asks.filter((a) => a.right === 'fsRead').map((a) => a.granted);
    expect(ask([data, join(data, 'in'), join(data, 'in', 'not-yet'), join(tmp, 'data2'), join(data, 'escape'), tmp], { fsRead: [data] })).toEqual([true, true, true, false, false, false]);
    // Not there yet, under a link leading out (or a link to nothing yet): where the link leads, not inside.
    symlinkSync(join(tmp, 'nothing-yet'), join(data, 'dangling'));
    expect(ask([join(data, 'escape', 'later'), join(data, 'escape', 'a', 'b'), join(data, 'dangling'), join(data, 'dangling', 'x')], { fsRead: [data] })).toEqual([false, false, false, false]);
    // Relative grant paths are the config folder's; a grant through a symlink is the folder it leads to.
    expect(ask([join(data, 'in')], { fsRead: ['data'] })).toEqual([true]);
    expect(ask([join(data, 'in')], { fsRead: ['data'] }, opts({ baseDir: '/' }))).toEqual([false]);
    expect(ask([join(data, 'in')], { fsRead: [join(tmp, 'data-link')] })).toEqual([true]);
    expect(ask([join(tmp, 'data-link', 'in')], { fsRead: [data] })).toEqual([true]);
    expect(ask(['/etc/passwd'], { fsRead: ['/'] })).toEqual([true]);
    expect(ask([data], { fsRead: [`${data}/`] })).toEqual([true]);
    // A grant for writing is not one for reading.
    expect(ask([data], { fsWrite: [data] })).toEqual([false]);
  });

  it('a pin that does not match: refused at the grant, saying what it asks beyond and what is granted but no longer asked', () => {
    const m = manifest({ provides: ['e.a'], calls: ['kernel.ran', 'kernel.secret'] });
    const g: Grant = { manifest: OTHER_PIN, provides: ['e.a', 'e.old'], calls: ['kernel.ran'], subscribes: ['s.x'] };
    expect(messages(reviewGrant(m, { ext: g }, opts()))).toEqual([
      `extension 'ext': its manifest (/exts/ext/package.json) is not the one this grant was given for (${OTHER_PIN}); it is now ${PIN}. It asks beyond the grant: calls "kernel.secret"; granted but no longer asked: provides "e.old", subscribes "s.x". Review it and set grants.ext.manifest: ${PIN}`,
      `extension 'ext' refused: it asks calls "kernel.secret", which its grant does not give: add it to grants.ext.calls if you trust it with that`,
    ]);
    const same = { ...g, calls: ['kernel.>'], provides: ['e.a'], subscribes: [] };
    expect(messages(reviewGrant(m, { ext: same }, opts()))).toEqual([
      `extension 'ext': its manifest (/exts/ext/package.json) is not the one this grant was given for (${OTHER_PIN}); it is now ${PIN}. It asks beyond the grant: nothing; granted but no longer asked: nothing. Review it and set grants.ext.manifest: ${PIN}`,
    ]);
    const more = manifest({ provides: ['e.a', 'e.b'], calls: ['kernel.ran', 'kernel.secret'] });
    expect(messages(reviewGrant(more, { ext: g }, opts()))[0]).toBe(
      `extension 'ext': its manifest (/exts/ext/package.json) is not the one this grant was given for (${OTHER_PIN}); it is now ${PIN}. It asks beyond the grant: provides "e.b", calls "kernel.secret"; granted but no longer asked: provides "e.old", subscribes "s.x". Review it and set grants.ext.manifest: ${PIN}`,
    );
    expect(messages(reviewGrant(m, { ext: { ...same, manifest: undefined } as unknown as Grant }, opts()))[0]).toBe(
      `extension 'ext': its manifest (/exts/ext/package.json) is not the one this grant was given for (no pin); it is now ${PIN}. It asks beyond the grant: nothing; granted but no longer asked: nothing. Review it and set grants.ext.manifest: ${PIN}`,
    );
    expect(messages(reviewGrant(m, { ext: { ...same, manifest: [OTHER_PIN, `sha256:${'c'.repeat(64)}`] } }, opts()))[0]).toContain(`(${OTHER_PIN}, sha256:${'c'.repeat(64)}); it is now ${PIN}`);
  });

  it('a pin matches as itself, as one of a list, or as any; never as a prefix or in other case', () => {
    const m = manifest();
    const ok = (manifestPin: Grant['manifest']) => reviewGrant(m, { ext: { manifest: manifestPin } }, opts()).problems.length === 0;
    expect([PIN, [OTHER_PIN, PIN], 'any', [OTHER_PIN, 'any'], PIN.slice(0, -1), PIN.toUpperCase(), OTHER_PIN, [], 'ANY', ''].map(ok)).toEqual([true, true, true, true, false, false, false, false, false, false]);
  });

  it('places each problem at the grant field it is about, else the grant, else the grants table', async () => {
    const text = 'paths: []\ngrants:\n  ext:\n    manifest: any\n    calls: [kernel.ran]\n  other: { manifest: any }\n';
    const src = await parseConfigSource('/etc/sys.yaml', text);
    const source: SettingsSource = { file: '/etc/sys.yaml', locate: (p, w) => src.locate(p, w) };
    const m = manifest({ calls: ['kernel.secret'], provides: ['e.a'] });
    const r = reviewGrant(m, { ext: { manifest: 'any', calls: ['kernel.ran'] }, other: { manifest: 'any' } }, opts({ source }));
    expect(r.problems.map((p) => `${p.file}:${p.line}:${p.col} ${p.extension}: ${p.message.match(/asks \w+/)![0]}`)).toEqual([
      // provides is not written in the grant: the grant's own key.
      '/etc/sys.yaml:3:3 ext: asks provides',
      '/etc/sys.yaml:5:5 ext: asks calls',
    ]);
    const none = reviewGrant(manifest({ name: 'third' }), { ext: { manifest: 'any' } }, opts({ source }));
    expect(none.problems.map((p) => `${p.file}:${p.line}:${p.col}`)).toEqual(['/etc/sys.yaml:2:1']);
    const pinned = reviewGrant(manifest(), { ext: { manifest: OTHER_PIN } }, opts({ source }));
    expect(pinned.problems.map((p) => `${p.line}:${p.col}`)).toEqual(['4:5']);
  });
});

describe('grants naming no extension found', () => {
  it('are warnings at the grant, one per name, in the table\'s order', () => {
    const source: SettingsSource = { file: '/s.yaml', locate: (p) => ({ line: p.length * 10, col: String(p.at(-1)).length }) };
    const found = [{ name: 'a' }, { name: 'c' }];
    const grants: Record<string, Grant> = { a: { manifest: 'any' }, ghost: { manifest: 'any' }, c: { manifest: 'any' }, 'b-typo': { manifest: 'any' } };
    expect(unusedGrants(found, grants, opts({ source }))).toEqual([
      { extension: 'ghost', file: '/s.yaml', line: 20, col: 5, severity: 'warning', message: "a grant for extension 'ghost', but no extension of that name was found in the orchestra's paths (a typo, or an extension that was removed): it grants nothing" },
      { extension: 'b-typo', file: '/s.yaml', line: 20, col: 6, severity: 'warning', message: "a grant for extension 'b-typo', but no extension of that name was found in the orchestra's paths (a typo, or an extension that was removed): it grants nothing" },
    ]);
    expect(unusedGrants(found, { a: { manifest: 'any' } }, opts())).toEqual([]);
    expect(unusedGrants([], { z: { manifest: 'any' } }, opts()).map((p) => [p.file, p.line, p.col])).toEqual([['(the orchestra settings)', 1, 1]]);
  });
});

describe('two extensions providing one method', () => {
  it('the later one is refused, naming the first and both patterns; the first keeps serving', () => {
    const first = manifest({ name: 'first', provides: ['dup.hello', 'first.x'] });
    const second = manifest({ name: 'second', provides: ['second.x', 'dup.*'] });
    const third = manifest({ name: 'third', provides: ['third.x'] });
    const fourth = manifest({ name: 'fourth', provides: ['>'] });
    const r = refuseDuplicates([first, second, third, fourth]);
    expect(r.keep).toEqual([first, third]);
    expect(r.problems).toEqual([
      { extension: 'second', file: '/exts/second/package.json', line: 1, col: 1, message: "extension 'second' refused: it provides 'dup.*', which overlaps 'dup.hello' provided by 'first' (/exts/first/package.json), loaded first; two extensions cannot serve one method: remove it from one of them" },
      { extension: 'fourth', file: '/exts/fourth/package.json', line: 1, col: 1, message: "extension 'fourth' refused: it provides '>', which overlaps 'dup.hello' provided by 'first' (/exts/first/package.json), loaded first; two extensions cannot serve one method: remove it from one of them" },
    ]);
  });

  it('a refused extension does not refuse those after it; two versions of one extension do not clash', () => {
    const a = manifest({ name: 'a', provides: ['x.one'] });
    const b = manifest({ name: 'b', provides: ['x.*', 'y.one'] });
    const c = manifest({ name: 'c', provides: ['y.one'] });
    const a2 = manifest({ name: 'a', version: '2.0.0', provides: ['x.one'] });
    const r = refuseDuplicates([a, b, c, a2]);
    expect(r.keep).toEqual([a, c, a2]);
    expect(r.problems.map((p) => p.extension)).toEqual(['b']);
    expect(refuseDuplicates([])).toEqual({ keep: [], problems: [] });
  });
});

describe('the ready-to-paste grant', () => {
  it('gives exactly what the manifest asks, pinned, quoting what YAML would read as something else', () => {
    const m = manifest({
      name: 'paste',
      execution: 'in-process',
      provides: ['paste.a', 'paste.*'],
      calls: ['kernel.ran', 'yes', 'TRUE', 'No', 'null', 'off', 'On'],
      publishes: ['p-x_y/z', 'yesno', 'xtrue', '_a'],
      subscribes: ['>'],
      permissions: { fsRead: ['/data/in', 'rel/dir'], fsWrite: ['a b'], net: true, childProcess: false, workers: true },
      limits: { memoryMb: 128, activationMs: 10_000, cpuPercent: 50 },
    });
    expect(grantYaml(m)).toBe(
      [
        'paste:',
        `  manifest: ${PIN}`,
        '  execution: in-process',
        '  provides: [paste.a, "paste.*"]',
        '  calls: [kernel.ran, "yes", "TRUE", "No", "null", "off", "On"]',
        '  publishes: [p-x_y/z, yesno, xtrue, _a]',
        '  subscribes: [">"]',
        '  fsRead: ["/data/in", rel/dir]',
        '  fsWrite: ["a b"]',
        '  net: true',
        '  workers: true',
        '  limits: { memoryMb: 128, cpuPercent: 50 }', // every limit asked: a pasted grant is accepted as it is
      ].join('\n'),
    );
    expect(grantYaml(manifest({ calls: ['-a', '.a', 'a~', '~', 'a:b', 'a.b'] }), '    ')).toBe(['    ext:', `      manifest: ${PIN}`, '      execution: isolated', '      calls: ["-a", ".a", "a~", "~", "a:b", a.b]'].join('\n'));
    expect(grantFor(m)).toEqual({
      manifest: PIN,
      execution: 'in-process',
      provides: ['paste.a', 'paste.*'],
      calls: ['kernel.ran', 'yes', 'TRUE', 'No', 'null', 'off', 'On'],
      publishes: ['p-x_y/z', 'yesno', 'xtrue', '_a'],
      subscribes: ['>'],
      fsRead: ['/data/in', 'rel/dir'],
      fsWrite: ['a b'],
      net: true,
      workers: true,
      limits: { memoryMb: 128, cpuPercent: 50 },
    });
    // A grant made from a manifest asking past the operator's default ceilings is accepted as it is.
    const big = manifest({ limits: { memoryMb: 512, activationMs: 10_000, cpuPercent: 800, processes: 200 } });
    expect(messages(reviewGrant(big, { ext: grantFor(big) }, opts()))).toEqual([]);
    expect(grantFor(m).provides).not.toBe(m.provides);
    expect(grantFor(m).fsRead).not.toBe(m.permissions.fsRead);
  });

  it('for a manifest asking nothing: only the pin and the execution; the grant it writes is accepted', () => {
    const m = manifest({ permissions: { fsRead: [], fsWrite: [], net: false, childProcess: true, workers: false } });
    expect(grantYaml(m)).toBe(`ext:\n  manifest: ${PIN}\n  execution: isolated\n  childProcess: true`);
    expect(grantFor(m)).toEqual({ manifest: PIN, execution: 'isolated', childProcess: true });
    expect(grantFor(manifest())).toEqual({ manifest: PIN, execution: 'isolated' });
    const asks = manifest({ provides: ['e.x'], calls: ['k.*'], permissions: { fsRead: ['/data'], fsWrite: [], net: true, childProcess: false, workers: false }, limits: { memoryMb: 200, activationMs: 10_000 } });
    expect(reviewGrant(asks, { ext: grantFor(asks) }, opts()).problems).toEqual([]);
  });
});
