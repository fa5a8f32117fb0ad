import { defineComponent, ISOLATION, overallIsolation, suggest, type ComponentContext, type ComponentDefinition, type IsolationFacts } from '../bootstrap/index.js';
import type { Bus } from '../bus/index.js';
import { probeSandboxAsync } from '../sandbox/index.js';
import { Orchestra, symphonyVersion } from './orchestra.js';
import { planExtensions, type ExtensionPlan } from './plan.js';
import { OrchestraSettingsSchema, type OrchestraSettings } from './settings/index.js';
import { parseSettings } from '../util/settings.js';

/** Starts an Orchestra for `ctx`; `planned` is its plan when it was made ahead. */
async function startOrchestra(ctx: ComponentContext<{ bus: Bus }>, planned?: Promise<ExtensionPlan>): Promise<Orchestra> {
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
  await orchestra.start(planned);
  return orchestra;
}

/**
 * `builtin:orchestra`: loads, isolates and supervises extensions (docs/extensions.md). Needs the
 * bus (a component named `bus`). `with: { paths, watch, restart, backoff, config }`.
 */
export const orchestraComponent = defineComponent({
  start: (ctx: ComponentContext<{ bus: Bus }>): Promise<Orchestra> => startOrchestra(ctx),
  health(orchestra: Orchestra) {
    const status = orchestra.status();
    const down = status.filter((s) => ['failed', 'quarantined', 'rejected', 'crashed', 'skipped'].includes(s.state));
    return down.length
      ? { status: 'degraded', detail: { extensions: status.length, down: down.map((d) => `${d.name}: ${d.state}${d.error ? ` (${d.error})` : ''}`) } }
      : { status: 'healthy', detail: { extensions: status.length } };
  },
  async stop(orchestra: Orchestra) {
    await orchestra.stop();
  },
});

/**
 * `builtin:orchestra` as a system loads it for one component whose settings it knows: what the
 * start needs of no dependency — the plan (discovery, manifests, grants) and, when it has
 * extension folders, the sandbox probe — begins now, while the stages before the Orchestra start.
 * The first start with those very settings takes the plan; any later one (a restart) plans afresh.
 */
export function preparedOrchestra(settings: unknown, baseDir: string): ComponentDefinition<Orchestra, { bus: Bus }> {
  let s: OrchestraSettings;
  try {
    s = parseSettings(OrchestraSettingsSchema, settings, { builtin: 'orchestra', component: 'orchestra' }, suggest);
  } catch {
    return orchestraComponent; // settings its start will refuse, naming the component: nothing to plan ahead
  }
  // The probe (a Node start in the sandbox, the longest of the two) does not wait for the plan to
  // say an extension is isolated: with extension folders to look in, one usually is.
  if (s.paths?.length) void probeSandboxAsync();
  let ahead: Promise<ExtensionPlan> | undefined = planExtensions(s, baseDir, symphonyVersion());
  ahead.catch(() => {}); // the start that takes it reports the failure
  return {
    ...orchestraComponent,
    start(ctx) {
      const planned = ctx.config === settings && ctx.baseDir === baseDir ? ahead : undefined;
      ahead = undefined;
      return startOrchestra(ctx, planned);
    },
  };
}
