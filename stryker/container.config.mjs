import { part } from './part.mjs';

export default part('container', {
  mutate: ['src/container/**/*.ts', '!src/container/index.ts'],
  vitestConfig: 'stryker/vitest.container.config.ts',
  timeoutMS: 3000,
});
