/**
 * The CLI's answers to what a user types: every command's --help (and nothing started), an unknown
 * command or option (named, with the near miss), and `symphony init` (a scaffold that boots as it
 * is; a folder with anything in it refused, nothing overwritten).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { down, fixtures, run, tempDir, up, type Started } from './running.js';

const COMMANDS = ['up', 'check', 'grant', 'graph', 'report', 'run', 'init', 'ps', 'call', 'restart', 'logs'];

describe('--help', () => {
  it('every command prints its own help, exit 0, and starts nothing', async () => {
    const dir = tempDir('help');
    // A config whose one component would leave a trace if anything booted it.
    writeFileSync(join(dir, 'symphony.yaml'), `components:\n  clock: { use: ${join(fixtures, 'clock.mjs')}, with: { journal: ${join(dir, 'started')} } }\n`);
    for (const command of COMMANDS) {
      for (const flag of ['--help', '-h']) {
        const r = await run([command, flag], dir);
        expect(r.code, `${command} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout.startsWith(`symphony ${command}`), `${command} ${flag}`).toBe(true);
        expect(r.stderr).toBe('');
      }
      // After other arguments too (symphony init DIR --help writes no DIR).
      const late = await run([command, 'something', '--help'], dir);
      expect(late.code).toBe(0);
      expect(late.stdout.startsWith(`symphony ${command}`)).toBe(true);
    }
    expect(readdirSync(dir).sort()).toEqual(['symphony.yaml']);
    expect(existsSync(join(dir, 'started'))).toBe(false);
    const all = await run(['--help'], dir);
    expect(all.code).toBe(0);
    for (const command of COMMANDS) expect(all.stdout).toMatch(new RegExp(`^  symphony ${command}\\b`, 'm'));
    const help = await run(['help', 'ps'], dir);
    expect(help.stdout.startsWith('symphony ps')).toBe(true);
  }, 60_000);
});

describe('bad usage', () => {
  const dir = tempDir('usage');
  it('an unknown command: exit 2, named, with the near miss', async () => {
    const r = await run(['pss'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("symphony: unknown command 'pss' (did you mean 'ps'?); symphony --help lists the commands");
    const far = await run(['frobnicate'], dir);
    expect(far.stderr.trim()).toBe("symphony: unknown command 'frobnicate'; symphony --help lists the commands");
    const flagFirst = await run(['--json', 'ps'], dir);
    expect(flagFirst.code).toBe(2);
    expect(flagFirst.stderr).toContain("unknown command '--json': options come after a command");
  });

  it("an unknown option: exit 2, named, with the near miss and the command's options", async () => {
    const r = await run(['ps', '--jsn'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("symphony ps: Unknown option '--jsn' (did you mean '--json'?); it takes --config, -c, --data, --socket, --json (symphony ps --help)");
    // An option of another command is refused here, not ignored.
    const other = await run(['check', '--once'], dir);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("symphony check: Unknown option '--once'; it takes --config, -c, --profile");
    const value = await run(['up', '--once=yes'], dir);
    expect(value.code).toBe(2);
    expect(value.stderr.trim()).toBe("symphony up: Option '--once' does not take an argument (symphony up --help)");
    const missing = await run(['call'], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^symphony call needs a method: symphony call METHOD \[PARAMS_JSON\]/);
    const extra = await run(['ps', 'extra'], dir);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^symphony ps: unexpected argument 'extra'/);
    // None of it created a data folder.
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('symphony init', () => {
  let system: Started | undefined;
  afterAll(async () => void (await down(system)));

  it('scaffolds a system that checks clean, boots as it is, and serves its extension and melody', async () => {
    const dir = join(tempDir('init'), 'my-system');
    const r = await run(['init', dir], tempDir('init-cwd'));
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['symphony.yaml', 'components/clock.mjs', 'extensions/greeter/package.json', 'extensions/greeter/index.js', 'melodies/hello.yaml', 'README.md']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(r.stdout).toContain(`symphony init: a new system in ${dir}`);
    const check = await run(['check'], dir);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/greeter 1\.0\.0 .*: loads/);
    system = await up(dir);
    expect(system.output()).toMatch(/system ready in/);
    const ps = JSON.parse((await run(['ps', '--json'], dir)).stdout) as { components: { name: string; isolation: string }[] };
    expect(ps.components.find((c) => c.name === 'greeter')?.isolation).toBe('sandboxed');
    const greet = await run(['call', 'greeter.greet', '{"name": "you"}'], dir);
    expect(greet.code, greet.stderr).toBe(0);
    expect(JSON.parse(greet.stdout)).toEqual({ greeting: 'hello, you' });
    const melody = await run(['call', 'melody.run', JSON.stringify({ file: join(dir, 'melodies/hello.yaml'), inputs: { name: 'there' } })], dir);
    expect(melody.code, melody.stderr).toBe(0);
    expect(JSON.parse(melody.stdout)).toMatchObject({ state: 'succeeded', outputs: { greeting: 'hello, there' } });
  }, 60_000);

  it('a folder with anything in it is refused (exit 2), and nothing is written or overwritten', async () => {
    const dir = tempDir('init-busy');
    writeFileSync(join(dir, 'symphony.yaml'), 'mine\n');
    const r = await run(['init', dir], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`symphony init: ${dir} is not empty (symphony.yaml): nothing was written; give an empty or new folder: symphony init DIR`);
    expect(readdirSync(dir)).toEqual(['symphony.yaml']);
    expect(readFileSync(join(dir, 'symphony.yaml'), 'utf8')).toBe('mine\n');
    const here = await run(['init'], dir);
    expect(here.code).toBe(2);
    expect(readdirSync(dir)).toEqual(['symphony.yaml']);
  });
});
