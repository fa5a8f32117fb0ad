/**
 * `symphony check` sees what `up` would refuse or warn about in the extensions too: every problem
 * of a manifest in one run, each at package.json:LINE:COL, and the grants' problems at their place
 * in the config; it starts nothing.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, tempDir } from './running.js';

const BAD_MANIFEST = `{
  "name": "bad",
  "version": "one",
  "main": "missing.js",
  "type": "module",
  "symphony": {
    "kind": "instrumnt",
    "execution": "sideways",
    "provides": "bad.x",
    "activaton": ["onStartup"],
    "permissions": { "net": "yes" },
    "limits": { "memoryMb": -5 }
  }
}
`;

const GOOD_MANIFEST = `{
  "name": "good",
  "version": "1.0.0",
  "main": "index.js",
  "type": "module",
  "symphony": { "kind": "motif", "execution": "isolated", "provides": ["good.ping"], "activation": ["onCall"] }
}
`;

describe('symphony check', () => {
  it('lists every problem of every manifest and grant in one run, each at its position, and starts nothing', async () => {
    const dir = tempDir('check');
    mkdirSync(join(dir, 'ext', 'bad'), { recursive: true });
    mkdirSync(join(dir, 'ext', 'good'), { recursive: true });
    writeFileSync(join(dir, 'ext', 'bad', 'package.json'), BAD_MANIFEST);
    writeFileSync(join(dir, 'ext', 'good', 'package.json'), GOOD_MANIFEST);
    writeFileSync(join(dir, 'ext', 'good', 'index.js'), 'export default { async activate() {} };\n');
    writeFileSync(
      join(dir, 'symphony.yaml'),
      [
        'components:',
        '  bus: { use: builtin:bus }',
        '  orchestra:',
        '    use: builtin:orchestra',
        '    needs: [bus]',
        '    with:',
        '      paths: [./ext]',
        '      grants:',
        '        good: { manifest: sha256:0000000000000000000000000000000000000000000000000000000000000000, provides: [good.ping] }',
        '',
      ].join('\n'),
    );
    const r = await run(['check'], dir);
    expect(r.code).toBe(2);
    const problems = r.stderr.trim().split('\n');
    const at = (prefix: string) => problems.filter((l) => l.startsWith(prefix));
    // The manifest's eight problems, all of them, in the order they are written.
    expect(at('ext/bad/package.json:').map((l) => l.split(': ')[0])).toEqual([
      'ext/bad/package.json:3:14',
      'ext/bad/package.json:4:11',
      'ext/bad/package.json:7:13',
      'ext/bad/package.json:8:18',
      'ext/bad/package.json:9:17',
      'ext/bad/package.json:10:5',
      'ext/bad/package.json:11:29',
      'ext/bad/package.json:12:29',
    ]);
    expect(r.stderr).toContain("ext/bad/package.json:10:5: unknown field 'symphony.activaton' (did you mean 'activation'?)");
    expect(r.stderr).toContain('ext/bad/package.json:7:13: kind must be instrument, operator or motif');
    // The grant pinned to another manifest: at the grant, in the config, with the pin to review.
    expect(at('symphony.yaml:9:').length).toBeGreaterThanOrEqual(1);
    expect(r.stderr).toMatch(/symphony\.yaml:9:\d+: .*good.*manifest/);
    expect(problems.at(-1)).toMatch(/^symphony check: \d+ problems with extensions or their grants$/);
    // Nothing started: no data folder, nothing new beside the config.
    expect(readdirSync(dir).sort()).toEqual(['ext', 'symphony.yaml']);
  });

  it('a clean system checks ok, exit 0', async () => {
    const dir = tempDir('check-ok');
    writeFileSync(join(dir, 'symphony.yaml'), 'components:\n  bus: { use: builtin:bus }\n');
    const r = await run(['check'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('symphony.yaml: ok (1 component)');
  });
});
