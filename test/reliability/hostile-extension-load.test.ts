/**
 * Refused at load: symlinks out of an extension's folder at any depth, a manifest that grants
 * itself rights, a grant pinned to an older manifest, no grant at all, and `provides` of reserved
 * namespaces or of another extension's method (granted by a careless operator: the rule must hold
 * anyway). One kernel boots them all (degraded, not down). Proof: the refused extension never ran
 * (kernel.witness, which any of them calls first thing, heard nothing from it; no child it would
 * start appeared), its would-be methods are answered by their rightful owner or by nobody, the
 * planted secret and the token appear nowhere, and the log names the extension and the right.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attack, cleanup, delay, hostProcessesMentioning, instance, KernelProcess, newRun, writableText, type Instance, type Run } from './hostile-extension-harness.js';

let run: Run;
let k: KernelProcess;
const I: Record<string, Instance> = {};
let token: string;

const ranAtAll = (name: string) => k.witnessed.some((w) => JSON.stringify(w).includes(`"${name}"`));
function expectNothingLeaked(answer: unknown): void {
  const everywhere = `${JSON.stringify(answer)}\n${JSON.stringify(k.witnessed)}\n${k.logText()}\n${k.stderr}\n${writableText(...Object.values(I).map((i) => i.scratch))}`;
  for (const s of [run.secret, token]) expect(everywhere.includes(s), 'a secret leaked').toBe(false);
}

/** Boots a kernel (one per group below: a refusal that breaks one boot must not hide the others' results) with the victim and the given instances. */
function group(make: () => Instance[]): void {
  beforeAll(async () => {
    run = newRun();
    for (const key of Object.keys(I)) delete I[key];
    I.victim = instance(run, { name: 'victim', from: 'victim' });
    for (const i of make()) I[i.name] = i;
    k = await KernelProcess.boot(run, Object.values(I));
    token = readFileSync(`${run.socket}.token`, 'utf8').trim();
    await delay(1000); // let every extension that was (wrongly) started report to kernel.witness
  }, 40_000);
  afterAll(async () => {
    await k?.stop();
    if (run) cleanup(run);
  });
}
const tokenPath = () => `${run.socket}.token`; // written by the kernel at boot: the links point where it will be

describe('symlinks out of the folder, refused at load', () => {
  group(() => [
    instance(run, { name: 'symtop', from: 'attacker', symlinks: { leak: run.secretPath, tok: tokenPath() } }),
    instance(run, { name: 'symdeep', from: 'attacker', symlinks: { 'a/b/c/d/e/f/g/leak': run.secretPath, 'a/b/c/d/e/f/g/tok': tokenPath() } }),
    instance(run, { name: 'symdir', from: 'attacker', symlinks: { 'x/y/hostdir': run.host } }),
  ]);
  it('a symlink at the top of its folder (to a planted secret, to where the token will be)', async () => {
    const r1 = await attack(k, I.symtop!, 'read-file', { path: `${I.symtop!.dir}/leak` });
    const r2 = await attack(k, I.symtop!, 'read-file', { path: `${I.symtop!.dir}/tok` });
    expectNothingLeaked([r1, r2]);
    await k.expectLogged(0, 'symtop', /symlink|refus/i);
    await k.expectServing();
  });

  it('a symlink seven folders deep', async () => {
    const r1 = await attack(k, I.symdeep!, 'read-file', { path: `${I.symdeep!.dir}/a/b/c/d/e/f/g/leak` });
    const r2 = await attack(k, I.symdeep!, 'read-file', { path: `${I.symdeep!.dir}/a/b/c/d/e/f/g/tok` });
    expectNothingLeaked([r1, r2]);
    await k.expectLogged(0, 'symdeep', /symlink|refus/i);
    await k.expectServing();
  });

  it('a symlink to a host folder', async () => {
    const r = await attack(k, I.symdir!, 'read-file', { path: `${I.symdir!.dir}/x/y/hostdir/secret.txt` });
    const l = await attack(k, I.symdir!, 'list-dir', { path: `${I.symdir!.dir}/x/y/hostdir` });
    expectNothingLeaked([r, l]);
    expect(JSON.stringify(l)).not.toContain('marker-');
    await k.expectLogged(0, 'symdir', /symlink|refus/i);
    await k.expectServing();
  });
});

describe('a manifest never grants itself a right', () => {
  group(() => {
    // Granted for a manifest that asked kernel.witness only; the manifest on disk now asks kernel.secret too.
    const old = instance(run, { name: 'greedypin', from: 'greedy', calls: ['kernel.witness'] });
    return [
      instance(run, { name: 'greedyfs', from: 'greedy', permissions: { fsRead: ['/'] }, grant: { fsRead: [] } }),
      instance(run, { name: 'greedychild', from: 'greedy', permissions: { childProcess: true }, grant: { childProcess: false } }),
      instance(run, { name: 'greedycalls', from: 'greedy', calls: ['>'], grant: { calls: ['kernel.witness'] } }),
      instance(run, { name: 'greedypin', from: 'greedy', calls: ['kernel.witness', 'kernel.secret'], pinTo: old.manifestText }),
      instance(run, { name: 'nogrant', from: 'greedy', grant: false }),
    ];
  });
  it("fsRead: ['/'] asked, not granted: refused, it never ran", async () => {
    expect(ranAtAll('greedyfs')).toBe(false);
    expectNothingLeaked(null);
    await k.expectLogged(0, 'greedyfs', /fsRead/);
    await k.expectServing();
  });

  it('childProcess asked, not granted: refused, no child of it ever ran', async () => {
    expect(ranAtAll('greedychild')).toBe(false);
    expect(hostProcessesMentioning('marker-of-greedychild')).toEqual([]);
    expect(k.logText()).not.toContain('spawned marker-of-greedychild');
    await k.expectLogged(0, 'greedychild', /childProcess/);
    await k.expectServing();
  });

  it("calls: ['>'] asked, only kernel.witness granted: refused, kernel.secret never reached", async () => {
    expect(ranAtAll('greedycalls')).toBe(false);
    expect(k.secretCalls).toEqual([]);
    await k.expectLogged(0, 'greedycalls', /calls/);
    await k.expectServing();
  });

  it('a grant pinned to an older manifest: the changed manifest (asking kernel.secret) is refused until granted again', async () => {
    expect(ranAtAll('greedypin')).toBe(false);
    expect(k.secretCalls).toEqual([]);
    await k.expectLogged(0, 'greedypin', /manifest|pinned|sha256|changed/i);
    await k.expectServing();
  });

  it('no grant at all: refused, it never ran', async () => {
    expect(ranAtAll('nogrant')).toBe(false);
    await k.expectLogged(0, 'nogrant', /grant/i);
    await k.expectServing();
  });
});

describe('reserved and duplicate provides (even when the operator granted them)', () => {
  group(() => [
    instance(run, { name: 'thiefmelody', from: 'greedy', provides: ['melody.run'] }),
    instance(run, { name: 'thiefmaestro', from: 'greedy', provides: ['conductor.report'] }),
    instance(run, { name: 'thiefpit', from: 'greedy', provides: ['pit.secret'] }),
    instance(run, { name: 'thiefdup', from: 'greedy', provides: ['victim.ping'] }), // loaded after the victim
  ]);
  it('melody.run: refused; the Conductor still runs melodies, the thief never sees one', async () => {
    const r = (await k.client.request('melody.run', { melody: { melody: 'ok', steps: { one: { call: 'orchestra.status' } } } }, { timeout: '10s' })) as Record<string, unknown>;
    expect(JSON.stringify(r)).not.toContain('hijackedBy');
    expect(ranAtAll('thiefmelody')).toBe(false);
    await k.expectLogged(0, 'thiefmelody', /melody\.run/);
    await k.expectServing();
  });

  it('conductor.report: refused; it does not become the maestro', async () => {
    await k.client.request('melody.run', { melody: { melody: 'ok2', steps: { one: { call: 'orchestra.status' } } } }, { timeout: '10s' }).catch(() => undefined);
    const r = await k.client.request('conductor.report', { events: [] }, { timeout: '5s' }).catch((e: Error) => e.message);
    expect(JSON.stringify(r ?? null)).not.toContain('hijackedBy');
    await delay(300);
    expect(ranAtAll('thiefmaestro')).toBe(false);
    await k.expectLogged(0, 'thiefmaestro', /conductor\.report/);
    await k.expectServing();
  });

  it('a method of a reserved namespace (pit.*): refused, nobody answers as the thief', async () => {
    const r = await k.client.request('pit.secret', {}, { timeout: '3s' }).catch((e: Error) => e.message);
    expect(JSON.stringify(r ?? null)).not.toContain('hijackedBy');
    expect(ranAtAll('thiefpit')).toBe(false);
    await k.expectLogged(0, 'thiefpit', /pit\.secret/);
    await k.expectServing();
  });

  it("another extension's method (victim.ping): the later one is refused, named with the owner; the victim answers", async () => {
    for (let i = 0; i < 5; i++) {
      const v = (await k.client.request('victim.ping', {}, { timeout: '3s' })) as { who: string };
      expect(v.who).toBe('victim');
    }
    expect(ranAtAll('thiefdup')).toBe(false);
    const line = await k.expectLogged(0, 'thiefdup', /victim\.ping/);
    expect(line).toContain('victim');
    await k.expectServing();
  });
});
