/**
 * The operator's console against a real running system: `symphony up` in a folder of its own (a
 * component, one in its own process, a `command:` peer, two sandboxed extensions), then `ps`,
 * `call`, `logs [-f]` and `restart` as separate processes, each finding the system from the
 * folder's run.json and its bus's token file. What a refusal did NOT do is checked, not only its code.
 */
import { readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, consoleSystem, down, entry, psJson, run, start, tempDir, up, type Started } from './running.js';
import { until } from '../helpers.js';

const dir = tempDir('console');
let system: Started;
const journal = () => readFileSync(join(dir, 'clock.journal'), 'utf8').trim().split('\n');
const runInfo = () => JSON.parse(readFileSync(join(dir, '.symphony', 'run.json'), 'utf8')) as { pid: number; socket: string; state: string };

beforeAll(async () => {
  consoleSystem(dir);
  system = await up(dir);
}, 40_000);

afterAll(async () => {
  // A follower of the logs when the system stops: it sees the stop, says so, and ends (exit 0).
  const follower = start(['logs', '-f', '-n', '1'], dir);
  await follower.waitFor(/\d{4}-\d\d-\d\dT/);
  const r = await down(system);
  // The system stopped cleanly and gave its data folder back.
  expect(r?.code).toBe(0);
  expect(readdirSync(join(dir, '.symphony'))).not.toContain('run.json');
  const followed = await follower.result;
  expect(followed.code).toBe(0);
  expect(followed.stdout).toMatch(/kernel\s+info\s+system stopping/);
  expect(followed.stderr).toContain('symphony logs: the system stopped');
}, 30_000);

describe('symphony ps', () => {
  it('lists every component, peer and extension with its state, pid and isolation', async () => {
    const r = await run(['ps'], dir);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^system ready  pid ${runInfo().pid} `));
    expect(lines[1]).toMatch(/^NAME\s+KIND\s+STATE\s+HEALTH\s+PID\s+RESTARTS\s+UPTIME\s+RSS\s+ISOLATION$/);
    for (const name of ['bus', 'clock', 'worker', 'echo', 'orchestra', 'flaky', 'prober']) expect(r.stdout).toMatch(new RegExp(`^${name}\\s`, 'm'));

    const ps = await psJson(dir);
    expect(ps.system).toMatchObject({ state: 'ready', pid: runInfo().pid });
    expect(entry(ps, 'clock')).toMatchObject({ kind: 'component', state: 'ready', health: 'healthy', pid: null, isolation: 'none' });
    expect(entry(ps, 'echo')).toMatchObject({ kind: 'peer', state: 'ready' });
    expect(entry(ps, 'flaky')).toMatchObject({ kind: 'extension', state: 'active', isolation: 'sandboxed' });
    // Each pid shown is that very process, alive: the command peer's runs its script, the
    // process-mode component the component host, the isolated extension the sandbox.
    const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    expect(cmdline(entry(ps, 'echo').pid!)).toContain('echo-peer.mjs');
    expect(cmdline(entry(ps, 'worker').pid!)).toContain('component-host.js');
    expect(cmdline(entry(ps, 'flaky').pid!)).toContain('bwrap');
    for (const name of ['echo', 'worker', 'flaky', 'prober']) expect(entry(ps, name).rssBytes).toBeGreaterThan(0);
    expect(entry(ps, 'clock').uptimeMs).toBeGreaterThan(0);
  });
});

describe('symphony call', () => {
  it('makes one request as the operator and prints its result as JSON', async () => {
    const r = await run(['call', 'echo.echo', '{"hello": "there"}'], dir);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { echo: unknown; caller: string; pid: number };
    expect(result.echo).toEqual({ hello: 'there' });
    // The peer really served it: the answer carries the pid ps shows for it.
    expect(result.pid).toBe(entry(await psJson(dir), 'echo').pid);
    const one = await run(['call', 'echo.echo', '[1,2]', '--json'], dir);
    expect(one.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(one.stdout).echo).toEqual([1, 2]);
  });

  it('a method nobody serves: exit 1 with the bus error code and message', async () => {
    const r = await run(['call', 'nope.nothing'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("symphony call: error -32601: nobody serves 'nope.nothing'");
    const j = await run(['call', 'nope.nothing', '--json'], dir);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: -32601 } });
  });

  it('params that are not JSON: exit 1 before anything is sent', async () => {
    const before = (await run(['logs', 'bus', '-n', '1000', '--json'], dir)).stdout.trim().split('\n').length;
    const r = await run(['call', 'echo.echo', '{oops'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^symphony call: error -32700: PARAMS_JSON is not JSON: .*quote it for the shell/);
    // No connection was made: the bus logged no console joining for it.
    const after = (await run(['logs', 'bus', '-n', '1000', '--json'], dir)).stdout.trim().split('\n').length;
    expect(after - before).toBe(2); // the two `logs` calls' own connect lines, nothing for the refused call
  });

  it("an extension granted system.* is still refused the operator's methods, and nothing restarts", async () => {
    const starts = journal().length;
    const pid = entry(await psJson(dir), 'worker').pid;
    for (const target of ['clock', 'worker']) {
      const r = await run(['call', 'prober.try', JSON.stringify({ method: 'system.restart', params: { name: target } })], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ ok: false, code: -32002, message: "'system.restart' is the operator's: 'prober' does not hold the operator's token" });
    }
    const logs = JSON.parse((await run(['call', 'prober.try', JSON.stringify({ method: 'system.logs', params: {} })], dir)).stdout) as { ok: boolean; code: number };
    expect(logs).toMatchObject({ ok: false, code: -32002 });
    // What did not happen: the clock did not start again, the worker is the same process.
    expect(journal()).toHaveLength(starts);
    const ps = await psJson(dir);
    expect(entry(ps, 'worker').pid).toBe(pid);
    expect(alive(pid!)).toBe(true);
    // The control: the same restart by the operator does restart the clock.
    expect((await run(['restart', 'clock'], dir)).code).toBe(0);
    expect(journal()).toHaveLength(starts + 1);
  });

  it('a wrong operator token is refused: exit 1, and the bus logs the denied hello', async () => {
    // Another socket path to the same system, with a token file beside it that is not its token.
    const fake = tempDir('fake-socket');
    symlinkSync(runInfo().socket, join(fake, 'bus.sock'));
    writeFileSync(join(fake, 'bus.sock.token'), 'not-the-token\n', { mode: 0o600 });
    const r = await run(['ps', '--socket', join(fake, 'bus.sock')], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^symphony ps: error -32001: the system at .*bus\.sock refused the operator's token/);
    const logs = await run(['logs', 'bus', '-n', '20'], dir);
    expect(logs.stdout).toMatch(/denied: hello from .*: bad token/);
  });
});

describe('symphony logs', () => {
  it('prints the recent lines, all or those of one component or extension', async () => {
    const all = await run(['logs', '-n', '500', '--json'], dir);
    expect(all.code, all.stderr).toBe(0);
    const lines = all.stdout.trim().split('\n').map((l) => JSON.parse(l) as { component: string; message: string; about?: string; seq: number });
    expect(lines.some((l) => l.component === 'kernel' && l.message === 'system ready')).toBe(true);
    expect(lines.some((l) => l.component === 'orchestra' && l.about === 'flaky')).toBe(true);
    // In order, each once.
    expect(lines.map((l) => l.seq)).toEqual([...lines.map((l) => l.seq)].sort((a, b) => a - b));
    const three = await run(['logs', '-n', '3'], dir);
    expect(three.stdout.trim().split('\n')).toHaveLength(3);
    const flaky = (await run(['logs', 'flaky', '--json'], dir)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { component: string; about?: string });
    expect(flaky.length).toBeGreaterThan(0);
    expect(flaky.every((l) => l.component === 'flaky' || l.about === 'flaky')).toBe(true);
  });

  it('a name it does not know: exit 1, listing the names it knows', async () => {
    const r = await run(['logs', 'nosuch'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no component or extension named 'nosuch' \(known: kernel, bus, clock, worker, echo, orchestra, flaky, prober\)/);
  });

  it('-f follows: a line written after it started arrives, and Ctrl-C ends it with exit 0', async () => {
    const follower = start(['logs', 'clock', '-f', '-n', '1'], dir);
    await follower.waitFor(/clock\s+info/); // the backlog line
    const seen = follower.output().length;
    expect((await run(['restart', 'clock'], dir)).code).toBe(0);
    await follower.waitFor(/clock\s+info\s+stopping \(restart/);
    await follower.waitFor(/clock\s+info\s+ready/);
    expect(follower.output().length).toBeGreaterThan(seen);
    follower.child.kill('SIGINT');
    const r = await follower.result;
    expect(r.code).toBe(0);
  });
});

describe('symphony restart', () => {
  it('restarts a component in its own process: a new pid, the old one gone', async () => {
    const before = entry(await psJson(dir), 'worker').pid!;
    const r = await run(['restart', 'worker'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("restarted component 'worker': ready");
    const after = entry(await psJson(dir), 'worker');
    expect(after.state).toBe('ready');
    expect(after.pid).not.toBe(before);
    expect(alive(after.pid!)).toBe(true);
    await until(() => !alive(before), 5000, 'the old worker process to exit');
  });

  it('brings an extension back out of quarantine: a new pid, and its methods answer again', async () => {
    // Two crashes inside the window (restart: max 1): supervision gives up on it.
    const first = entry(await psJson(dir), 'flaky').pid!;
    expect((await run(['call', 'flaky.crash'], dir)).code).toBe(0);
    await until(async () => { const e = entry(await psJson(dir), 'flaky'); return e.state === 'active' && e.pid !== first; }, 10_000, 'flaky restarted by supervision');
    expect((await run(['call', 'flaky.crash'], dir)).code).toBe(0);
    await until(async () => entry(await psJson(dir), 'flaky').state === 'quarantined', 10_000, 'flaky quarantined');
    const q = await run(['call', 'flaky.ping'], dir);
    expect(q.code).toBe(1);
    expect(q.stderr).toMatch(/error -32004: extension 'flaky' is quarantined after repeated failures: .*exited with code 7/);
    // The operator's restart lifts the quarantine.
    const r = await run(['restart', 'flaky'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("restarted extension 'flaky': active");
    const back = entry(await psJson(dir), 'flaky');
    expect(back.state).toBe('active');
    expect(back.pid).not.toBeNull();
    expect(alive(back.pid!)).toBe(true);
    const ping = await run(['call', 'flaky.ping'], dir);
    expect(ping.code, ping.stderr).toBe(0);
    expect(JSON.parse(ping.stdout)).toMatchObject({ pong: true });
  });

  it('an unknown name: exit 1, listing the names it knows', async () => {
    const r = await run(['restart', 'nosuch'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("symphony restart: error -32602: no component or extension named 'nosuch' (known: bus, clock, worker, echo, orchestra, flaky, prober)");
  });
});

describe('the data folder of a running system', () => {
  it('run.json is mode 0600 and names the socket, never the token', async () => {
    const file = join(dir, '.symphony', 'run.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, '.symphony')).mode & 0o777).toBe(0o700);
    const info = runInfo();
    expect(info).toMatchObject({ pid: system.child.pid, state: 'running' });
    const token = readFileSync(`${info.socket}.token`, 'utf8').trim();
    expect(token.length).toBeGreaterThan(16);
    expect(readFileSync(file, 'utf8')).not.toContain(token);
    expect(statSync(`${info.socket}.token`).mode & 0o777).toBe(0o600);
  });

  it('a second up on the same folder is refused at once, naming the folder and its holder', async () => {
    const before = readFileSync(join(dir, '.symphony', 'run.json'), 'utf8');
    const r = await run(['up'], dir);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(r.stderr).toContain(`the data folder ${join(dir, '.symphony')} is in use by another system (pid ${system.child.pid}, ${join(dir, 'symphony.yaml')}`);
    expect(r.stderr).toMatch(/--data DIR/);
    // Nothing started, nothing taken: the holder's run file is as it was, and it still answers.
    expect(r.stdout).not.toMatch(/starting/);
    expect(readFileSync(join(dir, '.symphony', 'run.json'), 'utf8')).toBe(before);
    expect((await run(['ps'], dir)).code).toBe(0);
  });
});
