import { describe, expect, it } from 'vitest';
import { Bus, ForbiddenError, type BusEvent } from '../../src/bus/index.js';

// The common in-process call (no options) takes a short path; it must refuse exactly as the general
// one does. A denial is proven by the handler that never ran, not only by the error.
describe('the in-process short path', () => {
  for (const [form, call] of [
    ['without options', (ep: ReturnType<Bus['endpoint']>) => ep.request('vault.read')],
    ['with options', (ep: ReturnType<Bus['endpoint']>) => ep.request('vault.read', undefined, { timeout: '1s' })],
  ] as const) {
    it(`${form}: a caller without the right is refused, the handler never runs, and the denial is an event naming it`, async () => {
      await using bus = new Bus();
      let ran = 0;
      bus.handle('vault.read', () => (ran++, 'secret'));
      const events: BusEvent[] = [];
      bus.onEvent((e) => void events.push(e));
      const ep = bus.endpoint('intruder', { provides: [], calls: ['other.*'], publishes: [], subscribes: [] });
      const err = await call(ep).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ForbiddenError);
      expect(ran).toBe(0);
      expect(events).toContainEqual(expect.objectContaining({ type: 'denied', peer: 'intruder', action: 'calls', subject: 'vault.read' }));
      // The same caller with the right is served: the refusal was the right's, not the route's.
      const allowed = bus.endpoint('reader', { provides: [], calls: ['vault.read'], publishes: [], subscribes: [] });
      await expect(call(allowed)).resolves.toBe('secret');
      expect(ran).toBe(1);
    });
  }
});
