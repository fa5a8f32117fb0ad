/**
 * The supervision keys in a config file (restart.strategy one_for_all, restart.type, stopTimeout's
 * brutal_kill and infinity) get the FILE:LINE:COL checks every other key gets.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatDiagnostic, loadSystem } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'symphony-config-sup-'));
writeFileSync(join(dir, 'noop.mjs'), readFileSync(resolve(import.meta.dirname, 'fixtures/cli/noop.mjs')));

async function problems(name: string, text: string): Promise<string[]> {
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    await loadSystem(file);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.diagnostics.map((d) => formatDiagnostic(d, dir));
  }
}

describe('config: supervision keys', () => {
  it('accepts one_for_all, each restart type, and stopTimeout as a duration, brutal_kill or infinity', async () => {
    writeFileSync(
      join(dir, 'ok.yaml'),
      [
        'components:',
        '  a: { use: ./noop.mjs, restart: { strategy: one_for_all, type: permanent }, stopTimeout: brutal_kill }',
        '  b: { use: ./noop.mjs, restart: { type: transient }, stopTimeout: infinity }',
        '  c: { use: ./noop.mjs, restart: { strategy: never }, stopTimeout: 2s }',
        '',
      ].join('\n'),
    );
    const loaded = await loadSystem(join(dir, 'ok.yaml'));
    expect(loaded.components.a!.restart).toEqual({ strategy: 'one_for_all', type: 'permanent' });
    expect(loaded.components.a!.stopTimeout).toBe('brutal_kill');
    expect(loaded.components.b!.stopTimeout).toBe('infinity');
  });

  it('reports a bad restart.type, restart.strategy and stopTimeout at their line and column', async () => {
    expect(
      await problems(
        'bad.yaml',
        ['components:', '  a: { use: ./noop.mjs, restart: { type: sometimes } }', '  b: { use: ./noop.mjs, restart: { strategy: all_for_one } }', '  c: { use: ./noop.mjs, stopTimeout: gently }', ''].join('\n'),
      ),
    ).toEqual([
      `bad.yaml:2:42: in component 'a': restart.type must be permanent, transient, temporary (got "sometimes")`,
      `bad.yaml:3:46: in component 'b': restart.strategy must be one_for_one, rest_for_one, one_for_all, never (got "all_for_one")`,
      `bad.yaml:4:38: in component 'c': stopTimeout must be a duration (a number of milliseconds or a string such as "250ms", "5s"), brutal_kill or infinity (got "gently")`,
    ]);
  });

  it('reports an unknown key inside restart at its position, at its position', async () => {
    const found = await problems('key.yaml', 'components:\n  a: { use: ./noop.mjs, restart: { kind: permanent } }\n');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^key\.yaml:2:36: unknown key 'kind' in component 'a'/);
    expect(found[0]).toMatch(/kind/);
  });
});
