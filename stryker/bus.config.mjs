import { part } from './part.mjs';

// The critical paths first (rights and tokens, the handshake, heartbeats, frame limits and the
// session): the whole bus is several thousand mutants, hours on a shared 2-core machine. Add
// files here as time allows; the incremental report keeps what was measured. Concurrency 1: the
// machine is shared, and the bus's tests time heartbeats and deadlines.
export default part('bus', {
  mutate: [
    'src/bus/rights.ts',
    'src/bus/tokens.ts',
    'src/bus/handshake.ts',
    'src/bus/heartbeat.ts',
    'src/bus/frame-decoder.ts',
    'src/bus/frame-text.ts',
    'src/bus/lsp-headers.ts',
    'src/bus/decoded.ts',
    'src/bus/envelopes.ts',
  ],
  vitestConfig: 'stryker/vitest.bus.config.ts',
  concurrency: 1,
  timeoutMS: 5000,
});
