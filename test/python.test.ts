/** The Python peer library's own unittest suite (python/tests), run as part of npm test. */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

it('python -m unittest (python/tests) passes', () => {
  const r = spawnSync('python3', ['-W', 'error::ResourceWarning', '-m', 'unittest', 'discover', '-s', 'python/tests', '-t', 'python'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  const summary = /Ran (\d+) tests?/.exec(r.stderr)?.[0] ?? 'no summary';
  if (r.status !== 0) console.error(r.stderr.slice(-4000));
  expect(r.status, summary).toBe(0);
  expect(Number(/Ran (\d+)/.exec(r.stderr)?.[1])).toBeGreaterThan(50);
}, 150_000);
