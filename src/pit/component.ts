import { resolve } from 'node:path';
import { defineComponent, suggest, type ComponentContext } from '../bootstrap/index.js';
import type { Bus } from '../bus/index.js';
import { ArbitrationEngine } from './arbiter.js';
import { ArtifactStore } from './artifacts/index.js';
import { DagTracker } from './dag/index.js';
import { Pit } from './pit.js';
import { PoolManager } from './pool/index.js';
import { PitSettingsSchema } from './settings/index.js';
import { parseSettings } from '../util/settings.js';
import { StaleManager } from './stale.js';

/**
 * The Pit's services, in the order they are listed (they start concurrently). The one list: the
 * component starts these, and the callers' type map (PitMethods) is inferred from it.
 */
export function pitServices() {
  const artifacts = new ArtifactStore();
  return [new PoolManager(), new DagTracker(), artifacts, new ArbitrationEngine(), new StaleManager(() => artifacts)] as const;
}

/**
 * `builtin:pit`: the five infrastructure extensions, started concurrently, their methods on the bus.
 * Needs the bus (`needs: [bus]`); `late: [conductor]` lets it report its events to the Conductor.
 * `with: { dataDir (default .symphony/pit, relative to the config file), pool, dag, artifacts, arbiter, stale }`.
 */
export const pitComponent = defineComponent({
  async start(ctx: ComponentContext<{ bus: Bus }, { conductor: unknown }>): Promise<Pit> {
    const bus = ctx.deps.bus;
    if (!bus || typeof bus.handle !== 'function') throw new TypeError("builtin:pit needs the bus: add needs: [bus] (a component named 'bus' using builtin:bus)");
    const settings = parseSettings(PitSettingsSchema, ctx.config, { builtin: 'pit', component: ctx.name }, suggest);
    settings.dataDir = resolve(ctx.baseDir, settings.dataDir ?? '.symphony/pit');
    const pit = new Pit(bus, pitServices(), settings, ctx.log);
    await pit.start((name) => ctx.part(name));
    const late = ctx.late as { conductor?: import('../bootstrap/index.js').LateHandle<unknown> };
    if (late.conductor) pit.bindConductor(late.conductor);
    return pit;
  },
  health(pit) {
    return pit.health();
  },
  async stop(pit) {
    await pit[Symbol.asyncDispose]();
  },
});
