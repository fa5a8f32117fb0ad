import { partTests } from './vitest.part.js';

export default partTests(['test/container.test.ts', 'test/container/**/*.test.ts']);
