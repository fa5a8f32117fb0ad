import { partTests } from './vitest.part.js';

export default partTests(['test/kernel.test.ts', 'test/kernel-supervision.test.ts', 'test/graph.test.ts', 'test/bootstrap/**/*.test.ts']);
