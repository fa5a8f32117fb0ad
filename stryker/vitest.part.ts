// A vitest config for one part's mutation run: that part's test files only, no type tests.
import { defineConfig, type Plugin } from 'vitest/config';

/**
 * Skips named tests in a mutation run (Stryker's runner replaces any testNamePattern, so this is
 * done on the test's source): tests that spawn processes running the built dist/ (which Stryker
 * does not mutate) or that take most of a minute, for which every mutant they reach would pay.
 */
function skipInMutationRuns(titles: string[]): Plugin {
  return {
    name: 'skip-in-mutation-runs',
    enforce: 'pre',
    transform(code, id) {
      if (!id.includes('/test/')) return undefined;
      let out = code;
      for (const t of titles) out = out.replace(`it('${t}`, `it.skip('${t}`);
      return out === code ? undefined : { code: out, map: null };
    },
  };
}

export function partTests(include: string[], skip: string[] = []) {
  return defineConfig({
    plugins: skip.length ? [skipInMutationRuns(skip)] : [],
    test: {
      include,
      testTimeout: 20_000,
      hookTimeout: 20_000,
      typecheck: { enabled: false },
    },
  });
}
