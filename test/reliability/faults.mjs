// Seeded fault injection for boot soaks (plain JS so a config file can use it in a `symphony up`
// process too): wraps component definitions so that a start sometimes fails transiently (never on
// the last attempt its retries allow, so retries recover), sometimes takes part of its remaining
// deadline first, and a readiness probe sometimes flaps once (below the threshold). Counted.

export { mulberry32 as rng } from '../random.mjs';

export class FaultInjector {
  constructor(random, rates, attempts, slowFraction = 0.5) {
    this.random = random;
    this.rates = rates;
    this.attempts = attempts;
    this.slowFraction = slowFraction;
    this.counts = { transient: 0, slow: 0, flap: 0 };
  }

  wrap(name, def) {
    const self = this;
    let flapped = false;
    return {
      async start(ctx) {
        if (ctx.attempt < self.attempts && self.random() < self.rates.transient) {
          self.counts.transient++;
          throw new Error(`injected transient failure of '${name}' (attempt ${ctx.attempt})`);
        }
        if (self.random() < self.rates.slow) {
          self.counts.slow++;
          await new Promise((r) => setTimeout(r, ctx.remainingMs() * self.slowFraction * self.random()));
        }
        flapped = false;
        return def.start(ctx);
      },
      stop: def.stop ? (instance, ctx) => def.stop(instance, ctx) : undefined,
      async health(instance) {
        if (!flapped && self.random() < self.rates.flap) {
          flapped = true;
          self.counts.flap++;
          return { status: 'unhealthy', detail: `injected flap of '${name}'` };
        }
        return def.health ? def.health(instance) : true;
      },
    };
  }
}
