/**
 * The bus's latency histogram keeps, besides its totals, the last window of about a second: what
 * the dashboard's live charts plot. Reading it rolls the window; recording never touches it.
 */
import { describe, expect, it, vi } from 'vitest';
import { LatencyHistogram } from '../../src/bus/stats.js';

describe('the recent latency window', () => {
  it('reports the last complete window, not the totals since the start', () => {
    let now = 1000;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const h = new LatencyHistogram();
      for (let i = 0; i < 100; i++) h.record(50); // an old slow period
      expect(h.summary().recent.count).toBe(0); // the first read only marks where the window starts
      now += 1000;
      for (let i = 0; i < 10; i++) h.record(0.2);
      const s = h.summary();
      expect(s.recent.count).toBe(10);
      expect(s.recent.windowMs).toBe(1000);
      expect(s.recent.p50Ms).toBeLessThan(0.25);
      expect(s.recent.p99Ms).toBeLessThan(0.25);
      expect(s.p50Ms).toBeGreaterThan(40); // the totals still weigh the slow period
      // Read again within the second: the same window (many readers see one figure).
      h.record(100);
      expect(h.summary().recent).toEqual(s.recent);
      now += 1500;
      const next = h.summary().recent;
      expect(next.count).toBe(1);
      expect(next.windowMs).toBe(1500);
      expect(next.p99Ms).toBeGreaterThan(90);
      now += 1000;
      expect(h.summary().recent.count).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
