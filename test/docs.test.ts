/**
 * The docs stay true: every link in README.md and docs/ leads to a file that exists, and every
 * code block that is a config, a melody, a manifest or Python is checked by the code that reads
 * it (the schema, the melody checker, the manifest validator, the Python compiler).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadSystemText } from '../src/system/index.js';
import { checkMelody } from '../src/conductor/melody.js';
import { readManifest } from '../src/orchestra/manifest.js';
import { blocks as blocksOf, type Block } from './doc-blocks.js';

const root = resolve(import.meta.dirname, '..');
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

const blocks = (page: string): Block[] => blocksOf(root, page);

const all = pages.flatMap(blocks);

describe('the docs', () => {
  it('link only to files that exist', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(root, page), 'utf8');
      for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue; // a URL
        if (!existsSync(resolve(root, dirname(page), target))) broken.push(`${page}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('are found from a short README: it links every page of docs/, and stays a page, not a manual', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const unlinked = pages.filter((p) => p.startsWith('docs/') && !readme.includes(`](${p})`));
    expect(unlinked).toEqual([]);
    expect(Buffer.byteLength(readme)).toBeLessThan(10 * 1024);
  });

  it("architecture.md's layout is the tree: every folder of src/ listed, every entry there", () => {
    const text = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
    const layout = /## Layout\n+```\n([\s\S]*?)```/.exec(text)?.[1];
    expect(layout, 'a ``` block under ## Layout').toBeDefined();
    const entries = layout!.split('\n').map((l) => /^(\S+?)\/?\s{2,}/.exec(l)?.[1]).filter((e): e is string => !!e);
    const listed = entries.filter((e) => e.startsWith('src/')).map((e) => e.slice(4)).sort();
    const folders = readdirSync(join(root, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(listed).toEqual(folders);
    for (const e of entries) expect(existsSync(join(root, e)), e).toBe(true);
  });

  it('have code blocks to check', () => {
    expect(all.filter((b) => ['yaml', 'json', 'python'].includes(b.lang)).length).toBeGreaterThanOrEqual(4);
  });

  for (const b of all.filter((x) => x.lang === 'yaml')) {
    it(`${b.page}:${b.line}: the YAML block is what its reader accepts`, async () => {
      const value = parse(b.text) as Record<string, unknown>;
      if (value && typeof value === 'object' && 'components' in value) {
        // A system: schema, graph and modules. The modules it names are examples: each is made as a
        // no-op component in a folder of its own, so the check covers every `use:` too.
        const dir = mkdtempSync(join(tmpdir(), 'symphony-docs-'));
        try {
          const noop = 'export default { async start() { return {}; } };\nexport const server = { async start() { return {}; } };\n';
          for (const c of Object.values(value.components as Record<string, { use?: string }>)) {
            const use = c?.use?.split('#')[0];
            if (!use || use.startsWith('builtin:')) continue;
            if (use.startsWith('.')) writeFileSync(join(dir, use), noop);
            else {
              mkdirSync(join(dir, 'node_modules', use), { recursive: true });
              writeFileSync(join(dir, 'node_modules', use, 'package.json'), JSON.stringify({ name: use, type: 'module', main: 'index.js' }));
              writeFileSync(join(dir, 'node_modules', use, 'index.js'), noop);
            }
          }
          await expect(loadSystemText(join(dir, 'system.yaml'), b.text, { checkModules: true })).resolves.toBeDefined();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      } else if (value && typeof value === 'object' && 'steps' in value) {
        expect(() => checkMelody(value)).not.toThrow();
      } else if (value && typeof value === 'object' && 'readinessProbe' in value) {
        // A Kubernetes container's probes: each must name an endpoint the health server serves.
        for (const probe of ['readinessProbe', 'livenessProbe'] as const) {
          const path = (value[probe] as { httpGet?: { path?: string } } | undefined)?.httpGet?.path;
          expect(['/livez', '/readyz'], `${b.page}:${b.line}: ${probe}`).toContain(path);
        }
      } else {
        expect.fail(`${b.page}:${b.line}: a YAML block that is neither a system nor a melody: say which it is`);
      }
    });
  }

  for (const b of all.filter((x) => x.lang === 'json' && /"symphony"\s*:/.test(x.text))) {
    it(`${b.page}:${b.line}: the manifest is valid`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'symphony-docs-'));
      try {
        writeFileSync(join(dir, 'package.json'), b.text);
        const main = (JSON.parse(b.text) as { main?: string }).main ?? 'index.js';
        writeFileSync(join(dir, main), 'export default { async activate() {} };\n');
        const { problems } = await readManifest(dir);
        expect(problems).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  for (const b of all.filter((x) => x.lang === 'python')) {
    it(`${b.page}:${b.line}: the Python block compiles`, () => {
      const r = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: b.text, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    });
  }
});
