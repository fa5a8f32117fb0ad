/**
 * Shutdown: SIGTERM during a boot, during a melody run and during a swap always ends in an orderly
 * stop, with an exit code and a report that say so, and nothing left running.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { grantsFor, until } from '../helpers.js';
import { childrenOf } from './resources.js';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/cli/main.js');

/** The default system as a config file in `dir`, with extra component lines. */
function config(dir: string, extra: string[] = [], extensions = join(root, 'examples/extensions'), watch = false): string {
  const file = join(dir, 'system.yaml');
  writeFileSync(
    file,
    [
      'components:',
      '  bus:       { use: builtin:bus, with: { listen: auto } }',
      `  pit:       { use: builtin:pit, needs: [bus], late: [conductor], with: { dataDir: ${join(dir, 'pit')} } }`,
      `  orchestra: { use: builtin:orchestra, needs: [bus, pit], with: { paths: [${extensions}], watch: ${watch}, grants: ${JSON.stringify(grantsFor([extensions]))} } }`,
      '  conductor: { use: builtin:conductor, needs: [orchestra] }',
      ...extra,
    ].join('\n'),
  );
  return file;
}

function start(args: string[]) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, exited, output: () => out };
}

describe('SIGTERM', () => {
  it('during the boot: rolled back, exit 143, the report says phase "signal", no process left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-sd-boot-'));
    const p = start(['up', '-c', config(dir), '--report', join(dir, 'r.json')]);
    await until(() => /orchestra +starting/.test(p.output()), 15_000, 'the orchestra to start');
    const kids = childrenOf(p.child.pid);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(143);
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    expect(report.failure).toMatchObject({ phase: 'signal', message: 'BootAbandonedError: boot interrupted by SIGTERM' });
    expect(report.components.find((c: { name: string }) => c.name === 'bus').state).toBe('stopped');
    for (const pid of kids) expect(() => process.kill(pid, 0)).toThrow();
  }, 30_000);

  it('during a melody run: the melody is cancelled, the system stops in order, exit 143', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-sd-run-'));
    const cfg = config(dir, [`  slow: { use: ${join(root, 'test/fixtures/shutdown/slow-method.mjs')}, needs: [bus], with: { dir: ${dir} } }`]);
    const p = start(['run', join(root, 'test/fixtures/shutdown/slow.yaml'), '-c', cfg, '--report', join(dir, 'r.json')]);
    await until(() => existsSync(join(dir, 'started')), 15_000, 'the slow step to start');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(143);
    expect(p.output()).toContain('the melody was cancelled by SIGTERM');
    await until(() => existsSync(join(dir, 'cancelled')), 2000, 'the step to see the cancel');
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    expect(report).toMatchObject({ system: 'ready', melody: { state: 'cancelled', reason: 'interrupted by SIGTERM' } });
  }, 30_000);

  it('during a swap (hot reload): the swap ends, then everything stops in order, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-sd-swap-'));
    cpSync(join(root, 'examples/extensions/text-stats'), join(dir, 'ext/text-stats'), { recursive: true });
    const p = start(['up', '-c', config(dir, [], join(dir, 'ext'), true), '--report', join(dir, 'r.json')]);
    await until(() => p.output().includes('system ready'), 15_000, 'the system to be ready');
    const now = new Date();
    utimesSync(join(dir, 'ext/text-stats/index.js'), now, now);
    writeFileSync(join(dir, 'ext/text-stats/index.js'), readFileSync(join(dir, 'ext/text-stats/index.js'), 'utf8') + '\n// changed\n');
    await until(() => p.output().includes("swapping 'text-stats'"), 10_000, 'the swap to begin');
    const kids = childrenOf(p.child.pid);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).toMatch(/system stopped \(SIGTERM received\)/);
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    expect(report.shutdown).toMatchObject({ reason: 'SIGTERM received', code: 0, errors: [] });
    await until(() => kids.every((pid) => { try { process.kill(pid, 0); return false; } catch { return true; } }), 5000, 'the extension processes to exit');
  }, 30_000);
});
