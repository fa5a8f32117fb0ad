/**
 * Manifest validation, on readManifest itself (real folders, no kernel): every problem with its
 * exact message at its package.json:LINE:COL, all in one run; the manifest returned when there is
 * none, with its defaults and absolute paths. Fast enough for the mutation run of manifest.ts.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { manifestPin } from '../../src/orchestra/grants.js';
import { isInside, locateInManifest, readManifest } from '../../src/orchestra/manifest.js';

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'symphony-manifest-mutants-')));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** An extension folder holding `text` as its package.json (and an empty index.js unless told). */
function folder(text: string, o: { main?: boolean } = {}): string {
  const dir = join(tmp, `ext${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), text);
  if (o.main !== false) writeFileSync(join(dir, 'index.js'), 'export default {};\n');
  return dir;
}

/** LINE:COL of the first occurrence of `needle` in `text`. */
function at(text: string, needle: string): string {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`'${needle}' is not in the text`);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

/** The problems of the manifest `text`, as `EXTENSION LINE:COL message`. */
async function problems(text: string, o: { main?: boolean } = {}): Promise<string[]> {
  const dir = folder(text, o);
  const r = await readManifest(dir);
  expect(r.manifest).toBeUndefined();
  for (const p of r.problems) expect(p.file).toBe(join(dir, 'package.json'));
  // An extension whose manifest does not pass is named after its folder.
  return r.problems.map((p) => `${p.extension === dir.split('/').at(-1) ? '(folder)' : p.extension} ${p.line}:${p.col} ${p.message}`);
}

const HEAD = '{"name":"x","version":"1.0.0",';

describe('a manifest that cannot be read', () => {
  it('a missing package.json is named, at 1:1, under the folder\'s name', async () => {
    const dir = join(tmp, 'nothing-here');
    mkdirSync(dir);
    const r = await readManifest(`${dir}/`);
    expect(r).toEqual({ problems: [{ extension: 'nothing-here', file: join(dir, 'package.json'), line: 1, col: 1, message: `cannot read the manifest: ENOENT: no such file or directory, open '${join(dir, 'package.json')}'` }] });
  });

  it('invalid JSON is named at the position of the fault', async () => {
    const text = '{"name":"x",\n"version":"1.0.0",\n "symphony":{';
    let why = '';
    try {
      JSON.parse(text);
    } catch (err) {
      why = (err as Error).message;
    }
    expect(await problems(text)).toEqual([`(folder) 3:14 package.json is not valid JSON: ${why}`]);
    // Not JSON, yet YAML the position parser reads: no position to point at.
    const yamlish = '{\n  "name": "x",\n  "version": 1.0.0\n}';
    let why2 = '';
    try {
      JSON.parse(yamlish);
    } catch (err) {
      why2 = (err as Error).message;
    }
    expect(await problems(yamlish)).toEqual([`(folder) 1:1 package.json is not valid JSON: ${why2}`]);
  });
});

describe('the schema: each problem with its message, at its position, all in one run', () => {
  it('not an object, or missing its fields', async () => {
    expect(await problems('[]', { main: false })).toEqual([`(folder) 1:1 missing field 'name'`, `(folder) 1:1 missing field 'version'`, `(folder) 1:1 missing field 'symphony'`]);
    expect(await problems('"x"', { main: false })).toEqual([`(folder) 1:1 Invalid type: Expected Object but received "x"`]);
    expect(await problems('{"name":"x","version":"1.0.0"}')).toEqual([`(folder) 1:1 missing field 'symphony'`]);
  });

  it('name, version, main and symphony of the wrong type or form', async () => {
    const t1 = '{"name":"X","version":"1.0","symphony":{}}';
    expect(await problems(t1)).toEqual([
      `(folder) ${at(t1, '"X"')} name must be lowercase letters, digits, ., _ or - (it is the extension's identity on the bus)`,
      `(folder) ${at(t1, '"1.0"')} version must be a semver version (e.g. 1.0.0)`,
    ]);
    const t2 = '{"name":1,"version":2,"main":3,"symphony":null}';
    expect(await problems(t2, { main: false })).toEqual([
      `(folder) ${at(t2, '1,')} name must be a string`,
      `(folder) ${at(t2, '2,')} version must be a string`,
      `(folder) ${at(t2, '3,')} main must be a string`,
      `(folder) ${at(t2, 'null')} symphony must be an object (the extension manifest)`,
    ]);
    for (const name of ['-x', '.x', 'x y', 'xY', '']) expect((await problems(`{"name":${JSON.stringify(name)},"version":"1.0.0","symphony":{}}`))[0], name).toMatch(/ name must be lowercase letters/);
    for (const name of ['x', '0', 'a.b_c-d9']) {
      const r = await readManifest(folder(`{"name":${JSON.stringify(name)},"version":"1.0.0","symphony":{}}`));
      expect(r.problems, name).toEqual([]);
    }
  });

  it('every kind and execution there is', async () => {
    for (const kind of ['instrument', 'operator', 'motif']) {
      for (const execution of ['in-process', 'isolated']) {
        const r = await readManifest(folder(`${HEAD}"symphony":{"kind":"${kind}","execution":"${execution}"}}`));
        expect([r.problems, r.manifest?.kind, r.manifest?.execution]).toEqual([[], kind, execution]);
      }
    }
  });

  it('symphony fields: unknown ones with a suggestion, bad kinds, bad execution', async () => {
    const t = `${HEAD}"symphony":{"provide":[],"kind":"k","execution":"e"}}`;
    const known = '(known: kind, execution, provides, calls, publishes, subscribes, permissions, activation, dependencies, limits, engine)';
    expect(await problems(t)).toEqual([
      `(folder) ${at(t, '"provide"')} unknown field 'symphony.provide' (did you mean 'provides'?) ${known}`,
      `(folder) ${at(t, '"k"')} kind must be instrument, operator or motif`,
      `(folder) ${at(t, '"e"')} execution must be in-process or isolated`,
    ]);
  });

  it('method patterns: lists of strings, each a valid pattern', async () => {
    const t = `${HEAD}"symphony":{"provides":"a","calls":[1],"publishes":["a..b"],"subscribes":["a.>.b"]}}`;
    expect(await problems(t)).toEqual([
      `(folder) ${at(t, '"a"')} provides must be a list of strings`,
      `(folder) ${at(t, '1]')} each entry of calls must be a string`,
      `(folder) ${at(t, '["a..b"]')} publishes entries must be dot-separated names, with * for one segment and > (last) for the rest`,
      `(folder) ${at(t, '["a.>.b"]')} subscribes entries must be dot-separated names, with * for one segment and > (last) for the rest`,
    ]);
    const ok = await readManifest(folder(`${HEAD}"symphony":{"provides":["x.*","x.a.>"],"calls":["*.b"],"publishes":["e"],"subscribes":[">"]}}`));
    expect(ok.problems).toEqual([]);
  });

  it('permissions', async () => {
    const t = `${HEAD}"symphony":{"permissions":{"fsRead":"/","fsWrite":[1],"net":"y","childProcess":1,"workers":null,"x":1}}}`;
    expect(await problems(t)).toEqual([
      `(folder) ${at(t, '"/"')} permissions.fsRead must be a list of paths`,
      `(folder) ${at(t, '[1]') .replace(/:(\d+)$/, (_, c) => `:${Number(c) + 1}`)} symphony.permissions.fsWrite.0: Invalid type: Expected string but received 1`,
      `(folder) ${at(t, '"y"')} permissions.net must be true or false`,
      `(folder) ${at(t, '1,"workers"')} permissions.childProcess must be true or false`,
      `(folder) ${at(t, 'null')} permissions.workers must be true or false`,
      `(folder) ${at(t, '"x":1')} unknown field 'symphony.permissions.x'`,
    ]);
    const w = `${HEAD}"symphony":{"permissions":{"fsWrite":"/"}}}`;
    expect(await problems(w)).toEqual([`(folder) ${at(w, '"/"')} permissions.fsWrite must be a list of paths`]);
    const t2 = `${HEAD}"symphony":{"permissions":"all"}}`;
    expect(await problems(t2)).toEqual([`(folder) ${at(t2, '"all"')} permissions must be an object { fsRead, fsWrite, net, childProcess, workers }`]);
  });

  it('activation and dependencies', async () => {
    const t = `${HEAD}"symphony":{"activation":[],"dependencies":{"a":"nope","b":1}}}`;
    expect(await problems(t)).toEqual([
      `(folder) ${at(t, '[]')} activation must not be empty`,
      `(folder) ${at(t, '"nope"')} each dependency must be a valid semver range (e.g. ^1.2.0)`,
      `(folder) ${at(t, '1}')} each dependency must be a semver range`,
    ]);
    const t2 = `${HEAD}"symphony":{"activation":["onStartup","x"],"dependencies":[1]}}`;
    expect(await problems(t2)).toEqual([`(folder) ${at(t2, '"x"]')} activation entries must be onStartup or onCall`, `(folder) ${at(t2, '"dependencies"')} each dependency must be a semver range`]);
    const t4 = `${HEAD}"symphony":{"dependencies":null}}`;
    expect(await problems(t4)).toEqual([`(folder) ${at(t4, 'null')} dependencies must be an object of name: semver range`]);
    const t3 = `${HEAD}"symphony":{"dependencies":"a"}}`;
    expect(await problems(t3)).toEqual([`(folder) ${at(t3, '"a"')} dependencies must be an object of name: semver range`]);
  });

  it('limits: types, whole numbers, and the floors and ceiling the sandbox needs', async () => {
    const types = `${HEAD}"symphony":{"limits":{"memoryMb":"1","cpuPercent":"1","processes":"1","activationMs":"1"}}}`;
    expect(await problems(types)).toEqual([
      `(folder) ${at(types, '"1","cpu')} limits.memoryMb must be a number`,
      `(folder) ${at(types, '"1","proc')} limits.cpuPercent must be a number`,
      `(folder) ${at(types, '"1","act')} limits.processes must be a number`,
      `(folder) ${at(types, '"1"}')} symphony.limits.activationMs: Invalid type: Expected number but received "1"`,
    ]);
    const low = `${HEAD}"symphony":{"limits":{"memoryMb":63,"cpuPercent":0,"processes":15,"activationMs":0}}}`;
    expect(await problems(low)).toEqual([
      `(folder) ${at(low, '63')} limits.memoryMb must be at least 64 (an extension process uses about 45 MB before it does anything: less could never start)`,
      `(folder) ${at(low, '0,')} limits.cpuPercent must be at least 1 (percent of one CPU)`,
      `(folder) ${at(low, '15')} limits.processes must be at least 16 (Node itself runs about a dozen threads)`,
      `(folder) ${at(low, '0}')} symphony.limits.activationMs: Invalid value: Expected >=1 but received 0`,
    ]);
    const odd = `${HEAD}"symphony":{"limits":{"memoryMb":64.5,"cpuPercent":6401,"processes":16.5,"zz":1}}}`;
    expect(await problems(odd)).toEqual([
      `(folder) ${at(odd, '64.5')} limits.memoryMb must be a whole number`,
      `(folder) ${at(odd, '6401')} limits.cpuPercent must be at most 6400`,
      `(folder) ${at(odd, '16.5')} limits.processes must be a whole number`,
      `(folder) ${at(odd, '"zz"')} unknown field 'symphony.limits.zz'`,
    ]);
    const t2 = `${HEAD}"symphony":{"limits":"big"}}`;
    expect(await problems(t2)).toEqual([`(folder) ${at(t2, '"big"')} limits must be an object { memoryMb, activationMs, cpuPercent, processes }`]);
    // The bounds themselves are allowed.
    const edge = await readManifest(folder(`${HEAD}"symphony":{"limits":{"memoryMb":64,"cpuPercent":6400,"processes":16,"activationMs":1}}}`));
    expect(edge.problems).toEqual([]);
    expect(edge.manifest!.limits).toEqual({ memoryMb: 64, activationMs: 1, cpuPercent: 6400, processes: 16 });
    expect((await readManifest(folder(`${HEAD}"symphony":{"limits":{"cpuPercent":1}}}`))).manifest!.limits.cpuPercent).toBe(1);
  });

  it('engine', async () => {
    const t = `${HEAD}"symphony":{"engine":"nope"}}`;
    expect(await problems(t)).toEqual([`(folder) ${at(t, '"nope"')} engine must be a semver range over Symphony versions`]);
    const t2 = `${HEAD}"symphony":{"engine":1}}`;
    expect(await problems(t2)).toEqual([`(folder) ${at(t2, '1}')} symphony.engine: Invalid type: Expected string but received 1`]);
  });
});

describe('checks on the manifest as written', () => {
  it('dependency names an extension cannot have', async () => {
    const t = `${HEAD}"symphony":{"dependencies":{"__proto__":"^1","constructor":"^1","prototype":"^1","ok":"^1"}}}`;
    const dir = folder(t);
    const r = await readManifest(dir);
    expect(r.manifest).toBeUndefined();
    expect(r.draft).toMatchObject({ name: 'x', version: '1.0.0' });
    // Each at its value (the "^1" after the key).
    const valueOf = (k: string) => at(t, `"${k}":"^1"`).replace(/:(\d+)$/, (_, c: string) => `:${Number(c) + k.length + 3}`);
    expect(r.problems.map((p) => `${p.extension} ${p.line}:${p.col} ${p.message}`)).toEqual(
      ['__proto__', 'constructor', 'prototype'].map((k) => `x ${valueOf(k)} dependency name '${k}' is a reserved name: no extension can be called that`),
    );
  });

  it("provides in the system's namespaces, even next to schema problems; the others load", async () => {
    const t = `${HEAD}"symphony":{"provides":["melody.run", ">", 3, "x.ok"]}}`;
    // The schema did not pass (3 is no string), so the folder names the extension.
    const e = await problems(t);
    expect(e).toEqual([
      `(folder) ${at(t, '"melody.run"')} provides 'melody.run' is in the reserved namespace 'melody.' (the system's own methods): no extension may provide it, whatever its grant says`,
      `(folder) ${at(t, '">"')} provides '>' reaches into the reserved namespace 'symphony.' (the system's own methods): no extension may provide it, whatever its grant says`,
      `(folder) ${at(t, '3,')} each entry of provides must be a string`,
    ]);
  });

  it('main: missing, or leading out of the folder (by .. or by a symlink)', async () => {
    const t = `${HEAD}"main":"gone.js","symphony":{}}`;
    const dir = folder(t);
    const r = await readManifest(dir);
    expect(r.problems.map((p) => `${p.extension} ${p.line}:${p.col} ${p.message}`)).toEqual([`x ${at(t, '"gone.js"')} main 'gone.js' does not exist (looked for ${join(dir, 'gone.js')})`]);
    expect(r.draft!.main).toBe(join(dir, 'gone.js'));
    const none = folder(`${HEAD}"symphony":{}}`, { main: false });
    expect((await readManifest(none)).problems.map((p) => `${p.line}:${p.col} ${p.message}`)).toEqual([`1:1 main 'index.js' does not exist (looked for ${join(none, 'index.js')})`]);
    const up = `${HEAD}"main":"../../../../../../../../etc/hostname","symphony":{}}`;
    expect(await problems(up)).toEqual([`x ${at(up, '"../')} main '../../../../../../../../etc/hostname' leads out of the extension folder (to ${realpathSync('/etc/hostname')})`]);
    const outside = join(tmp, 'outside.js');
    writeFileSync(outside, '');
    const link = `${HEAD}"main":"link.js","symphony":{}}`;
    const dir2 = folder(link);
    symlinkSync(outside, join(dir2, 'link.js'));
    expect((await readManifest(dir2)).problems.map((p) => p.message)).toEqual([`main 'link.js' leads out of the extension folder (to ${outside})`]);
    // A sibling folder sharing the folder's name as a prefix is outside it too.
    const dir3 = folder(`${HEAD}"main":"../sib-x/index.js","symphony":{}}`);
    mkdirSync(`${dir3}-sib`, { recursive: true });
    const sib = `${dir3}x`;
    mkdirSync(sib);
    writeFileSync(join(sib, 'index.js'), '');
    writeFileSync(join(dir3, 'package.json'), `${HEAD}"main":"../${sib.split('/').at(-1)}/index.js","symphony":{}}`);
    expect((await readManifest(dir3)).problems.map((p) => p.message)).toEqual([`main '../${sib.split('/').at(-1)}/index.js' leads out of the extension folder (to ${join(sib, 'index.js')})`]);
    // Inside, through a subfolder: fine.
    const dir4 = folder(`${HEAD}"main":"lib/main.js","symphony":{}}`);
    mkdirSync(join(dir4, 'lib'));
    writeFileSync(join(dir4, 'lib', 'main.js'), '');
    expect((await readManifest(dir4)).manifest!.main).toBe(join(dir4, 'lib', 'main.js'));
  });

  it('activation onCall needs something to call', async () => {
    const t = `${HEAD}"symphony":{"activation":["onCall"]}}`;
    expect(await problems(t)).toEqual([`x ${at(t, '["onCall"]')} activation onCall needs at least one method in provides (the first call to one of them starts the extension)`]);
    expect((await readManifest(folder(`${HEAD}"symphony":{"activation":["onCall"],"provides":["x.a"]}}`))).problems).toEqual([]);
    expect((await readManifest(folder(`${HEAD}"symphony":{"activation":["onStartup"]}}`))).problems).toEqual([]);
  });

  it('come together with the schema\'s, sorted by line then column', async () => {
    const t = `{"name":"x","version":"1.0.0","main":"gone.js",\n "symphony":{"provides":["pit.x"],\n  "kind":"k"}}`;
    // Pushed schema first, then the checks as written; given back in the file's order.
    expect(await problems(t)).toEqual([
      `(folder) ${at(t, '"gone.js"')} main 'gone.js' does not exist (looked for ${join(tmp, `ext${n - 1}`, 'gone.js')})`,
      `(folder) ${at(t, '"pit.x"')} provides 'pit.x' is in the reserved namespace 'pit.' (the system's own methods): no extension may provide it, whatever its grant says`,
      `(folder) ${at(t, '"k"')} kind must be instrument, operator or motif`,
    ]);
  });

  it('valid JSON the position parser refuses (a duplicate key) still gets its problems, at 1:1', async () => {
    expect(await problems('{"name":"x","name":"y","version":"1","symphony":{}}')).toEqual([`(folder) 1:1 version must be a semver version (e.g. 1.0.0)`]);
  });
});

describe('a valid manifest', () => {
  it('with its defaults filled in, its paths absolute and its pin over what was written', async () => {
    const text = '{ "name": "plain", "version": "2.1.0", "type": "module", "symphony": {} }';
    const dir = folder(text);
    const r = await readManifest(dir);
    expect(r).toEqual({
      problems: [],
      manifest: {
        name: 'plain',
        version: '2.1.0',
        dir,
        file: join(dir, 'package.json'),
        main: join(dir, 'index.js'),
        kind: 'instrument',
        execution: 'isolated',
        provides: [],
        calls: [],
        publishes: [],
        subscribes: [],
        permissions: { fsRead: [], fsWrite: [], net: false, childProcess: false, workers: false },
        activation: ['onStartup'],
        dependencies: {},
        limits: { memoryMb: undefined, activationMs: 10_000, cpuPercent: undefined, processes: undefined },
        engine: undefined,
        pin: manifestPin({ name: 'plain', version: '2.1.0', symphony: {} }),
      },
    });
  });

  it('with everything it asks, as written; the folder as its real path', async () => {
    const symphony = {
      kind: 'operator',
      execution: 'in-process',
      provides: ['full.a'],
      calls: ['kernel.ran'],
      publishes: ['full.done'],
      subscribes: ['other.*'],
      permissions: { fsRead: ['data', '/abs'], fsWrite: ['./out'], net: true, childProcess: true, workers: true },
      activation: ['onCall', 'onStartup'],
      dependencies: { base: '^1.0.0' },
      limits: { memoryMb: 96, activationMs: 500, cpuPercent: 25, processes: 20 },
      engine: '>=0.1.0',
    };
    const real = folder(JSON.stringify({ name: 'full', version: '1.0.0', main: 'index.js', symphony }));
    const via = join(tmp, 'via-link');
    symlinkSync(real, via);
    const r = await readManifest(via);
    expect(r.problems).toEqual([]);
    expect(r.manifest).toEqual({
      name: 'full',
      version: '1.0.0',
      dir: real,
      file: join(via, 'package.json'),
      main: join(via, 'index.js'),
      ...symphony,
      permissions: { fsRead: [join(via, 'data'), '/abs'], fsWrite: [join(via, 'out')], net: true, childProcess: true, workers: true },
      pin: manifestPin({ name: 'full', version: '1.0.0', symphony }),
    });
    expect(r.draft).toBeUndefined();
  });
});

describe('positions and folders', () => {
  it('locates a field of a manifest, else 1:1', async () => {
    const text = '{\n  "name": "x",\n  "symphony": { "provides": ["a.b", "c.d"] }\n}';
    const dir = folder(text);
    expect(await locateInManifest(join(dir, 'package.json'), ['symphony', 'provides', 1])).toEqual({ line: 3, col: Number(at(text, '"c.d"').split(':')[1]) });
    // At the value, not the key.
    expect(await locateInManifest(join(dir, 'package.json'), ['name'])).toEqual({ line: 2, col: Number(at(text, '"x"').split(':')[1]) });
    expect(await locateInManifest(join(dir, 'nope.json'), ['name'])).toEqual({ line: 1, col: 1 });
  });

  it('a path is inside a folder when it is the folder or below it, not when it only shares its prefix', () => {
    expect(isInside('/a', '/a')).toBe(true);
    expect(isInside('/a', '/a/b')).toBe(true);
    expect(isInside('/a/', '/a/b')).toBe(true);
    expect(isInside('/', '/etc')).toBe(true);
    expect(isInside('/a', '/ab')).toBe(false);
    expect(isInside('/a/b', '/a')).toBe(false);
    expect(isInside('/a', '/b/a')).toBe(false);
  });
});
