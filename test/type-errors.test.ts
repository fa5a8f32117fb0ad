/**
 * The compile-time checks must read well: each fixture under fixtures/types states the message
 * its error must carry (`// expect-error: …`), and the compiler is run on it for real.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const fixtures = resolve(import.meta.dirname, 'fixtures/types');
const typeTests = resolve(import.meta.dirname, 'types');

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  return { ...parsed.options, noEmit: true, incremental: false };
}

function diagnose(files: string[]): Map<string, string[]> {
  const program = ts.createProgram(files, compilerOptions());
  const out = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const file = d.file?.fileName;
    if (file && out.has(file)) out.get(file)!.push(`TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  }
  return out;
}

describe('compile-time graph errors', () => {
  const files = readdirSync(fixtures).filter((f) => f.endsWith('.ts')).map((f) => join(fixtures, f));
  const results = diagnose(files);

  for (const file of files) {
    const expected = /\/\/ expect-error: (.*)/.exec(readFileSync(file, 'utf8'))?.[1];
    it(`${file.split('/').at(-1)}: ${expected ?? 'compiles cleanly'}`, () => {
      const errors = results.get(file)!;
      if (expected === undefined) expect(errors).toEqual([]);
      else {
        expect(errors).toHaveLength(1);
        expect(errors[0]).toContain(expected);
      }
    });
  }

  // `@ts-expect-error` passes for any error: each directive in the type tests says the message it
  // expects, and the file is compiled here without the directives to check that message is the one.
  for (const file of readdirSync(typeTests).filter((f) => f.endsWith('.test-d.ts'))) {
    it(`${file}: every @ts-expect-error fails with the message it names`, () => {
      const text = readFileSync(join(typeTests, file), 'utf8');
      const expected = new Map<number, string>();
      text.split('\n').forEach((line, i) => {
        const m = /\/\/ @ts-expect-error: (.*)$/.exec(line);
        if (m) expected.set(i + 2, m[1]!.trim()); // the directive covers the next line (1-based)
      });
      expect(expected.size).toBeGreaterThan(0);
      const dir = mkdtempSync(join(typeTests, '.probe-'));
      try {
        const probe = join(dir, file.replace('.test-d.ts', '.ts'));
        writeFileSync(probe, text.replaceAll('// @ts-expect-error:', '// expected:').replaceAll("'../../src/", "'../../../src/"));
        const program = ts.createProgram([probe], compilerOptions());
        const byLine = new Map<number, string[]>();
        for (const d of ts.getPreEmitDiagnostics(program)) {
          if (d.file?.fileName !== probe || d.start === undefined) continue;
          const line = d.file.getLineAndCharacterOfPosition(d.start).line + 1;
          byLine.set(line, [...(byLine.get(line) ?? []), ts.flattenDiagnosticMessageText(d.messageText, ' ')]);
        }
        for (const [line, message] of expected) {
          const got = byLine.get(line) ?? [];
          expect(got, `line ${line} should fail with: ${message}`).toHaveLength(1);
          expect(got[0], `line ${line}`).toContain(message);
        }
        const stray = [...byLine.keys()].filter((l) => !expected.has(l));
        expect(stray, 'errors on lines without a directive').toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }

  it('type-checks a 200-component builder chain without TS2589', () => {
    const dir = mkdtempSync(join(tmpdir(), 'symphony-chain-'));
    const lines = [
      `import { defineComponent, kernel, type ComponentContext } from ${JSON.stringify(join(root, 'src/index.js'))};`,
      `interface Svc { n: number }`,
      `const first = defineComponent({ async start(): Promise<Svc> { return { n: 0 }; } });`,
    ];
    for (let i = 1; i < 200; i++) {
      lines.push(`const d${i} = defineComponent({ async start(ctx: ComponentContext<{ c${i - 1}: Svc }>): Promise<Svc> { return { n: ctx.deps.c${i - 1}.n + 1 }; } });`);
    }
    let chain = `export const k = kernel().add('c0', first)`;
    for (let i = 1; i < 200; i++) chain += `\n  .add('c${i}', d${i}, { needs: ['c${i - 1}'] })`;
    lines.push(`${chain}\n  .build();`, `const last: Svc = k.get('c199'); void last;`);
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    const file = join(dir, 'chain.ts');
    writeFileSync(file, lines.join('\n'));
    const t0 = performance.now();
    const errors = diagnose([file]).get(file)!;
    const ms = performance.now() - t0;
    expect(errors).toEqual([]);
    console.log(`200-component builder chain type-checked in ${ms.toFixed(0)}ms (whole program, including lib loading)`);
  }, 120_000);
});
