/**
 * The operating and install pages stay true: each `sh` block runs as it is, under bash -euo
 * pipefail, in a fresh folder with `symphony` on the PATH (the compiled bin); the systemd unit's
 * ExecStart boots a scaffolded system (with --once) and its RestartPreventExitStatus is the code a
 * bad config exits with; the operator-tool `ts` block runs against a running system; the "no running
 * system" message is the one the CLI prints.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, down, root, run, tempDir, up, type Started } from './running.js';
import { blocks as blocksOf, type Block } from '../doc-blocks.js';

const blocks = (page: string): Block[] => blocksOf(root, page);

const pages = ['docs/operating.md', 'docs/install.md'];
const all = pages.flatMap(blocks);
const pathDir = tempDir('docs-bin');
symlinkSync(bin, join(pathDir, 'symphony'));
const env = { ...process.env, PATH: `${pathDir}:${process.env.PATH}`, NO_COLOR: '1' };

describe('the operating pages', () => {
  it('have sh blocks to run, a systemd unit and an operator tool', () => {
    expect(all.filter((b) => b.lang === 'sh').length).toBeGreaterThanOrEqual(2);
    expect(all.filter((b) => b.lang === 'ini')).toHaveLength(1);
    expect(all.filter((b) => b.lang === 'ts').length).toBeGreaterThanOrEqual(1);
  });

  for (const b of all.filter((x) => x.lang === 'sh')) {
    it(`${b.page}:${b.line}: the sh block runs as it is`, () => {
      const dir = tempDir('docs-sh');
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', b.text], { cwd: dir, env, encoding: 'utf8', timeout: 90_000 });
      expect(r.status, `${b.page}:${b.line}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`).toBe(0);
    }, 100_000);
  }

  it('the systemd unit: its ExecStart boots a system, and the exit it does not restart on is a bad config', async () => {
    const unit = all.find((b) => b.lang === 'ini')!.text;
    const key = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(unit)?.[1];
    const dir = join(tempDir('docs-unit'), 'my-system');
    expect((await run(['init', dir], root)).code).toBe(0);
    const exec = key('ExecStart')!.replaceAll('/srv/my-system', dir).split(/\s+/);
    expect(exec.slice(0, 3)).toEqual(['/usr/bin/env', 'symphony', 'up']);
    const booted = spawnSync(exec[0]!, [...exec.slice(1), '--once'], { cwd: key('WorkingDirectory')!.replace('/srv/my-system', dir), env, encoding: 'utf8', timeout: 60_000 });
    expect(booted.status, booted.stderr).toBe(0);
    // --log json: one JSON object a line, which the journal keeps as it is.
    for (const line of booted.stdout.trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
    expect(['SIGTERM', 'SIGINT']).toContain(key('KillSignal'));
    writeFileSync(join(dir, 'symphony.yaml'), 'components:\n  a: { use: ./nope.mjs, needz: [b] }\n');
    const bad = spawnSync(exec[0]!, exec.slice(1), { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
    expect(String(bad.status)).toBe(key('RestartPreventExitStatus'));
  }, 90_000);

  it("the 'no running system' message is the one ps prints", async () => {
    const shown = all.find((b) => b.lang === 'text' && b.text.startsWith('symphony ps: no running system'))!.text.trim();
    const dir = tempDir('docs-none');
    writeFileSync(join(dir, 'symphony.yaml'), 'components:\n  bus: { use: builtin:bus }\n');
    const r = await run(['ps'], dir);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(shown);
  });

  describe('the operator tool', () => {
    let system: Started | undefined;
    afterAll(async () => void (await down(system)));
    it('runs against a running system and gets system.ps', async () => {
      const tool = all.find((b) => b.lang === 'ts' && b.text.includes("from 'symphony/bus'"))!;
      const dir = join(tempDir('docs-tool'), 'sys');
      expect((await run(['init', dir], root)).code).toBe(0);
      // The package as an installed dependency of this folder.
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(root, join(dir, 'node_modules', 'symphony'));
      // It has no type annotations: Node runs it as it is, as a module of this folder.
      writeFileSync(join(dir, 'tool.mjs'), tool.text);
      system = await up(dir);
      const r = spawnSync(process.execPath, [join(dir, 'tool.mjs')], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/greeter/);
      expect(r.stdout).toMatch(/state: 'ready'/);
    }, 60_000);
  });
});
