import { partTests } from './vitest.part.js';

// The bus's in-process tests: a Bus in the test's own process, over in-memory pairs, worker-free
// transports and real Unix sockets. Left out: the suites that spawn processes running the built
// dist/ or a kernel of their own (component, modes, peers, budget, log-relay, spawn-emfile,
// wire-regressions; Stryker mutates only this process's code), and the soak and hostile suites.
export default partTests(
  [
    'test/bus/core.test.ts',
    'test/bus/dispose.test.ts',
    'test/bus/encoding.test.ts',
    'test/bus/fastpaths.test.ts',
    'test/bus/framing.test.ts',
    'test/bus/hardening.test.ts',
    'test/bus/hold.test.ts',
    'test/bus/jsonrpc-spec.test.ts',
    'test/bus/jsonscan.test.ts',
    'test/bus/transport.test.ts',
    'test/bus/wire.test.ts',
    'test/bus/**/*.mutants.test.ts',
  ],
  ['is killed, so its exit tells its supervisor', 'is named with the reason (ENOENT)'],
);
