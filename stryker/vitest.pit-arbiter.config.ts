import { partTests } from './vitest.part.js';

// The Arbitration Engine's tests: in-process, over a Bus in the test's own process.
export default partTests(['test/pit/arbiter.test.ts', 'test/pit/arbiter.mutants.test.ts']);
