// A vitest config for one part's mutation run: that part's test files only, no type tests.
import { defineConfig } from 'vitest/config';

export function partTests(include: string[]) {
  return defineConfig({
    test: {
      include,
      testTimeout: 20_000,
      hookTimeout: 20_000,
      typecheck: { enabled: false },
    },
  });
}
