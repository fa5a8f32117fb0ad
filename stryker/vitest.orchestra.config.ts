import { partTests } from './vitest.part.js';

// Only the in-process unit tests of grants.ts and manifest.ts (and the extension name order of
// manifest.ts, names.test.ts): test/orchestra/grants.test.ts and orchestra.test.ts boot whole
// systems and spawn extension processes and the built CLI (dist/, which Stryker does not
// mutate), seconds for every mutant they reach.
export default partTests(['test/orchestra/**/*.mutants.test.ts', 'test/orchestra/names.test.ts']);
