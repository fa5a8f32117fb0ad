/**
 * `command:` peers as an operator meets them: one that exits says its exit code and its last
 * stderr lines (at the boot, in ps, in the logs); a Conductor that needs a peer finds the real
 * bus among its dependencies (a peer's proxy answers every method name a bus has); a degraded
 * system says why.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers.js';
import { down, entry, fixtures, psJson, run, tempDir, up, type Started } from './running.js';

const node = process.execPath;
const running: Started[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await down(s);
});

function system(yaml: string): string {
  const dir = tempDir('peers');
  writeFileSync(join(dir, 'symphony.yaml'), yaml);
  return dir;
}

describe('a command: peer that exits', () => {
  it('before it is ready: the boot fails naming its exit code and its last stderr lines', async () => {
    const dir = system(`components:\n  bus: { use: builtin:bus }\n  model: { command: [${node}, ${join(fixtures, 'dies.mjs')}], with: { early: true } }\n`);
    const r = await run(['up', '--once', '--log', 'plain', '--report', join(dir, 'boot.json')], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("failed: 'model' (start): PeerGoneError: 'model' exited with code 3 before it was ready; its last stderr lines: loading the model | Error: model file not found: /models/none.bin");
    // What it wrote is in the kernel's log too, named.
    expect(r.stdout).toMatch(/model: \w+ peer 'model': Error: model file not found/);
    expect(r.stdout).not.toMatch(/^\s+at /m); // no stack trace
  });

  it('while running: ps and the logs say its exit code and last stderr lines, and supervision starts it again', async () => {
    const dir = system(`components:\n  bus: { use: builtin:bus }\n  model: { command: [${node}, ${join(fixtures, 'dies.mjs')}], restart: { strategy: one_for_one, max: 3, within: 1m } }\n`);
    running.push(await up(dir));
    const first = entry(await psJson(dir), 'model');
    expect(first).toMatchObject({ kind: 'peer', state: 'ready', error: null });
    expect((await run(['call', 'dies.now'], dir)).code).toBe(0);
    await until(async () => { const m = entry(await psJson(dir), 'model'); return m.state === 'ready' && m.pid !== first.pid; }, 15_000, 'model restarted');
    const again = entry(await psJson(dir), 'model');
    expect(again.error).toBe(`'model' (${node} ${join(fixtures, 'dies.mjs')}) exited with code 4; its last stderr lines: fatal: asked to die`);
    const text = await run(['ps'], dir);
    expect(text.stdout).toContain("model: last error: 'model' (");
    const logs = await run(['logs', 'model'], dir);
    expect(logs.stdout).toMatch(/model\s+\w+\s+peer 'model': fatal: asked to die/);
  });
});

describe('a Conductor that needs a command: peer', () => {
  it('finds the bus, not the peer, among its dependencies, and runs a melody calling the peer', async () => {
    // The peer comes first in needs: a check of the methods a dependency has took its proxy for the bus.
    const dir = system(`components:\n  bus: { use: builtin:bus }\n  echo: { command: [${node}, ${join(fixtures, 'echo-peer.mjs')}] }\n  pit: { use: builtin:pit, needs: [bus], late: [conductor] }\n  conductor: { use: builtin:conductor, needs: [echo, bus, pit] }\n`);
    const r = await run(['run', join(fixtures, 'echo-melody.yaml')], dir);
    expect(r.stderr).not.toMatch(/internal error|TypeError/);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/melody run \S+: succeeded/);
    expect(r.stdout).toContain('"echoed": "hi"');
  });
});

describe('a degraded system', () => {
  it('up says why: each degraded component with what its health named, and where to see every problem', async () => {
    const dir = system(`components:\n  bus: { use: builtin:bus }\n  orchestra: { use: builtin:orchestra, needs: [bus], with: { paths: [${join(fixtures, 'extensions')}] } }\n`);
    const r = await run(['up', '--once', '--log', 'plain'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/symphony: system degraded in /);
    expect(r.stdout).toMatch(/^ {2}orchestra: degraded:$/m);
    expect(r.stdout).toMatch(/^ {4}flaky: rejected \(extension 'flaky' .* has no grant, so it is not loaded/m);
    expect(r.stdout).toMatch(/^ {4}prober: rejected \(extension 'prober' .* has no grant/m);
    expect(r.stdout).toContain('symphony check lists every problem');
  });
});

describe('a restart that does not come back', () => {
  it('exit 1 with why it failed; ps then shows it failed, with that error', async () => {
    const journal = join(tempDir('once'), 'journal');
    const dir = system(`components:\n  bus: { use: builtin:bus }\n  disk: { use: ${join(fixtures, 'once.mjs')}, with: { journal: ${journal} }, optional: true }\n`);
    running.push(await up(dir));
    const r = await run(['restart', 'disk'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^symphony restart: error -?\d+: .*the disk it needs is gone/);
    const ps = entry(await psJson(dir), 'disk');
    expect(ps.state).toBe('failed');
    expect(ps.health).toBeNull();
    expect(ps.error).toContain('the disk it needs is gone');
    // The system itself still answers.
    expect((await run(['ps'], dir)).code).toBe(0);
  });
});
