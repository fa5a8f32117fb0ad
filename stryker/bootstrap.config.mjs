import { part } from './part.mjs';

export default part('bootstrap', {
  mutate: ['src/bootstrap/**/*.ts', '!src/bootstrap/index.ts'],
  vitestConfig: 'stryker/vitest.bootstrap.config.ts',
  timeoutMS: 3000,
});
