/**
 * V8's young generation, pinned for every process whose memory a test bounds. Node 20 sizes each
 * semi-space at most 16 MB; from Node 22 on V8 scales it with the machine's memory (on a 24 GiB
 * machine a flood of short-lived strings grows the nursery by tens of MB more). Pinned, an RSS
 * bound measures what the code holds, not how large V8 lets its nursery grow.
 */
export const NURSERY_FLAG = '--max-semi-space-size=16';
