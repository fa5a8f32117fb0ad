/**
 * The layering of src/ (.dependency-cruiser.cjs holds the rules and the picture): dependency-cruiser
 * run over the sources, its violations compared with the few known ones below. And the check
 * itself is checked: an upward import in a scratch tree must fail it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const config = join(root, '.dependency-cruiser.cjs');
const depcruise = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

/**
 * Imports that break a rule today, each in a file another engineer is changing in this round:
 * the owner removes the entry with the import. A violation not listed fails the test, and so does
 * an entry that no longer happens (the list only shrinks).
 */
const KNOWN: readonly string[] = [
];

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function violations(cwd: string, args: string[]): string[] {
  const r = spawnSync(process.execPath, [depcruise, ...args, '--config', config, '--output-type', 'json'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (!r.stdout) throw new Error(`dependency-cruiser failed (exit ${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  expect(out.summary.totalCruised).toBeGreaterThan(0);
  return out.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
}

describe('layering', () => {
  it('src/ keeps its layers: no violation beyond the known ones, and every known one still happens', () => {
    expect(violations(root, ['src'])).toEqual([...KNOWN].sort());
  }, 60_000);

  it('an upward import fails the check (the kernel importing the CLI; the config importing the bus it configures; a part reaching past a face)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-layers-'));
    const file = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };
    file('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowImportingTsExtensions: true, noEmit: true } }));
    file('src/cli/index.ts', 'export const cli = 1;\n');
    file('src/bus/index.ts', "export { router } from './router.ts';\n");
    file('src/bus/router.ts', 'export const router = 1;\n');
    file('src/bootstrap/index.ts', "import { cli } from '../cli/index.ts';\nexport const k = cli;\n");
    file('src/config/index.ts', "import { router } from '../bus/router.ts';\nexport const c = router;\n");
    const found = violations(dir, ['src']);
    expect(found).toContain('bootstrap-only-container: src/bootstrap/index.ts -> src/cli/index.ts');
    expect(found).toContain('nothing-imports-cli: src/bootstrap/index.ts -> src/cli/index.ts');
    expect(found).toContain('config-not-what-it-configures: src/config/index.ts -> src/bus/router.ts');
    expect(found).toContain('parts-meet-at-faces: src/config/index.ts -> src/bus/router.ts');
  }, 60_000);
});
