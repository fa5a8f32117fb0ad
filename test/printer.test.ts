/** The plain log lines a boot prints (symphony up --log plain), read as an operator reads them. */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

it('a stage line that says ready names the members that failed', () => {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'up', '--once', '--log', 'plain', '-c', join(root, 'test/fixtures/cli/optional-fails.yaml')], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 });
  const out = r.stdout + r.stderr;
  expect(r.status, out).toBe(0);
  const stage0 = out.split('\n').find((l) => /stage 0 +ready \[/.test(l));
  expect(stage0, out).toMatch(/\[db, cache \(failed\)\]$/);
  expect(out.split('\n').find((l) => /stage 1 +ready \[/.test(l))).toMatch(/\[api\]$/);
});
