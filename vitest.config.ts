import { defineConfig } from 'vitest/config';
import { NURSERY_FLAG } from './test/nursery.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Two cores on CI: run files in parallel, but not more than the machine has.
    maxWorkers: 2,
    // Tests that bound their own process's RSS (the Pit's 200 MB stream) measure the same on every Node.
    execArgv: [NURSERY_FLAG],
    typecheck: {
      enabled: true,
      include: ['test/types/**/*.test-d.ts'],
      tsconfig: './tsconfig.json',
    },
  },
});
