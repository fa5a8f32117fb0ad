/**
 * Grants: a manifest only asks, the operator's config grants. Each refusal is proven by what did
 * not happen (a marker its activate would write is absent, a kernel handler it would call got
 * nothing), with real configs, real extension folders and the real CLI. The grants here are
 * written out literally (pins included): these manifests are fixed, so their pins are too.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../src/bootstrap/index.js';
import type { Bus } from '../../src/bus/index.js';
import { kernelOptions, loadSystem } from '../../src/system/index.js';
import type { Orchestra } from '../../src/orchestra/index.js';

const root = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'symphony-grants-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes an extension folder: its package.json exactly as given (the pin is over it), and its code. */
function extension(name: string, manifest: string, code: string): void {
  const dir = join(tmp, 'ext', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), manifest);
  writeFileSync(join(dir, 'index.js'), code);
}

/** An activate that leaves traces if it ever runs: a marker file (in-process only) and a call to kernel.ran. */
const tattletale = (name: string, inProcess: boolean, extra = '') => `import { writeFileSync } from 'node:fs';
export default {
  async activate(ctx) {
    ${inProcess ? `writeFileSync(ctx.config.marker, 'ran');` : ''}
    await ctx.bus.request('kernel.ran', { who: '${name}' });
    ${extra}
    ctx.bus.handle('${name}.hello', () => 'hello from ${name}');
  },
};
`;

const marker = (name: string) => join(tmp, `${name}.ran`);

// The manifests (one line each, so a position in them is easy to read).
const M = {
  honest: '{ "name": "honest", "version": "1.0.0", "main": "index.js", "type": "module", "symphony": { "provides": ["honest.hello"], "calls": ["kernel.ran"] } }\n',
  greedy: '{ "name": "greedy", "version": "1.0.0", "main": "index.js", "type": "module", "symphony": { "execution": "in-process", "provides": ["greedy.hello"], "calls": [">"] } }\n',
  reader: '{ "name": "reader", "version": "1.0.0", "main": "index.js", "type": "module", "symphony": { "provides": ["reader.hello"], "calls": ["kernel.ran"], "permissions": { "fsRead": ["/"] } } }\n',
  // The manifest as it was granted (1.0.0), and as it is on disk now (1.1.0, asking for kernel.secret too).
  drifterOld: '{ "name": "drifter", "version": "1.0.0", "main": "index.js", "type": "module", "symphony": { "provides": ["drifter.hello"], "calls": ["kernel.ran"] } }\n',
  drifter: '{ "name": "drifter", "version": "1.1.0", "main": "index.js", "type": "module", "symphony": { "provides": ["drifter.hello"], "calls": ["kernel.ran", "kernel.secret"] } }\n',
  trusting: '{ "name": "trusting", "version": "1.0.0", "main": "index.js", "type": "module", "symphony": { "execution": "in-process", "provides": ["trusting.hello"], "calls": ["kernel.ran"] } }\n',
  first: '{ "name": "first", "version": "1.0.0", "main": "index.js", "type": "module", "symphony": { "execution": "in-process", "provides": ["dup.hello"], "calls": ["kernel.ran"] } }\n',
  second: '{ "name": "second", "version": "1.0.0", "main": "index.js", "type": "module", "symphony": { "execution": "in-process", "provides": ["dup.*"], "calls": ["kernel.ran"] } }\n',
};

/** The pins of the manifests above (sha256 of their canonical JSON), for the messages that show them. */
const PINS = {
  honest: 'bb7aebcb2901b3b1f43dfca3aa6e6e2340a34b2aa4c65b30f1cb16e975a9185f',
  drifterOld: '9f355a83ab3ac577b24863cec052b3c54ca28af0b477058f4a7ac803f69ef182',
  drifter: '06029d48236b2135a42814421d0ecf4e8499a7df398e3f70e7d3abef4152ff98',
  "hijack-melody": '5c637dae60e60bb9a2873a45336dc5784e436f13e37db80862615df0c95ad133',
  "hijack-report": 'e60938e314039308292bae5bb6df22bdb6197b1756972cef3c1a53d21551b640',
  "hijack-all": 'b8575bed5933b7e65db97d7f3131d8c157d691a2e5f28c84c590e8b10602872f',
};

// The operator's config: every grant literal, pins included.
const SYSTEM = (dir: string) => `components:
  bus: { use: builtin:bus, with: { listen: none } }
  orchestra:
    use: builtin:orchestra
    needs: [bus]
    with:
      paths: [./ext/honest, ./ext/greedy, ./ext/reader, ./ext/drifter, ./ext/trusting, ./ext/first, ./ext/second]
      config:
        greedy: { marker: ${dir}/greedy.ran }
        trusting: { marker: ${dir}/trusting.ran }
        first: { marker: ${dir}/first.ran }
        second: { marker: ${dir}/second.ran }
      grants:
        honest: { manifest: sha256:bb7aebcb2901b3b1f43dfca3aa6e6e2340a34b2aa4c65b30f1cb16e975a9185f, provides: [honest.hello], calls: [kernel.ran] }
        greedy: { manifest: sha256:3c30e146335591e3d18a6536d809e6398765d19926dadc9b32f3acf84f63e088, execution: in-process, provides: [greedy.hello], calls: [kernel.ran] }
        reader: { manifest: sha256:03d368d7a29f56e547eb164f5bcb07c43ded1c006099350b89539836b32741f1, provides: [reader.hello], calls: [kernel.ran] }
        drifter: { manifest: sha256:9f355a83ab3ac577b24863cec052b3c54ca28af0b477058f4a7ac803f69ef182, provides: [drifter.hello], calls: [kernel.ran] }
        trusting: { manifest: sha256:925f2dd92c2ac59fa8d453ca8204deb4448df9ee69e6d4c09cf48611fe1d86e2, provides: [trusting.hello], calls: [kernel.ran] }
        first: { manifest: sha256:e42464b022d06950cae0877ea621350eab3aee4d4a2f97f927074f6cd95a3773, execution: in-process, provides: [dup.hello], calls: [kernel.ran] }
        second: { manifest: sha256:ac3eeaf77239ca5bace9ea7b7511f4a35f9a15503ba99c47a1e0fa2d62c52d2f, execution: in-process, provides: ["dup.*"], calls: [kernel.ran] }
        ghost: { manifest: any, provides: [ghost.hello] }
`;

/** LINE:COL of the first occurrence of `needle` in `text`. */
function at(text: string, needle: string): string {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`'${needle}' is not in the text`);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

async function boot(file: string): Promise<{ k: Kernel; bus: Bus; orchestra: Orchestra; ran: string[]; secrets: string[] }> {
  const k = new Kernel(kernelOptions(await loadSystem(file)));
  const ran: string[] = [];
  const secrets: string[] = [];
  // Served before the Orchestra starts (its extensions call them from activate): handlers on the
  // bus as soon as it exists.
  k.on('event', (e) => {
    if (e.type === 'component' && e.component === 'bus' && e.state === 'ready') {
      const bus = k.get('bus') as Bus;
      bus.handle('kernel.ran', (p: { who: string }) => void ran.push(p.who));
      bus.handle('kernel.secret', (_p, ctx) => (secrets.push(ctx.peer), 'the crown jewels'));
    }
  });
  await k.start();
  return { k, bus: k.get('bus') as Bus, orchestra: k.get('orchestra') as Orchestra, ran, secrets };
}

describe('grants decided by the operator', () => {
  let file: string;
  let text: string;
  let k: Kernel;
  let bus: Bus;
  let orchestra: Orchestra;
  let ran: string[];
  let secrets: string[];
  const problem = (name: string) => orchestra.problems.filter((p) => p.extension === name).map((p) => `${p.file.split('/').at(-1)}:${p.line}:${p.col}: ${p.message}`);

  beforeAll(async () => {
    extension('honest', M.honest, tattletale('honest', false));
    extension('greedy', M.greedy, tattletale('greedy', true, "await ctx.bus.request('kernel.secret');"));
    extension('reader', M.reader, tattletale('reader', false));
    extension('drifter', M.drifter, tattletale('drifter', false, "await ctx.bus.request('kernel.secret');"));
    extension('trusting', M.trusting, tattletale('trusting', true));
    extension('first', M.first, tattletale('first', true).replace("'first.hello'", "'dup.hello'"));
    extension('second', M.second, tattletale('second', true).replace("'second.hello'", "'dup.hello'"));
    file = join(tmp, 'system.yaml');
    text = SYSTEM(tmp);
    writeFileSync(file, text);
    ({ k, bus, orchestra, ran, secrets } = await boot(file));
  }, 30_000);
  afterAll(async () => k?.stop());

  it('runs what is granted: the kernel handler hears from the honest extension (so its silence below means something)', async () => {
    expect(ran).toContain('honest');
    expect(await bus.request('honest.hello')).toBe('hello from honest');
    expect(orchestra.status().find((s) => s.name === 'honest')).toMatchObject({ state: 'active', execution: 'isolated' });
  });

  it("refuses calls ['>'] that the manifest grants itself: it never ran, kernel.secret was never called", () => {
    expect(existsSync(marker('greedy'))).toBe(false);
    expect(ran).not.toContain('greedy');
    expect(secrets).toEqual([]);
    expect(problem('greedy')).toEqual([`system.yaml:${at(text, 'calls: [kernel.ran] }\n        reader')}: extension 'greedy' refused: it asks calls ">", which its grant does not give: add it to grants.greedy.calls if you trust it with that`]);
    expect(orchestra.status().find((s) => s.name === 'greedy')!.state).toBe('rejected');
  });

  it("refuses fsRead '/' asked and not granted: it never ran", async () => {
    expect(ran).not.toContain('reader');
    expect(problem('reader')).toEqual([`system.yaml:${at(text, 'reader: { manifest')}: extension 'reader' refused: it asks fsRead "/", which its grant does not give: add it to grants.reader.fsRead if you trust it with that`]);
    await expect(bus.request('reader.hello')).rejects.toMatchObject({ code: -32601 });
  });

  it('refuses a manifest that changed since its grant, showing the new pin and what it now asks', () => {
    expect(ran).not.toContain('drifter');
    expect(secrets).toEqual([]);
    const [pin, beyond] = problem('drifter');
    expect(pin).toBe(
      `system.yaml:${at(text, `manifest: sha256:${PINS.drifterOld}`)}: extension 'drifter': its manifest (${join(tmp, 'ext/drifter/package.json')}) is not the one this grant was given for (sha256:${PINS.drifterOld}); it is now sha256:${PINS.drifter}. ` +
        `It asks beyond the grant: calls "kernel.secret"; granted but no longer asked: nothing. Review it and set grants.drifter.manifest: sha256:${PINS.drifter}`,
    );
    expect(beyond).toMatch(/extension 'drifter' refused: it asks calls "kernel.secret", which its grant does not give/);
  });

  it('refuses in-process asked without an in-process grant (never promoted to trusted): it never ran', () => {
    expect(existsSync(marker('trusting'))).toBe(false);
    expect(ran).not.toContain('trusting');
    expect(problem('trusting')).toEqual([expect.stringMatching(new RegExp(`^system.yaml:${at(text, 'trusting: { manifest')}: extension 'trusting' refused: it asks to run in-process, which is full trust \\(no sandbox\\)`))]);
  });

  it('warns about a grant for an extension that does not exist, at its FILE:LINE:COL', () => {
    expect(orchestra.problems.filter((p) => p.extension === 'ghost')).toEqual([
      { extension: 'ghost', file, line: Number(at(text, 'ghost:').split(':')[0]), col: Number(at(text, 'ghost:').split(':')[1]), severity: 'warning', message: "a grant for extension 'ghost', but no extension of that name was found in the orchestra's paths (a typo, or an extension that was removed): it grants nothing" },
    ]);
    expect(orchestra.status().some((s) => s.name === 'ghost')).toBe(false);
  });

  it('refuses the later of two extensions providing one method, naming both; the first still serves; the Orchestra says it is degraded and why', async () => {
    expect(existsSync(marker('first'))).toBe(true);
    expect(existsSync(marker('second'))).toBe(false);
    expect(ran.filter((w) => w === 'second')).toEqual([]);
    expect(await bus.request('dup.hello')).toBe('hello from first');
    const second = orchestra.status().find((s) => s.name === 'second')!;
    expect(second).toMatchObject({ state: 'rejected', error: expect.stringContaining("extension 'second' refused: it provides 'dup.*', which overlaps 'dup.hello' provided by 'first'") });
    expect(k.states().find((s) => s.name === 'orchestra')!.state).toBe('degraded');
    const health = k.report!.components.find((c) => c.name === 'orchestra')!.health as { down?: string[] } | string;
    expect(JSON.stringify(health)).toContain("second: rejected (extension 'second' refused: it provides 'dup.*'");
  });

  it('holds a reload to the grant: a manifest changed after boot to ask for more is refused, and the old one keeps serving', async () => {
    writeFileSync(join(tmp, 'ext/honest/package.json'), M.honest.replace('"calls": ["kernel.ran"]', '"calls": ["kernel.ran", "kernel.secret"]'));
    writeFileSync(join(tmp, 'ext/honest/index.js'), tattletale('honest', false, "await ctx.bus.request('kernel.secret');").replace("'hello from honest'", "'hello from the new honest'"));
    const before = ran.length;
    await expect(orchestra.reload('honest')).rejects.toThrow(/not reloading 'honest': .*system\.yaml:\d+:\d+: extension 'honest': its manifest .* is not the one this grant was given for/);
    expect(secrets).toEqual([]);
    expect(ran.length).toBe(before);
    expect(await bus.request('honest.hello')).toBe('hello from honest');
    writeFileSync(join(tmp, 'ext/honest/package.json'), M.honest);
    writeFileSync(join(tmp, 'ext/honest/index.js'), tattletale('honest', false));
  });

  it('symphony check (the real CLI) lists asked against granted for each extension, and every problem in one run, exit 2', async () => {
    const r = await cli(['check', '-c', file], tmp);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('orchestra (builtin:orchestra): 7 extensions found, 2 would load');
    expect(r.stdout).toMatch(/ {2}greedy 1\.0\.0 \(ext\/greedy\) sha256:[0-9a-f]{64}: REFUSED\n {4}execution +asked in-process +granted in-process\n {4}provides +asked greedy\.hello +granted greedy\.hello\n {4}calls +asked > +granted kernel\.ran +NOT GRANTED: >\n/);
    expect(r.stdout).toMatch(/ {2}honest 1\.0\.0 \(ext\/honest\) sha256:[0-9a-f]{64}: loads\n/);
    expect(r.stdout).toMatch(/ {4}fsRead +asked \/ +granted - +NOT GRANTED: \/\n/);
    // Each problem once, at its position, all together: manifests' and grants' (and the warning).
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('system.yaml:'))).toHaveLength(6);
    expect(lines.filter((l) => l.startsWith('ext/second/package.json:'))).toEqual([`ext/second/package.json:${at(M.second, '"dup.*"')}: extension 'second' refused: it provides 'dup.*', which overlaps 'dup.hello' provided by 'first' (${join(tmp, 'ext/first/package.json')}), loaded first; two extensions cannot serve one method: remove it from one of them`]);
    expect(r.stderr).toContain(`system.yaml:${at(text, 'ghost:')}: warning: a grant for extension 'ghost'`);
    expect(r.stderr).toContain(`system.yaml:${at(text, 'reader: { manifest')}: extension 'reader' refused: it asks fsRead "/"`);
    expect(r.stderr).toContain('symphony check: 6 problems with extensions or their grants');
  }, 20_000);
});

describe('reserved namespaces', () => {
  let k: Kernel;
  let bus: Bus;
  let orchestra: Orchestra;
  let ran: string[];
  const dir = join(tmp, 'reserved');
  const manifests = {
    'hijack-melody': '{ "name": "hijack-melody", "version": "1.0.0", "main": "index.js", "type": "module",\n  "symphony": { "execution": "in-process", "provides": ["melody.run"], "calls": ["kernel.ran"] } }\n',
    'hijack-report': '{ "name": "hijack-report", "version": "1.0.0", "main": "index.js", "type": "module",\n  "symphony": { "execution": "in-process", "provides": ["conductor.report"], "calls": ["kernel.ran"] } }\n',
    'hijack-all': '{ "name": "hijack-all", "version": "1.0.0", "main": "index.js", "type": "module",\n  "symphony": { "execution": "in-process", "provides": [">"], "calls": ["kernel.ran"] } }\n',
  };

  beforeAll(async () => {
    for (const [name, m] of Object.entries(manifests)) {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'package.json'), m);
      const method = JSON.parse(m).symphony.provides[0] === '>' ? 'melody.run' : JSON.parse(m).symphony.provides[0];
      writeFileSync(
        join(dir, name, 'index.js'),
        `import { writeFileSync } from 'node:fs';\nexport default { async activate(ctx) { writeFileSync(ctx.config.marker, 'ran'); await ctx.bus.request('kernel.ran', { who: '${name}' }); ctx.bus.handle('${method}', () => 'hijacked'); } };\n`,
      );
    }
    extension('honest', M.honest, tattletale('honest', false));
    const file = join(dir, 'system.yaml');
    // Granted in full by the operator: reserved names stay refused all the same.
    writeFileSync(
      file,
      `components:
  bus: { use: builtin:bus, with: { listen: none } }
  pit: { use: builtin:pit, needs: [bus], late: [conductor], with: { dataDir: ./pit } }
  orchestra:
    use: builtin:orchestra
    needs: [bus, pit]
    with:
      paths: [../ext/honest, ./hijack-melody, ./hijack-report, ./hijack-all]
      config:
        hijack-melody: { marker: ${dir}/hijack-melody.ran }
        hijack-report: { marker: ${dir}/hijack-report.ran }
        hijack-all: { marker: ${dir}/hijack-all.ran }
      grants:
        honest: { manifest: sha256:bb7aebcb2901b3b1f43dfca3aa6e6e2340a34b2aa4c65b30f1cb16e975a9185f, provides: [honest.hello], calls: [kernel.ran] }
        hijack-melody: { manifest: sha256:5c637dae60e60bb9a2873a45336dc5784e436f13e37db80862615df0c95ad133, execution: in-process, provides: [melody.run], calls: [kernel.ran] }
        hijack-report: { manifest: sha256:e60938e314039308292bae5bb6df22bdb6197b1756972cef3c1a53d21551b640, execution: in-process, provides: [conductor.report], calls: [kernel.ran] }
        hijack-all: { manifest: sha256:b8575bed5933b7e65db97d7f3131d8c157d691a2e5f28c84c590e8b10602872f, execution: in-process, provides: [">"], calls: [kernel.ran] }
  conductor: { use: builtin:conductor, needs: [orchestra] }
`,
    );
    ({ k, bus, orchestra, ran } = await boot(file));
  }, 30_000);
  afterAll(async () => k?.stop());

  it("refuses provides in the system's namespaces even when granted, at package.json:LINE:COL; none of them ran", () => {
    for (const name of Object.keys(manifests)) {
      expect(existsSync(join(dir, `${name}.ran`))).toBe(false);
      expect(ran).not.toContain(name);
      expect(orchestra.status().find((s) => s.name === name)!.state).toBe('rejected');
    }
    const at2 = (name: keyof typeof manifests, needle: string) => `${join(dir, name, 'package.json')}:${at(manifests[name], needle)}`;
    const messages = orchestra.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`);
    expect(messages).toContain(`${at2('hijack-melody', '"melody.run"')}: provides 'melody.run' is in the reserved namespace 'melody.' (the system's own methods): no extension may provide it, whatever its grant says`);
    expect(messages).toContain(`${at2('hijack-report', '"conductor.report"')}: provides 'conductor.report' is in the reserved namespace 'conductor.' (the system's own methods): no extension may provide it, whatever its grant says`);
    expect(messages).toContain(`${at2('hijack-all', '">"')}: provides '>' reaches into the reserved namespace 'symphony.' (the system's own methods): no extension may provide it, whatever its grant says`);
  });

  it("boots, and the real melody.run and conductor.report are the Conductor's", async () => {
    // Degraded, not failed: the Orchestra says which extensions it refused; the Conductor is up.
    expect(k.system).toBe('degraded');
    expect(k.states().find((s) => s.name === 'conductor')!.state).toBe('ready');
    const r = (await bus.request('melody.run', { melody: { melody: 'hello', steps: { greet: { call: 'honest.hello' } }, outputs: { said: '${steps.greet.output}' } } })) as { state: string; outputs: unknown };
    expect(r).toMatchObject({ state: 'succeeded', outputs: { said: 'hello from honest' } });
    expect(await bus.request('conductor.report', { events: [] })).not.toBe('hijacked');
  });
});

describe('a grant written wrong', () => {
  it('is named at its FILE:LINE:COL by the config check, with the keys a grant knows', async () => {
    const file = join(tmp, 'bad-grant.yaml');
    writeFileSync(
      file,
      `components:
  bus: { use: builtin:bus }
  orchestra:
    use: builtin:orchestra
    needs: [bus]
    with:
      paths: []
      grants:
        one: { manifest: sha256:abc, calls: ["a..b"], net: "yes", callz: [] }
        two: { provides: [two.x] }
`,
    );
    const r = await cli(['check', '-c', file], tmp);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      "bad-grant.yaml:9:26: in component 'orchestra' (builtin:orchestra): grants.one.manifest: manifest must be the pin of the manifest granted: sha256:<64 hex digits> (symphony grant PATH prints it), or any (got \"sha256:abc\")",
      "bad-grant.yaml:9:45: in component 'orchestra' (builtin:orchestra): grants.one.calls: calls entries must be dot-separated names, with * for one segment and > (last) for the rest (got Array)",
      "bad-grant.yaml:9:60: in component 'orchestra' (builtin:orchestra): grants.one.net: net must be true or false (got \"yes\")",
      "bad-grant.yaml:9:67: unknown key 'grants.one.callz' in the settings of builtin:orchestra (component 'orchestra') (did you mean 'calls'?) (known keys: manifest, execution, provides, calls, publishes, subscribes, fsRead, fsWrite, net, childProcess, workers, limits)",
      "bad-grant.yaml:10:9: in component 'orchestra' (builtin:orchestra): missing key 'grants.two.manifest': a grant is pinned to the manifest it was given for (symphony grant PATH prints the pin)",
    ]);
  });
});

describe("a manifest's problems and its grant's", () => {
  it('come in one run of symphony check: the reserved provides, the missing main and the ungranted call together', async () => {
    const dir = join(tmp, 'mixed');
    mkdirSync(join(dir, 'mixed'), { recursive: true });
    const manifest = '{ "name": "mixed", "version": "1.0.0", "main": "gone.js",\n  "symphony": { "provides": ["mixed.hello", "pit.status"], "calls": ["kernel.secret"] } }\n';
    writeFileSync(join(dir, 'mixed', 'package.json'), manifest);
    const config = `components:
  bus: { use: builtin:bus }
  orchestra:
    use: builtin:orchestra
    needs: [bus]
    with:
      paths: [./mixed]
      grants:
        mixed: { manifest: sha256:0000000000000000000000000000000000000000000000000000000000000000, provides: [mixed.hello] }
`;
    writeFileSync(join(dir, 'system.yaml'), config);
    const r = await cli(['check', '-c', join(dir, 'system.yaml')], dir);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    const prefixes = [
        `mixed/package.json:${at(manifest, '"gone.js"')}: main 'gone.js' does not exist`,
        `mixed/package.json:${at(manifest, '"pit.status"')}: provides 'pit.status' is in the reserved namespace 'pit.'`,
        `system.yaml:${at(config, 'manifest: sha256')}: extension 'mixed': its manifest`,
        `system.yaml:${at(config, 'provides: [mixed.hello]')}: extension 'mixed' refused: it asks provides "pit.status", which its grant does not give: add it`,
        `system.yaml:${at(config, 'mixed: {')}: extension 'mixed' refused: it asks calls "kernel.secret", which its grant does not give: add it`,
    ];
    expect(lines).toHaveLength(prefixes.length + 1);
    prefixes.forEach((p, i) => expect(lines[i]!.startsWith(p), `${lines[i]} starts with ${p}`).toBe(true));
    expect(lines.at(-1)).toBe('symphony check: 5 problems with extensions or their grants');
    expect(r.stdout).toMatch(/mixed 1\.0\.0 \(mixed\) sha256:[0-9a-f]{64}: REFUSED\n/);
  }, 20_000);
});

describe('symphony grant', () => {
  it('prints a ready-to-paste grant, pinned, that the Orchestra then accepts', async () => {
    const r = await cli(['grant', join(tmp, 'ext', 'honest')], tmp);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`honest:\n  manifest: sha256:${PINS.honest}\n  execution: isolated\n  provides: [honest.hello]\n  calls: [kernel.ran]\n`);
  });
});


function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [join(root, 'dist/cli/main.js'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('the rules a grant is checked by', () => {
  it('covers an asked pattern only with a granted one at least as wide', async () => {
    const { patternCovers } = await import('../../src/orchestra/grants.js');
    const yes: [string, string][] = [['text.>', 'text.stats'], ['text.>', 'text.*'], ['text.>', 'text.a.>'], ['text.*', 'text.stats'], ['text.*', 'text.*'], ['>', '>'], ['>', 'a.b'], ['a.b', 'a.b']];
    const no: [string, string][] = [['text.*', 'text.>'], ['text.stats', 'text.*'], ['text.*', 'text.a.b'], ['text.>', 'text'], ['kernel.ran', '>'], ['a.*', '*.b'], ['a.b', 'a.b.c'], ['a.b.c', 'a.b']];
    for (const [g, a] of yes) expect(patternCovers(g, a), `${g} covers ${a}`).toBe(true);
    for (const [g, a] of no) expect(patternCovers(g, a), `${g} does not cover ${a}`).toBe(false);
  });

  it('finds overlapping provides (some name matches both)', async () => {
    const { patternsOverlap } = await import('../../src/orchestra/grants.js');
    const yes: [string, string][] = [['dup.*', 'dup.hello'], ['>', 'a'], ['a.>', 'a.b.c'], ['*.b', 'a.*'], ['a.b', 'a.b']];
    const no: [string, string][] = [['a.>', 'a'], ['a.*', 'a.b.c'], ['a.b', 'a.c'], ['*', 'a.b']];
    for (const [a, b] of yes) expect(patternsOverlap(a, b) && patternsOverlap(b, a), `${a} overlaps ${b}`).toBe(true);
    for (const [a, b] of no) expect(patternsOverlap(a, b) || patternsOverlap(b, a), `${a} does not overlap ${b}`).toBe(false);
  });

  it('refuses every pattern that reaches a reserved namespace, and only those', async () => {
    const { reservedNamespace } = await import('../../src/orchestra/grants.js');
    for (const p of ['melody.run', 'melody.>', '*.run', '>', '*', 'conductor.report', 'kernel.x', 'symphony.hello', '$/cancelRequest', 'artifacts.*', 'pool.define', 'stale.>', 'orchestra.status', 'bus.stats', 'pit.x', 'dag.x', 'arbiter.x']) {
      expect(reservedNamespace(p), p).toBeDefined();
    }
    for (const p of ['text.stats', 'melodyx.run', 'report.text', 'files.>', 'my.melody.run', 'kernel']) expect(reservedNamespace(p), p).toBeUndefined();
  });

  it('pins the meaning of a manifest, not its formatting: sorted keys, no whitespace', async () => {
    const { canonicalJson, manifestPin } = await import('../../src/orchestra/grants.js');
    expect(canonicalJson({ b: [2, { d: 1, c: 'x' }], a: null })).toBe('{"a":null,"b":[2,{"c":"x","d":1}]}');
    const one = JSON.parse(M.honest);
    const reordered = JSON.parse('{ "type": "module", "symphony": { "calls": ["kernel.ran"], "provides": ["honest.hello"] }, "main": "index.js", "version": "1.0.0", "name": "honest" }');
    expect(manifestPin(reordered)).toBe(`sha256:${PINS.honest}`);
    expect(manifestPin(one)).toBe(`sha256:${PINS.honest}`);
    expect(manifestPin({ ...one, symphony: { ...one.symphony, calls: ['kernel.ran', 'kernel.upper'] } })).not.toBe(`sha256:${PINS.honest}`);
  });
});

describe('the bundled systems', () => {
  it('ship the grants their extensions need: symphony check passes on each, with every extension loading', async () => {
    for (const args of [['check'], ['check', '-c', join(root, 'examples/symphony.yaml')], ['check', '-c', join(root, 'examples/python-conductor.yaml')]]) {
      const r = await cli(args, tmp);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('orchestra (builtin:orchestra): 3 extensions found, 3 would load');
    }
  }, 30_000);
});

describe('effective rights', () => {
  it("are what the manifest asks, with the operator's memory ceiling where it asks none; asking over the ceiling is refused", async () => {
    const { readManifest } = await import('../../src/orchestra/manifest.js');
    const { reviewGrant } = await import('../../src/orchestra/grants.js');
    const dir = join(tmp, 'ceiling');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.js'), 'export default { activate() {} };\n');
    const write = (limits: string) => writeFileSync(join(dir, 'package.json'), `{ "name": "ceiling", "version": "1.0.0", "symphony": { "provides": ["c.x"]${limits} } }`);
    write('');
    const quiet = (await readManifest(dir)).manifest!;
    const grant = { ceiling: { manifest: 'any', provides: ['c.>', 'more.x'], calls: ['kernel.ran'], net: true, limits: { memoryMb: 128 } } };
    const r = reviewGrant(quiet, grant, { baseDir: tmp });
    expect(r.problems).toEqual([]);
    // Granted more than asked: it still gets only what it asked.
    expect(r.effective).toMatchObject({ provides: ['c.x'], calls: [], permissions: { net: false }, limits: { memoryMb: 128 } });
    write(', "limits": { "memoryMb": 96 }');
    expect(reviewGrant((await readManifest(dir)).manifest!, grant, { baseDir: tmp }).effective!.limits.memoryMb).toBe(96);
    write(', "limits": { "memoryMb": 512 }');
    const over = reviewGrant((await readManifest(dir)).manifest!, grant, { baseDir: tmp });
    expect(over.effective).toBeUndefined();
    expect(over.problems.map((p) => p.message)).toEqual(["extension 'ceiling' refused: it asks limits.memoryMb 512, over the grant's ceiling of 128: raise grants.ceiling.limits.memoryMb or lower the manifest's"]);
  });

  it('cap CPU and process count as they cap memory: a manifest asking past the ceiling is refused, one asking nothing gets the ceiling', async () => {
    const { readManifest } = await import('../../src/orchestra/manifest.js');
    const { reviewGrant } = await import('../../src/orchestra/grants.js');
    const dir = join(tmp, 'cpu-ceiling');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.js'), 'export default { activate() {} };\n');
    const write = (limits: string) => writeFileSync(join(dir, 'package.json'), `{ "name": "greedy", "version": "1.0.0", "symphony": { "provides": ["g.x"]${limits} } }`);
    const grant = { greedy: { manifest: 'any', provides: ['g.x'], limits: { cpuPercent: 50, processes: 32 } } };
    write('');
    expect(reviewGrant((await readManifest(dir)).manifest!, grant, { baseDir: tmp }).effective!.limits).toMatchObject({ cpuPercent: 50, processes: 32 });
    write(', "limits": { "cpuPercent": 6400, "processes": 100000 }');
    const over = reviewGrant((await readManifest(dir)).manifest!, grant, { baseDir: tmp });
    expect(over.effective).toBeUndefined();
    expect(over.problems.map((p) => p.message)).toEqual([
      "extension 'greedy' refused: it asks limits.cpuPercent 6400, over the grant's ceiling of 50: raise grants.greedy.limits.cpuPercent or lower the manifest's",
      "extension 'greedy' refused: it asks limits.processes 100000, over the grant's ceiling of 32: raise grants.greedy.limits.processes or lower the manifest's",
    ]);
  });

  it("without a ceiling in its grant, an isolated extension is held to the operator's default ceilings: asking nothing gets them, asking past them is refused naming where to grant it", async () => {
    const { readManifest } = await import('../../src/orchestra/manifest.js');
    const { reviewGrant, grantOptions, DEFAULT_CEILINGS } = await import('../../src/orchestra/grants.js');
    const dir = join(tmp, 'unceiled');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.js'), 'export default { activate() {} };\n');
    const write = (limits: string) => writeFileSync(join(dir, 'package.json'), `{ "name": "unceiled", "version": "1.0.0", "symphony": { "provides": ["u.x"]${limits} } }`);
    const grant = { unceiled: { manifest: 'any', provides: ['u.x'] } };
    write('');
    // No limits in the manifest, none in the grant, no orchestra setting: the built-in defaults, never unbounded.
    expect(reviewGrant((await readManifest(dir)).manifest!, grant, { baseDir: tmp }).effective!.limits).toMatchObject({ memoryMb: 256, cpuPercent: 100, processes: 64 });
    expect(DEFAULT_CEILINGS).toEqual({ memoryMb: 256, cpuPercent: 100, processes: 64 });
    // The operator's setting replaces a default; the grant's own ceiling wins over both.
    expect(reviewGrant((await readManifest(dir)).manifest!, grant, grantOptions({ limits: { memoryMb: 96 } }, tmp)).effective!.limits).toMatchObject({ memoryMb: 96, cpuPercent: 100, processes: 64 });
    write(', "limits": { "memoryMb": 100000, "cpuPercent": 800, "processes": 4096 }');
    const over = reviewGrant((await readManifest(dir)).manifest!, grant, grantOptions({}, tmp));
    expect(over.effective).toBeUndefined();
    expect(over.problems.map((p) => p.message)).toEqual([
      "extension 'unceiled' refused: it asks limits.memoryMb 100000, over the operator's default ceiling of 256 for isolated extensions (its grant sets none): grant it with grants.unceiled.limits.memoryMb: 100000, raise the orchestra's limits.memoryMb, or lower the manifest's",
      "extension 'unceiled' refused: it asks limits.cpuPercent 800, over the operator's default ceiling of 100 for isolated extensions (its grant sets none): grant it with grants.unceiled.limits.cpuPercent: 800, raise the orchestra's limits.cpuPercent, or lower the manifest's",
      "extension 'unceiled' refused: it asks limits.processes 4096, over the operator's default ceiling of 64 for isolated extensions (its grant sets none): grant it with grants.unceiled.limits.processes: 4096, raise the orchestra's limits.processes, or lower the manifest's",
    ]);
    const granted = { unceiled: { ...grant.unceiled, limits: { memoryMb: 100000, cpuPercent: 800, processes: 4096 } } };
    expect(reviewGrant((await readManifest(dir)).manifest!, granted, grantOptions({}, tmp)).problems).toEqual([]);
    // In-process code has no process to bound: no ceiling applies.
    write(', "execution": "in-process", "limits": { "memoryMb": 100000 }');
    expect(reviewGrant((await readManifest(dir)).manifest!, { unceiled: { ...grant.unceiled, execution: 'in-process' as const } }, grantOptions({}, tmp)).problems).toEqual([]);
  });
});
