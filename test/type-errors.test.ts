/**
 * The compile-time checks must read well: each fixture under fixtures/types states the message
 * its error must carry (`// expect-error: …`), and the compiler is run on it for real.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const fixtures = resolve(import.meta.dirname, 'fixtures/types');

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
