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
    // The frame limits: an oversize NDJSON line, LSP's header block and declared length, the
    // nesting bound; and the checks of an answer. The rest of the decoder (its buffers and fast
    // paths), of the session, requests.ts and decoded.ts are next: each mutant there is reached
    // by every socket test, about 5 s a mutant on this machine.
    'src/bus/frame-decoder.ts:118-170',
    'src/bus/frame-decoder.ts:196-200',
    'src/bus/frame-decoder.ts:247-312',
    'src/bus/frame-text.ts:13-18',
    'src/bus/lsp-headers.ts',
    'src/bus/envelopes.ts:75-84',
    // The session: a request's deadline and cancellation, close, the bad-frame and batch bounds.
    'src/bus/session.ts:94-147',
    'src/bus/session.ts:196-246',
    'src/bus/session.ts:257-262',
    'src/bus/session.ts:316-330',
  ],
  vitestConfig: 'stryker/vitest.bus.config.ts',
  concurrency: 1,
  timeoutMS: 5000,
});
