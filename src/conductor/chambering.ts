import type { Logger } from '../bootstrap/index.js';
import { BusError, ErrorCode, type Bus } from '../bus/index.js';
import type { Melody } from './melody.js';
import { request } from './methods.js';
import type { Chambering } from './result.js';

/** Every method a melody may call: its steps' calls (each alternative), fallbacks and compensations. */
function methodsOf(melody: Melody): Set<string> {
  const methods = new Set<string>();
  for (const step of Object.values(melody.steps)) {
    for (const m of typeof step.call === 'string' ? [step.call] : step.call) methods.add(m);
    if (step.fallback) methods.add(step.fallback.call);
    if (step.compensate) methods.add(step.compensate.call);
  }
  return methods;
}

/**
 * Registration and activation: the providers of every method the melody calls, from the
 * extensions' manifests (the Orchestra), and the start of those not running yet (activation on
 * call), before the first step.
 */
export async function chamber(bus: Bus, melody: Melody, log: Logger): Promise<Chambering> {
  const chambering: Chambering = { registration: [], activated: [], reclaimed: null };
  const methods = methodsOf(melody);
  if (!bus.serves('orchestra.providers')) return chambering;
  let providers;
  try {
    providers = await request(bus, 'orchestra.providers', { methods: [...methods] });
  } catch (err) {
    // On a node of a cluster every method seems served (the cluster may have it): nobody did.
    if (err instanceof BusError && err.code === ErrorCode.MethodNotFound) return chambering;
    throw err;
  }
  const inactive = new Set<string>();
  for (const [method, p] of Object.entries(providers)) {
    chambering.registration.push({ method, provider: p ? `${p.extension}@${p.version} (${p.execution})` : 'a component (not an extension)' });
    if (p && p.state === 'inactive') inactive.add(p.extension);
  }
  await Promise.all([...inactive].map((extension) => activate(bus, extension, chambering, log)));
  return chambering;
}

/** Starts one onCall extension before the run; a failure is noted, not thrown. */
async function activate(bus: Bus, extension: string, chambering: Chambering, log: Logger): Promise<void> {
  const t = performance.now();
  const ms = () => Math.round((performance.now() - t) * 1000) / 1000;
  try {
    await request(bus, 'orchestra.activate', { extension }, { timeout: 60_000 });
    chambering.activated.push({ extension, ms: ms() });
  } catch (err) {
    // Not the run's end: a step calling it fails when it runs, and its retry, onFailure or
    // optional say what that means.
    chambering.activated.push({ extension, ms: ms(), error: (err as Error).message });
    log.warn(`activating '${extension}' failed: ${(err as Error).message}`);
  }
}
