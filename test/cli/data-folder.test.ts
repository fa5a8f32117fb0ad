/**
 * One system per data folder, as an operator meets it: systems side by side in folders of their
 * own, the `data:` key and --data, the lock a second system hits (at once, saying what to do), a
 * run file left by a dead system taken over, and the console's answer when nothing runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, down, psJson, root, run, start, tempDir, up, type Started } from './running.js';

const MINIMAL = 'components:\n  bus: { use: builtin:bus }\n';
const running: Started[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await down(s);
});

const folder = (label: string, config = MINIMAL) => {
  const dir = tempDir(label);
  writeFileSync(join(dir, 'symphony.yaml'), config);
  return dir;
};
const runFile = (data: string) => JSON.parse(readFileSync(join(data, 'run.json'), 'utf8')) as { pid: number; socket: string; data: string; config: string };

/** A pid that was a process and is gone now (a child that ran and was reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(alive(r.pid!)).toBe(false);
  return r.pid!;
}

describe('data folders', () => {
  it('two systems in folders of their own run side by side, each reached in its own', async () => {
    const a = folder('side-a');
    const b = folder('side-b');
    running.push(await up(a), await up(b));
    const [ra, rb] = [runFile(join(a, '.symphony')), runFile(join(b, '.symphony'))];
    expect(ra.pid).toBe(running[0]!.child.pid);
    expect(rb.pid).toBe(running[1]!.child.pid);
    expect(ra.socket).not.toBe(rb.socket);
    expect((await psJson(a)).system.pid).toBe(ra.pid);
    expect((await psJson(b)).system.pid).toBe(rb.pid);
    // From anywhere, -c FILE finds the system of that config.
    const viaConfig = JSON.parse((await run(['ps', '--json', '-c', join(a, 'symphony.yaml')], root)).stdout) as { system: { pid: number } };
    expect(viaConfig.system.pid).toBe(ra.pid);
  });

  it('data: in the config puts the folder where it says (relative to the config); --data overrides it', async () => {
    const dir = folder('data-key', `data: ./state\n${MINIMAL}`);
    running.push(await up(dir, [], join(dir, 'state')));
    expect(existsSync(join(dir, '.symphony'))).toBe(false);
    expect(runFile(join(dir, 'state')).data).toBe(join(dir, 'state'));
    // Found from the config, from elsewhere, through its data: key.
    const ps = await run(['ps', '--json', '-c', join(dir, 'symphony.yaml')], root);
    expect(ps.code, ps.stderr).toBe(0);
    expect(JSON.parse(ps.stdout).system.pid).toBe(running[0]!.child.pid);
    // --data wins over data: (a second system of the same config, in a folder of its own).
    const other = join(tempDir('data-flag'), 'mine');
    const s = await up(dir, ['--data', other], other);
    running.push(s);
    expect(runFile(other).pid).toBe(s.child.pid);
    expect((await run(['ps', '--json', '--data', other], root)).code).toBe(0);
  });

  it('a bad data: value is a config error at its position', async () => {
    const dir = folder('data-bad', `${MINIMAL}data: 12\n`);
    const r = await run(['check'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^symphony\.yaml:3:7: data must be a folder path \(relative to the config file\) \(got 12\)$/m);
  });

  it('a run file left by a dead system: the console says so (exit 3), and the next up takes the folder over', async () => {
    const dir = folder('stale');
    const data = join(dir, '.symphony');
    mkdirSync(data, { mode: 0o700 });
    const pid = deadPid();
    writeFileSync(join(data, 'run.json'), JSON.stringify({ pid, state: 'running', config: join(dir, 'symphony.yaml'), data, socket: '/nonexistent/bus.sock', http: null, startedAt: new Date().toISOString(), version: '0.1.0' }), { mode: 0o600 });
    const ps = await run(['ps'], dir);
    expect(ps.code).toBe(3);
    expect(ps.stderr).toMatch(new RegExp(`run\\.json was left by process ${pid}, which is gone; start one with symphony up`));
    const s = await up(dir);
    running.push(s);
    expect(runFile(data).pid).toBe(s.child.pid);
    expect((await psJson(dir)).system.pid).toBe(s.child.pid);
    await down(running.pop());
    // It gave the folder back: nothing is left saying a system runs there.
    expect(existsSync(join(data, 'run.json'))).toBe(false);
  });

  it('a system still booting: ps already shows it (what is starting), and a second up is refused meanwhile', async () => {
    const dir = folder('booting', `components:\n  bus: { use: builtin:bus }\n  slow: { use: ${join(root, 'test/fixtures/cli/slow.mjs')}, needs: [bus], with: { ms: 4000 } }\n`);
    const s = start(['up', '--log', 'plain'], dir);
    running.push(s);
    await s.waitFor(/slow\s+starting/);
    const ps = await psJson(dir);
    expect(ps.system).toMatchObject({ state: 'booting', pid: s.child.pid });
    expect(ps.components.map((c) => [c.name, c.state])).toEqual([['bus', 'ready'], ['slow', 'starting']]);
    const second = await run(['up'], dir);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`is in use by another system (pid ${s.child.pid}`);
    await s.waitFor(/system ready in/);
    expect((await psJson(dir)).system.state).toBe('ready');
  });

  it('a half-written run file (a crash mid-write) does not lock the folder', async () => {
    const dir = folder('torn');
    mkdirSync(join(dir, '.symphony'));
    writeFileSync(join(dir, '.symphony', 'run.json'), '{"pid": 12');
    const r = await run(['up', '--once'], dir);
    expect(r.code, r.stderr).toBe(0);
  });

  it('no running system: ps, call, restart and logs exit 3 saying where they looked and how to start one', async () => {
    const dir = folder('none');
    for (const args of [['ps'], ['call', 'bus.stats'], ['restart', 'bus'], ['logs'], ['logs', '-f']]) {
      const r = await run(args, dir);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim()).toBe(`symphony ${args[0]}: no running system: .symphony/run.json does not exist (looked in the data folder of symphony.yaml); start one with symphony up, or say where it is with -c FILE, --data DIR or --socket PATH`);
    }
    const sock = await run(['ps', '--socket', join(dir, 'nothing.sock')], dir);
    expect(sock.code).toBe(3);
    expect(sock.stderr).toContain(`nothing answers on the socket ${join(dir, 'nothing.sock')}`);
    // Looking created nothing.
    expect(existsSync(join(dir, '.symphony'))).toBe(false);
  });
});

describe('the default system in a checkout', () => {
  it('symphony run beside a running default system: refused at once with the call that runs the melody on it; from another folder it runs', async () => {
    const busy = tempDir('default-busy');
    running.push(await up(busy));
    const melody = join(root, 'examples/melodies/index-texts.yaml');
    const refused = await run(['run', melody], busy);
    expect(refused.code).toBe(1);
    expect(refused.ms).toBeLessThan(5000);
    expect(refused.stderr).toContain(`the data folder ${join(busy, '.symphony')} is in use by another system (pid ${running[0]!.child.pid}, the built-in default system`);
    expect(refused.stderr).toContain(`symphony call melody.run '{"file":"${melody}"}'`);
    // The way out it names works: the melody runs on the running system.
    const onIt = await run(['call', 'melody.run', JSON.stringify({ file: melody })], busy);
    expect(onIt.code, onIt.stderr).toBe(0);
    expect(JSON.parse(onIt.stdout).state).toBe('succeeded');
    // And from another folder, a system of its own.
    const elsewhere = await run(['run', melody], tempDir('default-free'));
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    expect(elsewhere.stdout).toMatch(/melody run \S+: succeeded/);
  }, 60_000);
});
