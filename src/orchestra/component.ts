import { defineComponent, ISOLATION, overallIsolation, suggest, type ComponentContext, type IsolationFacts } from '../bootstrap/index.js';
import type { Bus } from '../bus/index.js';
import { Orchestra } from './orchestra.js';
import { OrchestraSettingsSchema } from './settings/index.js';
import { parseSettings } from '../util/settings.js';

/**
 * `builtin:orchestra`: loads, isolates and supervises extensions (docs/extensions.md). Needs the
 * bus (a component named `bus`). `with: { paths, watch, restart, backoff, config }`.
 */
export const orchestraComponent = defineComponent({
  async start(ctx: ComponentContext<{ bus: Bus }>): Promise<Orchestra> {
    const bus = ctx.deps.bus;
    if (!bus || typeof bus.spawnPeer !== 'function') throw new TypeError("builtin:orchestra needs the bus: add needs: [bus] (a component named 'bus' using builtin:bus)");
    const settings = parseSettings(OrchestraSettingsSchema, ctx.config, { builtin: 'orchestra', component: ctx.name }, suggest);
    const orchestra = new Orchestra(bus, settings, ctx.log, ctx.baseDir);
    // How its extensions run, for the boot report and /status: each one's level, and the worst.
    Object.defineProperty(orchestra, ISOLATION, {
      value: (): IsolationFacts => {
        const parts = Object.fromEntries(orchestra.status().filter((s) => s.state !== 'rejected').map((s) => [s.name, s.isolation]));
        return { level: overallIsolation(Object.values(parts)), parts };
      },
    });
    await orchestra.start();
    return orchestra;
  },
  health(orchestra) {
    const status = orchestra.status();
    const down = status.filter((s) => ['failed', 'quarantined', 'rejected', 'crashed', 'skipped'].includes(s.state));
    return down.length
      ? { status: 'degraded', detail: { extensions: status.length, down: down.map((d) => `${d.name}: ${d.state}${d.error ? ` (${d.error})` : ''}`) } }
      : { status: 'healthy', detail: { extensions: status.length } };
  },
  async stop(orchestra) {
    await orchestra.stop();
  },
});
