/**
 * The short form of the cluster chaos run (`npm run soak -- --only cluster-chaos` is the long
 * one): three NATS servers and three nodes under cross-node load, nodes and servers SIGKILLed and
 * restarted; every request answers or fails typed within its deadline, none hangs, and the cluster
 * is whole again after each kill.
 */
import { describe, expect, it } from 'vitest';
import { clusterChaos, describeClusterChaos } from '../reliability/cluster-chaos.js';
import { natsServerBinary } from './harness.js';

const bin = natsServerBinary();

describe.skipIf(!bin)('cluster chaos (short form)', () => {
  it('nodes and NATS servers killed under load: every request ok or typed within its deadline, none hung, all recovered', async () => {
    const r = await clusterChaos({ durationMs: 15_000, seed: Number(process.env.SEED ?? 20261207), pauseMs: [700, 1500] });
    console.log(describeClusterChaos(r));
    expect(r.requests.hung).toBe(0);
    expect(r.requests.untyped).toBe(0);
    expect(r.requests.late).toBe(0);
    expect(r.restored).toBe(true);
    // Not vacuous: the load ran, both kinds of victim died, and some calls failed (typed) because of it.
    expect(r.requests.ok).toBeGreaterThan(300);
    expect(r.kills.some((k) => k.kind === 'node')).toBe(true);
    expect(r.kills.some((k) => k.kind === 'nats')).toBe(true);
    expect(r.requests.typed).toBeGreaterThan(0);
    for (const k of r.kills) expect(k.recoveredMs).not.toBeNull();
    // A failing request settled before its deadline (+ the small margin `late` allows).
    expect(r.worstOverDeadlineMs).toBeLessThanOrEqual(250);
  }, 90_000);
});
